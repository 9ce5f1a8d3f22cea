import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { stripImage } from "../../../src/lib/image";
import { stripGif } from "../../../src/lib/image/gif";
import { stripWebp } from "../../../src/lib/image/webp";
import {
  cat,
  contains,
  GIF_IMAGE,
  GIF_SECRETS,
  gifApplication,
  gifWithMetadata,
  readTiff,
  riff,
  riffChunk,
  riffChunks,
  text,
  vp8l,
  vp8x,
  WEBP_SECRETS,
  webpWithMetadata,
} from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

function strip(bytes: Uint8Array) {
  const result = stripImage(bytes, LIMITS);
  if (!result.ok) throw new Error(`rejected: ${result.reason} ${result.detail}`);
  return result.image;
}

describe("WebP stripping", () => {
  it("drops EXIF's metadata, XMP, unknown chunks and trailing data; keeps ICCP and the image", () => {
    const input = webpWithMetadata();
    for (const secret of WEBP_SECRETS) expect(contains(input, secret), secret).toBe(true);
    const output = strip(input).bytes;
    for (const secret of WEBP_SECRETS) expect(contains(output, secret), secret).toBe(false);
    expect(riffChunks(output).map((c) => c.fourcc)).toEqual(["VP8X", "ICCP", "VP8L", "EXIF"]);
    const find = (b: Uint8Array, fourcc: string) => riffChunks(b).find((c) => c.fourcc === fourcc)!.whole;
    expect(find(output, "VP8L")).toEqual(find(input, "VP8L"));
    expect(find(output, "ICCP")).toEqual(find(input, "ICCP"));
  });

  it("an animation frame keeps its header and frame data only: chunks a crafted frame carries inside are dropped", () => {
    const frameHeader = Uint8Array.from([0, 0, 0, 0, 0, 0, 4, 0, 0, 2, 0, 0, 100, 0, 0, 0]); // 5×3 at 0,0, 100 ms
    const frame = (...inner: Uint8Array[]) => riffChunk("ANMF", cat(frameHeader, ...inner));
    const pixels = riffChunk("VP8L", vp8l(5, 3));
    const input = riff([
      vp8x(0x02, 5, 3),
      riffChunk("ANIM", Uint8Array.from([0, 0, 0, 0, 0, 0])),
      frame(pixels, riffChunk("EXIF", text("HIDDEN-GPS-52.52")), riffChunk("ZZZZ", text("FRAME-SECRET"))),
      frame(pixels),
    ]);
    const output = strip(input).bytes;
    for (const secret of ["HIDDEN-GPS", "FRAME-SECRET"]) expect(contains(output, secret), secret).toBe(false);
    const frames = riffChunks(output).filter((c) => c.fourcc === "ANMF");
    expect(frames.map((f) => [...f.data])).toEqual([[...cat(frameHeader, pixels)], [...cat(frameHeader, pixels)]]);
    const inPlace = stripImage(input.slice(), LIMITS, { inPlace: true });
    expect(inPlace.ok && [...inPlace.image.bytes]).toEqual([...output]);
  });

  it("fixes the RIFF size and the VP8X flags (XMP cleared, ICC and EXIF set)", () => {
    const output = strip(webpWithMetadata()).bytes;
    const view = new DataView(output.buffer, output.byteOffset);
    expect(view.getUint32(4, true)).toBe(output.length - 8);
    expect(riffChunks(output)[0]!.data[0]).toBe(0x20 | 0x08);
  });

  it.each([false, true])("keeps Orientation in a minimal EXIF chunk (Exif\\0\\0 prefix in the input: %s)", (prefix) => {
    const image = strip(webpWithMetadata(6, prefix));
    expect(image.orientation).toBe(6);
    const exif = riffChunks(image.bytes).find((c) => c.fourcc === "EXIF")!;
    expect(readTiff(exif.data)).toEqual({ tags: [0x0112], orientation: 6, nextIfd: 0 });
  });

  it("without EXIF or ICC the flags say so and only the image remains", () => {
    const input = riff([vp8x(0x04, 5, 3), riffChunk("VP8L", vp8l(5, 3)), riffChunk("XMP ", text("<xmp/>"))]);
    const output = strip(input).bytes;
    expect(riffChunks(output).map((c) => c.fourcc)).toEqual(["VP8X", "VP8L"]);
    expect(riffChunks(output)[0]!.data[0]).toBe(0);
  });

  it("passes a simple lossless file through unchanged and reads its size", () => {
    const input = riff([riffChunk("VP8L", vp8l(7, 9))]);
    const image = strip(input);
    expect(image.bytes).toEqual(input);
    expect([image.width, image.height, image.contentType]).toEqual([7, 9, "image/webp"]);
  });

  it("refuses a pixel flood from the VP8L header, and a small canvas cannot hide a huge bitstream", () => {
    expect(stripImage(riff([riffChunk("VP8L", vp8l(16384, 16384))]), LIMITS)).toMatchObject({
      ok: false,
      reason: "too-many-pixels",
    });
    const hidden = riff([vp8x(0, 1, 1), riffChunk("VP8L", vp8l(16384, 4000))]);
    expect(stripImage(hidden, LIMITS)).toMatchObject({ ok: false, reason: "too-many-pixels" });
  });

  it("rejects a RIFF size past the end, VP8X without image data, and a bad VP8L signature", () => {
    const input = riff([riffChunk("VP8L", vp8l(5, 3))]);
    expect(stripWebp(input.subarray(0, input.length - 3), MAX_BLOCKS.webp)).toMatchObject({
      ok: false,
      reason: "truncated",
    });
    expect(stripWebp(riff([vp8x(0x20, 5, 3), riffChunk("ICCP", text("icc"))]), MAX_BLOCKS.webp)).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
    const badSig = vp8l(5, 3);
    badSig[0] = 0x2e;
    expect(stripWebp(riff([riffChunk("VP8L", badSig)]), MAX_BLOCKS.webp)).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
  });
});

