import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { signedPath, signMedia, verifyMedia } from "../../../src/features/media/signing";
import { call, problemOf } from "../../helpers";
import { jpegWithMetadata } from "../../lib/image/fixtures";
import { codeOf } from "../../support/db";
import { type CapturedLogs, captureLogs } from "../../support/logs";
import { bytesOf, fetchSigned, mediaRow, nowSeconds, pathOf, signedFor, upload, userWithToken } from "./helpers";

async function stored() {
  const owner = await userWithToken();
  const media = await upload(owner.token, jpegWithMetadata());
  const row = (await mediaRow(media.id))!;
  const bytes = new Uint8Array(await (await env.MEDIA.get(row.r2_key))!.arrayBuffer());
  return { owner, media, row, bytes };
}

async function expectForbidden(res: Response) {
  expect(res.status).toBe(403);
  expect(codeOf(await problemOf(res))).toBe("forbidden");
}

/** Refusal reasons logged while serving. */
let logs: CapturedLogs;
beforeEach(() => {
  logs = captureLogs();
});
afterEach(() => vi.restoreAllMocks());
const refusalReasons = () => logs.entries("media signature refused").map((line) => line.reason);

describe("GET /media/:id (signed): signature checks", () => {
  it("serves the bytes with ETag, caching bounded by the signature, nosniff, a safe name and a sandbox CSP", async () => {
    const { media, row, bytes } = await stored();
    const res = await fetchSigned(media.url);
    expect(res.status).toBe(200);
    expect(await bytesOf(res)).toEqual(bytes);
    const h = res.headers;
    expect(h.get("Content-Type")).toBe("image/jpeg");
    expect(h.get("Content-Length")).toBe(String(row.bytes));
    expect(h.get("ETag")).toBe(`"${row.sha256}"`);
    expect(h.get("Accept-Ranges")).toBe("bytes");
    expect(h.get("X-Content-Type-Options")).toBe("nosniff");
    expect(h.get("Content-Security-Policy")).toBe("sandbox");
    expect(h.get("Content-Disposition")).toBe(`inline; filename="${media.id}.jpg"`);
    const maxAge = Number(/^private, max-age=(\d+)$/.exec(h.get("Cache-Control") ?? "")?.[1]);
    const remaining = Date.parse(media.expiresAt) / 1000 - nowSeconds();
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(remaining + 1);
  });

  it("Cache-Control never outlives a URL that is about to expire", async () => {
    const { media } = await stored();
    const res = await call(await signedFor(media.id, nowSeconds() + 20));
    expect(res.status).toBe(200);
    expect(Number(/max-age=(\d+)/.exec(res.headers.get("Cache-Control") ?? "")?.[1])).toBeLessThanOrEqual(20);
  });

  it("a signature for one id does not open another (tampered id): 403", async () => {
    const a = await stored();
    const b = await stored();
    const u = new URL(a.media.url);
    await expectForbidden(await call(`/media/${b.media.id}${u.search}`));
  });

  it("a tampered expiry, signature or key id is refused with 403", async () => {
    const { media } = await stored();
    const u = new URL(media.url);
    const exp = Number(u.searchParams.get("exp"));
    const variants: Record<string, string>[] = [
      { exp: String(exp + 3600) },
      { exp: String(exp - 1) },
      { sig: u.searchParams.get("sig")!.replace(/^./, (c) => (c === "0" ? "1" : "0")) },
      { sig: "" },
      { kid: "someone-else" },
      { sig: "not-hex" },
    ];
    for (const change of variants) {
      const tampered = new URL(u);
      for (const [k, v] of Object.entries(change)) tampered.searchParams.set(k, v);
      await expectForbidden(await call(pathOf(tampered.href)));
    }
    await expectForbidden(await call(`/media/${media.id}`));
  });

  it("an expired URL is refused with 403, and a URL is valid up to (not including) its expiry second", async () => {
    const { media } = await stored();
    await expectForbidden(await call(await signedFor(media.id, nowSeconds() - 1)));
    const keys = getConfig(env).mediaSigningKeys;
    const params = await signMedia(keys, media.id, 1_000);
    expect(await verifyMedia(keys, media.id, { ...stringify(params) }, 999)).toEqual({ ok: true, exp: 1_000 });
    expect(await verifyMedia(keys, media.id, { ...stringify(params) }, 1_000)).toEqual({
      ok: false,
      reason: "expired",
    });
  });

  it("every refusal looks the same to the client; only the log says why", async () => {
    const { media } = await stored();
    const u = new URL(media.url);
    const forged = new URL(u);
    forged.searchParams.set("sig", "0".repeat(64));
    const unknownKey = new URL(u);
    unknownKey.searchParams.set("kid", "retired");
    const details = [];
    for (const path of [pathOf(forged.href), await signedFor(media.id, nowSeconds() - 5), pathOf(unknownKey.href)]) {
      const res = await call(path);
      expect(res.status).toBe(403);
      const { detail, title } = await problemOf(res);
      details.push({ detail, title });
    }
    expect(new Set(details.map((d) => JSON.stringify(d))).size).toBe(1);
    expect(refusalReasons()).toEqual(["bad-signature", "expired", "unknown-key"]);
  });

  it("keys rotate: a URL signed with a previous key still verifies while that key is listed", async () => {
    const { media, bytes } = await stored();
    const current = { kid: "media-2026-12", secret: "current-media-secret-0123456789abcdef0123" };
    const previous = { kid: "media-2026-11", secret: "previous-media-secret-0123456789abcdef012" };
    const app = createApp();
    const rotated = { ...env, MEDIA_SIGNING_KEYS: JSON.stringify([current, previous]) };
    const exp = nowSeconds() + 60;
    const oldUrl = signedPath(media.id, await signMedia([previous], media.id, exp));
    const res = await app.request(oldUrl, {}, rotated);
    expect(res.status).toBe(200);
    expect(await bytesOf(res)).toEqual(bytes);
    const retired = { ...env, MEDIA_SIGNING_KEYS: JSON.stringify([current]) };
    expect((await app.request(oldUrl, {}, retired)).status).toBe(403);
  });

  it("a private media URL from GET /api/v1/media/:id is signed with the current key id", async () => {
    const { media } = await stored();
    expect(new URL(media.url).searchParams.get("kid")).toBe(getConfig(env).mediaSigningKeys[0].kid);
  });
});

