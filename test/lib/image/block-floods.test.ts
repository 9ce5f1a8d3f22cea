/**
 * Block floods: files made of as many tiny segments, chunks or blocks as fit. Each format refuses
 * one block past its cap (`too-many-segments`) and accepts a file at the cap; blocks that carry
 * nothing are dropped from the output; kept blocks that follow each other leave as one piece.
 */
import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { type ImageFormat, stripImage } from "../../../src/lib/image";
import { stripGif } from "../../../src/lib/image/gif";
import { stripJpeg } from "../../../src/lib/image/jpeg";
import { stripPng } from "../../../src/lib/image/png";
import { stripWebp } from "../../../src/lib/image/webp";
import {
  app,
  cat,
  chunk,
  com,
  GIF_IMAGE,
  gifApplication,
  ihdr,
  jpeg,
  jpegSegments,
  PNG_SIG,
  pngChunks,
  pngIdat,
  repeat,
  riff,
  riffChunk,
  riffChunks,
  text,
  vp8l,
  vp8x,
} from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };
/** The upload size the reported flood used. */
const TEN_MB = 10 * 1024 * 1024;

function strip(bytes: Uint8Array) {
  const result = stripImage(bytes, LIMITS);
  if (!result.ok) throw new Error(`rejected: ${result.reason} ${result.detail}`);
  return result.image;
}

function refusedAsFlood(bytes: Uint8Array, format: ImageFormat) {
  expect(stripImage(bytes, LIMITS)).toEqual({
    ok: false,
    reason: "too-many-segments",
    format,
    detail: expect.stringContaining(`more than ${MAX_BLOCKS[format]}`),
  });
}

/** Counted JPEG segments: every marker after SOI, SOS and EOI included. */
const jpegCount = (b: Uint8Array) => jpegSegments(b).segments.length + 2;

const pngOf = (...middle: Uint8Array[]) => {
  const [first, second] = pngIdat(4, 3);
  return cat(PNG_SIG, ihdr(4, 3), ...middle, first!, second!, chunk("IEND", []));
};

const webpOf = (...middle: Uint8Array[]) => riff([vp8x(0, 5, 3), ...middle, riffChunk("VP8L", vp8l(5, 3))]);

const GIF_HEAD = cat(text("GIF89a"), [2, 0, 2, 0, 0, 0, 0]);
const gifOf = (...middle: Uint8Array[]) => cat(GIF_HEAD, ...middle, GIF_IMAGE, [0x3b]);
/** A graphic control extension: 4 bytes (flags, delay in 1/100 s, transparent index), terminator. */
const control = (delay: number) => Uint8Array.of(0x21, 0xf9, 4, 0, delay, 0, 0, 0);
/** The reported flood's block: a graphic control extension with no data at all. */
const EMPTY_CONTROL = Uint8Array.of(0x21, 0xf9, 0);

describe("a file at the block cap passes, one block more is refused (too-many-segments)", () => {
  it("JPEG: every marker after SOI counts, SOS and EOI included; the COM filler is dropped", () => {
    const base = jpeg();
    const fill = MAX_BLOCKS.jpeg - jpegCount(base);
    const atCap = jpeg({ metadata: [repeat(com(""), fill)] });
    expect(strip(atCap).bytes).toEqual(base);
    refusedAsFlood(jpeg({ metadata: [repeat(com(""), fill + 1)] }), "jpeg");
    expect(stripJpeg(jpeg({ metadata: [repeat(com(""), fill + 1)] }), MAX_BLOCKS.jpeg)).toMatchObject({
      ok: false,
      reason: "too-many-segments",
    });
  });

  it("PNG: every chunk counts, IHDR and IEND included; the empty IDAT filler is dropped", () => {
    const base = pngOf();
    const fill = MAX_BLOCKS.png - pngChunks(base).length;
    expect(strip(pngOf(repeat(chunk("IDAT", []), fill))).bytes).toEqual(base);
    refusedAsFlood(pngOf(repeat(chunk("IDAT", []), fill + 1)), "png");
    expect(stripPng(pngOf(repeat(chunk("tEXt", []), fill + 1)), MAX_BLOCKS.png)).toMatchObject({
      ok: false,
      reason: "too-many-segments",
    });
  });

  it("WebP: every chunk counts, VP8X included; the empty XMP filler is dropped", () => {
    const base = webpOf();
    const fill = MAX_BLOCKS.webp - riffChunks(base).length;
    const xmp = riffChunk("XMP ", new Uint8Array(0));
    expect(strip(webpOf(repeat(xmp, fill))).bytes).toEqual(base);
    refusedAsFlood(webpOf(repeat(xmp, fill + 1)), "webp");
    // A simple file's trailing chunks are walked (and dropped) too.
    const simple = riff([riffChunk("VP8L", vp8l(5, 3)), repeat(xmp, MAX_BLOCKS.webp)]);
    expect(stripWebp(simple, MAX_BLOCKS.webp)).toMatchObject({ ok: false, reason: "too-many-segments" });
  });

  it("GIF: every block counts, the trailer included; the empty graphic control filler is dropped", () => {
    const base = gifOf();
    const fill = MAX_BLOCKS.gif - 2; // the image and the trailer
    expect(strip(gifOf(repeat(EMPTY_CONTROL, fill))).bytes).toEqual(base);
    refusedAsFlood(gifOf(repeat(EMPTY_CONTROL, fill + 1)), "gif");
    expect(stripGif(gifOf(repeat([0x21, 0xfe, 0], fill + 1)), MAX_BLOCKS.gif)).toMatchObject({
      ok: false,
      reason: "too-many-segments",
    });
  });

  it.each([
    // Each 10 MB file is the format's smallest block the walker used to keep, over and over.
    ["jpeg", cat([0xff, 0xd8], repeat([0xff, 0xdb, 0, 3, 0], Math.floor(TEN_MB / 5)))],
    ["png", cat(PNG_SIG, ihdr(4, 3), repeat(chunk("IDAT", [0]), Math.floor(TEN_MB / 13)))],
    ["webp", riff([vp8x(0, 5, 3), repeat(riffChunk("ALPH", Uint8Array.of(0)), Math.floor(TEN_MB / 10))])],
    // The reported file: 3.5 million 3-byte extension blocks.
    ["gif", cat(GIF_HEAD, repeat(EMPTY_CONTROL, Math.floor(TEN_MB / 3)), GIF_IMAGE, [0x3b])],
  ] as const)("%s: a 10 MB flood is refused at the cap", (format, flood) => {
    expect(flood.length).toBeGreaterThan(TEN_MB - 16);
    refusedAsFlood(flood, format);
  });
});