describe("GIF stripping", () => {
  it("a NETSCAPE2.0 extension keeps its loop sub-block only: sub-blocks a crafted one carries after it are dropped", () => {
    const header = cat(text("GIF89a"), [2, 0, 2, 0, 0x80, 0, 0], [0, 0, 0, 0xff, 0xff, 0xff]);
    const loop = Uint8Array.from([3, 1, 0, 0]);
    const crafted = cat([0x21, 0xff, 11], text("NETSCAPE2.0"), loop, [16], text("HIDDEN-GPS-52.52"), [0]);
    const input = cat(header, crafted, GIF_IMAGE, [0x3b]);
    const output = strip(input).bytes;
    expect(contains(output, "HIDDEN-GPS")).toBe(false);
    expect(contains(output, cat([0x21, 0xff, 11], text("NETSCAPE2.0"), loop, [0]))).toBe(true);
    const inPlace = stripImage(input.slice(), LIMITS, { inPlace: true });
    expect(inPlace.ok && [...inPlace.image.bytes]).toEqual([...output]);
  });

  it("drops comments, XMP application extensions and trailing data; keeps the loop, timing and image", () => {
    const input = gifWithMetadata();
    for (const secret of GIF_SECRETS) expect(contains(input, secret), secret).toBe(true);
    const image = strip(input);
    for (const secret of GIF_SECRETS) expect(contains(image.bytes, secret), secret).toBe(false);
    expect(contains(image.bytes, "NETSCAPE2.0")).toBe(true);
    expect(contains(image.bytes, Uint8Array.of(0x21, 0xf9, 4, 0, 10, 0, 0, 0))).toBe(true);
    expect(contains(image.bytes, GIF_IMAGE)).toBe(true);
    expect(image.bytes.at(-1)).toBe(0x3b);
    expect([image.width, image.height, image.contentType]).toEqual([2, 2, "image/gif"]);
  });

  it("counts a frame that extends past the logical screen towards the pixel limit", () => {
    const frame = GIF_IMAGE.slice();
    frame.set([0x40, 0x9c, 0x40, 0x9c], 5); // 40000×40000
    const gif = cat(text("GIF89a"), [1, 0, 1, 0, 0, 0, 0], frame, [0x3b]);
    expect(stripImage(gif, LIMITS)).toMatchObject({ ok: false, reason: "too-many-pixels" });
  });

  it("rejects a GIF without an image, without its trailer, or with an unknown block", () => {
    const head = cat(text("GIF89a"), [2, 0, 2, 0, 0, 0, 0]);
    expect(stripGif(cat(head, [0x3b]), MAX_BLOCKS.gif)).toMatchObject({ ok: false, reason: "corrupt" });
    expect(stripGif(cat(head, GIF_IMAGE), MAX_BLOCKS.gif)).toMatchObject({ ok: false, reason: "truncated" });
    expect(stripGif(cat(head, [0x99], GIF_IMAGE, [0x3b]), MAX_BLOCKS.gif)).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
    expect(
      stripGif(cat(head, gifApplication("XMP DataXMP", text("x")), GIF_IMAGE, [0x3b]), MAX_BLOCKS.gif),
    ).toMatchObject({
      ok: true,
    });
  });
});