function stringify(p: { exp: number; kid: string; sig: string }) {
  return { exp: String(p.exp), kid: p.kid, sig: p.sig };
}

describe("GET /media/:id (signed): conditional and range requests", () => {
  it("If-None-Match with the ETag (also weak, or in a list) answers 304 without a body", async () => {
    const { media, row } = await stored();
    const etag = `"${row.sha256}"`;
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
      const res = await fetchSigned(media.url, { "If-None-Match": header });
      expect(res.status, header).toBe(304);
      expect(res.headers.get("ETag")).toBe(etag);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
    expect((await fetchSigned(media.url, { "If-None-Match": '"stale"' })).status).toBe(200);
  });

  it("a conditional request still needs a valid signature", async () => {
    const { media, row } = await stored();
    await expectForbidden(
      await call(await signedFor(media.id, nowSeconds() - 1), { headers: { "If-None-Match": `"${row.sha256}"` } }),
    );
  });

  it.each([
    ["bytes=0-9", 0, 10],
    ["bytes=10-", 10, null],
    ["bytes=-5", null, 5],
    ["bytes=3-3", 3, 1],
  ] as const)("Range %s answers 206 with exactly those bytes and Content-Range", async (range, start, length) => {
    const { media, bytes } = await stored();
    const res = await fetchSigned(media.url, { Range: range });
    expect(res.status).toBe(206);
    const from = start ?? bytes.length - length!;
    const to = length === null ? bytes.length : from + length;
    expect(await bytesOf(res)).toEqual(bytes.subarray(from, to));
    expect(res.headers.get("Content-Range")).toBe(`bytes ${from}-${to - 1}/${bytes.length}`);
    expect(res.headers.get("Content-Length")).toBe(String(to - from));
    expect(res.headers.get("Content-Security-Policy")).toBe("sandbox");
  });

  it("a range past the end answers 416 with the size; a range list or other unit gets the whole body", async () => {
    const { media, bytes } = await stored();
    const past = await fetchSigned(media.url, { Range: `bytes=${bytes.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers.get("Content-Range")).toBe(`bytes */${bytes.length}`);
    for (const range of ["bytes=0-1,4-5", "items=0-1", "bytes=abc"]) {
      const res = await fetchSigned(media.url, { Range: range });
      expect(res.status, range).toBe(200);
      expect((await bytesOf(res)).length).toBe(bytes.length);
    }
  });

  it("If-Range with a stale validator ignores the range; with the current ETag it applies", async () => {
    const { media, row, bytes } = await stored();
    const stale = await fetchSigned(media.url, { Range: "bytes=0-9", "If-Range": '"stale"' });
    expect(stale.status).toBe(200);
    expect((await bytesOf(stale)).length).toBe(bytes.length);
    const fresh = await fetchSigned(media.url, { Range: "bytes=0-9", "If-Range": `"${row.sha256}"` });
    expect(fresh.status).toBe(206);
  });
});
