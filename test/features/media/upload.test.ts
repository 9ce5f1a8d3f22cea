import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { LIMITS } from "../../../src/config/limits";
import { MEDIA_KEY_PREFIX, uploadMedia } from "../../../src/features/media/service";
import { stripImage } from "../../../src/lib/image";
import { call, problemOf } from "../../helpers";
import {
  cat,
  chunk,
  contains,
  GIF_IMAGE,
  GIF_SECRETS,
  gifWithMetadata,
  ihdr,
  JPEG_SECRETS,
  jpeg,
  jpegScan,
  jpegSegments,
  jpegWithMetadata,
  PNG_SECRETS,
  PNG_SIG,
  pngChunks,
  pngIdat,
  pngWithMetadata,
  readTiff,
  repeat,
  riffChunks,
  text,
  WEBP_SECRETS,
  webpWithMetadata,
} from "../../lib/image/fixtures";
import { codeOf } from "../../support/db";
import { bearer } from "../auth/helpers";
import {
  bytesOf,
  fetchSigned,
  mediaRow,
  mediaRowsOf,
  sha256,
  type Uploaded,
  upload,
  uploadRequest,
  userWithToken,
} from "./helpers";

describe("POST /api/v1/media: upload and lossless stripping", () => {
  it("a phone JPEG loses GPS, serials, XMP, IPTC, comments, thumbnails and trailer; scan and orientation survive", async () => {
    const user = await userWithToken();
    const input = jpegWithMetadata("II", 6);
    const res = await uploadRequest(user.token, input, { filename: "IMG_0001.jpg" });
    expect(res.status).toBe(201);
    const body = (await res.json()) as Uploaded;
    expect(body).toMatchObject({
      contentType: "image/jpeg",
      width: 64,
      height: 32,
      purpose: "post",
      visibility: "private",
    });

    // What is stored: the D1 row and the R2 object agree, and hold the stripped bytes.
    const row = (await mediaRow(body.id))!;
    expect(row).toMatchObject({ owner_id: user.id, purpose: "post", visibility: "private", width: 64, height: 32 });
    const object = (await env.MEDIA.get(row.r2_key))!;
    expect(object.httpMetadata?.contentType).toBe("image/jpeg");
    const stored = new Uint8Array(await object.arrayBuffer());
    expect(stored.length).toBe(row.bytes);
    expect(body.bytes).toBe(row.bytes);
    expect(row.sha256).toBe(await sha256(stored));

    // What is served: the same bytes.
    const served = await bytesOf(await fetchSigned(body.url));
    expect(served).toEqual(stored);
    // The service strips in place; the result must be the same as the copying reference.
    const reference = stripImage(jpegWithMetadata("II", 6), {
      maxPixels: LIMITS.mediaMaxPixels,
      maxBlocks: LIMITS.mediaMaxBlocks,
    });
    expect(reference.ok && reference.image.bytes).toEqual(served);
    for (const secret of JPEG_SECRETS) expect(contains(served, secret), secret).toBe(false);
    expect(jpegScan(served)).toEqual(jpegScan(input));
    const exif = jpegSegments(served).segments.find((s) => s.marker === 0xe1)!;
    expect(readTiff(exif.payload.subarray(6))).toEqual({ tags: [0x0112], orientation: 6, nextIfd: 0 });
  });

  it("the R2 key is random (128 bits) and unrelated to the id", async () => {
    const user = await userWithToken();
    const a = await upload(user.token, jpeg());
    const b = await upload(user.token, jpeg());
    const keys = [(await mediaRow(a.id))!.r2_key, (await mediaRow(b.id))!.r2_key];
    for (const key of keys) expect(key).toMatch(/^media\/[A-Za-z0-9_-]{22}$/);
    expect(keys[0]).not.toBe(keys[1]);
    expect(keys[0]).not.toContain(a.id);
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("a PNG sent as a raw body is stripped, keeps its IDAT and orientation, and every CRC is valid", async () => {
    const user = await userWithToken();
    const input = pngWithMetadata("MM", 8);
    const body = await upload(user.token, input, {
      raw: true,
      contentType: "image/png",
      purpose: "avatar",
      visibility: "public",
    });
    expect(body).toMatchObject({
      contentType: "image/png",
      width: 4,
      height: 3,
      purpose: "avatar",
      visibility: "public",
    });
    const served = await bytesOf(await fetchSigned(body.url));
    for (const secret of PNG_SECRETS) expect(contains(served, secret), secret).toBe(false);
    const chunks = pngChunks(served);
    expect(chunks.every((c) => c.crcOk)).toBe(true);
    const idat = (cs: ReturnType<typeof pngChunks>) => cat(...cs.filter((c) => c.type === "IDAT").map((c) => c.whole));
    expect(idat(chunks)).toEqual(idat(pngChunks(input)));
    expect(readTiff(chunks.find((c) => c.type === "eXIf")!.data).orientation).toBe(8);
    expect(chunks.some((c) => c.type === "iCCP")).toBe(true);
  });

  it("a WebP loses EXIF metadata and XMP; the VP8L data, ICC profile and orientation survive", async () => {
    const user = await userWithToken();
    const input = webpWithMetadata(3);
    const body = await upload(user.token, input, { filename: "x.webp", contentType: "image/webp" });
    expect(body).toMatchObject({ contentType: "image/webp", width: 5, height: 3 });
    const served = await bytesOf(await fetchSigned(body.url));
    for (const secret of WEBP_SECRETS) expect(contains(served, secret), secret).toBe(false);
    const vp8l = (b: Uint8Array) => riffChunks(b).find((c) => c.fourcc === "VP8L")!.whole;
    expect(vp8l(served)).toEqual(vp8l(input));
    expect(readTiff(riffChunks(served).find((c) => c.fourcc === "EXIF")!.data).orientation).toBe(3);
  });

  it("a GIF loses its comment and XMP extensions", async () => {
    const user = await userWithToken();
    const body = await upload(user.token, gifWithMetadata(), { raw: true, contentType: "image/gif" });
    expect(body).toMatchObject({ contentType: "image/gif", width: 2, height: 2 });
    const served = await bytesOf(await fetchSigned(body.url));
    for (const secret of GIF_SECRETS) expect(contains(served, secret), secret).toBe(false);
  });

  it("the type comes from the bytes: a JPEG named evil.html and declared text/html is stored as image/jpeg", async () => {
    const user = await userWithToken();
    const body = await upload(user.token, jpeg(), { filename: "evil.html", contentType: "text/html" });
    expect(body.contentType).toBe("image/jpeg");
    expect((await mediaRow(body.id))!.content_type).toBe("image/jpeg");
  });

  it("requires a signed-in user (401) and stores nothing", async () => {
    const res = await uploadRequest(null, jpeg());
    expect(res.status).toBe(401);
    expect(codeOf(await problemOf(res))).toBe("unauthorized");
  });

  it("an upload that finishes after its owner's erasure ran is refused, and its bytes leave R2", async () => {
    const owner = await userWithToken();
    // The erasure committed while the body was still streaming: the owner is a pseudonym now.
    await env.DB.prepare("UPDATE users SET erased_at = ? WHERE id = ?").bind(Date.now(), owner.id).run();
    const before = (await env.MEDIA.list({ prefix: MEDIA_KEY_PREFIX })).objects.length;
    const deps = { db: env.DB, bucket: env.MEDIA, config: getConfig(env), origin: "https://gatehouse.test" };
    await expect(
      uploadMedia(deps, { id: owner.id, roles: ["attendee"] }, jpeg(), { purpose: "post", visibility: "private" }),
    ).rejects.toMatchObject({ code: "unauthorized" });
    expect(await mediaRowsOf(owner.id)).toEqual([]);
    expect((await env.MEDIA.list({ prefix: MEDIA_KEY_PREFIX })).objects.length).toBe(before);
  });
});

describe("POST /api/v1/media: refusals", () => {
  async function refused(res: Response, status: number, code: string, ownerId: string) {
    expect(res.status).toBe(status);
    expect(codeOf(await problemOf(res))).toBe(code);
    expect(await mediaRowsOf(ownerId)).toEqual([]);
  }

  it.each([
    ["SVG", text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')],
    ["HTML", text("<!doctype html><script>alert(document.cookie)</script>")],
    ["PDF", text("%PDF-1.7\n%âãÏÓ\n1 0 obj<<>>endobj\n%%EOF")],
    ["GIF/JS polyglot", text("GIF89a/*\x00\x00*/=alert(document.domain)//")],
    ["JPEG magic + HTML", cat([0xff, 0xd8, 0xff, 0xe0], text("<html><script>alert(1)</script>"))],
    ["garbage", crypto.getRandomValues(new Uint8Array(512)).map((b, i) => (i === 0 ? 0 : b))],
  ])("%s is refused with 415 unsupported-media-type and nothing is stored", async (_name, bytes) => {
    const user = await userWithToken();
    await refused(
      await uploadRequest(user.token, bytes, { contentType: "image/png" }),
      415,
      "unsupported-media-type",
      user.id,
    );
  });

  it.each([
    ["JPEG", jpegWithMetadata()],
    ["PNG", pngWithMetadata()],
    ["WebP", webpWithMetadata()],
  ])("a truncated %s is refused with 415 and nothing is stored", async (_name, full) => {
    const user = await userWithToken();
    const cut = full.subarray(0, Math.floor(full.length * 0.6));
    const res = await uploadRequest(user.token, cut, { raw: true });
    expect((await problemOf(res.clone())).reason).toBe("truncated");
    await refused(res, 415, "unsupported-media-type", user.id);
  });

  it("more than 40 megapixels in the header is refused with 422 too-many-pixels; exactly 40 is accepted", async () => {
    const user = await userWithToken();
    const png = (w: number, h: number) => cat(PNG_SIG, ihdr(w, h), ...pngIdat(1, 1), chunk("IEND", []));
    await refused(await uploadRequest(user.token, png(8001, 5000), { raw: true }), 422, "too-many-pixels", user.id);
    const res = await uploadRequest(user.token, png(8000, 5000), { raw: true });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ width: 8000, height: 5000 });
  });

  it("a 10 MB GIF of 3-byte extension blocks (a block flood) is refused with 422 too-many-segments; nothing reaches R2 or D1", async () => {
    const user = await userWithToken();
    const keysBefore = (await env.MEDIA.list({ prefix: "media/" })).objects.map((o) => o.key);
    const head = cat(text("GIF89a"), [2, 0, 2, 0, 0, 0, 0]);
    // 3.5 million graphic control extensions with no data (21 F9 00), then one real frame.
    const blocks = Math.floor((LIMITS.mediaUploadBytes - head.length - GIF_IMAGE.length - 1) / 3);
    const flood = cat(head, repeat([0x21, 0xf9, 0], blocks), GIF_IMAGE, [0x3b]);
    expect(blocks).toBeGreaterThan(3_400_000);
    expect(flood.length).toBeLessThanOrEqual(LIMITS.mediaUploadBytes); // within the size limit: not a 413

    const res = await uploadRequest(user.token, flood, { raw: true, contentType: "image/gif" });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(codeOf(problem)).toBe("too-many-segments");
    expect(problem).toMatchObject({ maxSegments: LIMITS.mediaMaxBlocks.gif });
    expect(await mediaRowsOf(user.id)).toEqual([]);
    expect((await env.MEDIA.list({ prefix: "media/" })).objects.map((o) => o.key)).toEqual(keysBefore);
  });

  it("a GIF with exactly the cap of blocks is stored, without the blocks that carry nothing", async () => {
    const user = await userWithToken();
    const head = cat(text("GIF89a"), [2, 0, 2, 0, 0, 0, 0]);
    const atCap = cat(head, repeat([0x21, 0xf9, 0], LIMITS.mediaMaxBlocks.gif - 2), GIF_IMAGE, [0x3b]);
    const body = await upload(user.token, atCap, { raw: true, contentType: "image/gif" });
    const row = (await mediaRow(body.id))!;
    const stored = new Uint8Array(await (await env.MEDIA.get(row.r2_key))!.arrayBuffer());
    expect(stored).toEqual(cat(head, GIF_IMAGE, [0x3b]));
    expect(row.bytes).toBe(stored.length);
  });

  it("a body declaring more than the limit is refused with 413 before it is read", async () => {
    const user = await userWithToken();
    const big = new Uint8Array(LIMITS.mediaUploadBytes + LIMITS.mediaMultipartOverheadBytes + 1);
    big.set(jpeg());
    await refused(await uploadRequest(user.token, big, { raw: true }), 413, "payload-too-large", user.id);
  });

  it("a streamed body without Content-Length is cut off at the limit (413), not read to its end", async () => {
    const user = await userWithToken();
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
    });
    const res = await createApp().request(
      "/api/v1/media",
      {
        method: "POST",
        headers: { ...bearer(user.token), "Content-Type": "image/jpeg" },
        body: endless,
        duplex: "half",
      } as RequestInit,
      env,
    );
    await refused(res, 413, "payload-too-large", user.id);
    expect(pulled).toBeLessThan(LIMITS.mediaUploadCeilingBytes + LIMITS.mediaMultipartOverheadBytes + 256 * 1024);
  });

  it("MEDIA_MAX_UPLOAD_BYTES is enforced to the byte (configurable limit, multipart file)", async () => {
    const user = await userWithToken();
    const limit = 4096;
    const app = createApp();
    const vars = { ...env, MEDIA_MAX_UPLOAD_BYTES: String(limit) };
    const send = (size: number) => {
      // A valid JPEG padded with trailing bytes (dropped by stripping) to exactly `size`.
      const file = new Uint8Array(size);
      file.set(jpeg());
      const form = new FormData();
      form.append("file", new File([file], "a.jpg"));
      return app.request("/api/v1/media", { method: "POST", headers: bearer(user.token), body: form }, vars);
    };
    expect((await send(limit)).status).toBe(201);
    await (async () => {
      const res = await send(limit + 1);
      expect(res.status).toBe(413);
      expect(await problemOf(res)).toMatchObject({ limitBytes: limit });
    })();
    expect(await mediaRowsOf(user.id)).toHaveLength(1);
  });

  it.each([
    [{ purpose: "document", visibility: "public" }, "visibility"],
    [{ purpose: "selfie" }, "purpose"],
    [{ visibility: "everyone" }, "visibility"],
  ])("options %o are refused with 400 validation-failed naming %s", async (options, field) => {
    const user = await userWithToken();
    for (const raw of [false, true]) {
      const res = await uploadRequest(user.token, jpeg(), { ...options, raw });
      expect(res.status).toBe(400);
      const problem = await problemOf(res);
      expect(codeOf(problem)).toBe("validation-failed");
      expect((problem.errors as { path: string }[]).map((e) => e.path)).toContain(field);
    }
    expect(await mediaRowsOf(user.id)).toEqual([]);
  });

  it("a multipart body without a file part, or an empty body, is refused with 400", async () => {
    const user = await userWithToken();
    const form = new FormData();
    form.append("purpose", "post");
    const noFile = await call("/api/v1/media", { method: "POST", headers: bearer(user.token), body: form });
    expect(noFile.status).toBe(400);
    expect(codeOf(await problemOf(noFile))).toBe("validation-failed");
    await refused(await uploadRequest(user.token, new Uint8Array(0), { raw: true }), 400, "validation-failed", user.id);
  });
});