describe("blocks that carry nothing are dropped", () => {
  it("JPEG: empty DHT and DQT segments, an Adobe segment too short for its transform", () => {
    const base = jpeg();
    const emptyDht = [0xff, 0xc4, 0, 2];
    const emptyDqt = [0xff, 0xdb, 0, 2];
    const shortAdobe = app(14, cat(text("Adobe"), [0, 100]));
    const input = jpeg({ metadata: [cat(emptyDht, emptyDqt, shortAdobe, emptyDht)] });
    expect(strip(input).bytes).toEqual(base);
  });

  it("PNG: empty IDAT chunks (also between the real ones) and empty kept ancillary chunks", () => {
    const [first, second] = pngIdat(4, 3);
    const empty = chunk("IDAT", []);
    const ancillary = cat(chunk("gAMA", []), chunk("pHYs", []));
    const input = cat(PNG_SIG, ihdr(4, 3), ancillary, empty, first!, empty, second!, empty, chunk("IEND", []));
    const output = strip(input).bytes;
    expect(output).toEqual(pngOf());
    expect(pngChunks(output).every((c) => c.crcOk)).toBe(true);
  });

  it("PNG: a file whose only IDAT chunks are empty has no image and is refused", () => {
    const input = cat(PNG_SIG, ihdr(4, 3), chunk("IDAT", []), chunk("IEND", []));
    expect(stripPng(input, MAX_BLOCKS.png)).toMatchObject({ ok: false, reason: "corrupt" });
  });

  it("WebP: empty ICCP, ALPH and ANIM chunks; the ICC flag is cleared with the profile", () => {
    const empty = new Uint8Array(0);
    const input = riff([
      vp8x(0x20, 5, 3),
      riffChunk("ICCP", empty),
      riffChunk("ANIM", empty),
      riffChunk("ALPH", empty),
      riffChunk("VP8L", vp8l(5, 3)),
    ]);
    const output = strip(input).bytes;
    expect(riffChunks(output).map((c) => c.fourcc)).toEqual(["VP8X", "VP8L"]);
    expect(riffChunks(output)[0]!.data[0]).toBe(0);
    expect(output).toEqual(webpOf());
  });

  it("GIF: a graphic control without data, one replaced before its image, one no image follows, a loop extension without data", () => {
    const loopWithoutData = cat([0x21, 0xff, 11], text("NETSCAPE2.0"), [0]);
    const input = cat(
      GIF_HEAD,
      control(10),
      loopWithoutData,
      control(20),
      EMPTY_CONTROL, // says nothing, so the 20 still applies
      GIF_IMAGE,
      control(30), // no image follows it
      [0x3b],
    );
    expect(strip(input).bytes).toEqual(cat(GIF_HEAD, control(20), GIF_IMAGE, [0x3b]));
    // A loop extension with its data is kept.
    const loop = gifApplication("NETSCAPE2.0", Uint8Array.of(1, 0, 0));
    expect(strip(gifOf(loop)).bytes).toEqual(gifOf(loop));
  });
});

describe("kept blocks that follow each other leave as one piece, not one object each", () => {
  it.each([
    ["jpeg", () => jpeg({ metadata: [repeat([0xff, 0xdb, 0, 3, 0], MAX_BLOCKS.jpeg - jpegCount(jpeg()))] }), 1],
    ["png", () => pngOf(repeat(chunk("sBIT", [8, 8, 8]), MAX_BLOCKS.png - 4)), 1],
    // The rewritten RIFF header and VP8X (one piece), then the kept chunks.
    ["webp", () => webpOf(repeat(riffChunk("ALPH", Uint8Array.of(0)), MAX_BLOCKS.webp - 2)), 2],
    ["gif", () => gifOf(repeat(cat(control(5), GIF_IMAGE), (MAX_BLOCKS.gif - 2) / 2)), 1],
  ] as const)("%s at the cap, every block kept", (format, build, pieces) => {
    const input = build();
    const walkers = { jpeg: stripJpeg, png: stripPng, webp: stripWebp, gif: stripGif };
    const walked = walkers[format](input, MAX_BLOCKS[format]);
    if (!walked.ok) throw new Error(`rejected: ${walked.reason} ${walked.detail}`);
    expect(walked.value.pieces.count).toBe(pieces);
    expect(strip(input).bytes).toEqual(input);
  });
});
