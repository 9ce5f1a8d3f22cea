import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { stripImage } from "../../../src/lib/image";
import { stripPng } from "../../../src/lib/image/png";
import {
  cat,
  chunk,
  contains,
  ihdr,
  PNG_SECRETS,
  PNG_SIG,
  pngChunks,
  pngIdat,
  pngWithMetadata,
  readTiff,
} from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

function strip(bytes: Uint8Array) {
  const result = stripImage(bytes, LIMITS);
  if (!result.ok) throw new Error(`rejected: ${result.reason} ${result.detail}`);
  return result.image;
}

const png = (...chunks: Uint8Array[]) => cat(PNG_SIG, ...chunks);

describe("PNG stripping", () => {
  it("drops eXIf's metadata, tEXt, iTXt, zTXt, tIME, unknown ancillary chunks and trailing data", () => {
    const input = pngWithMetadata();
    for (const secret of PNG_SECRETS) expect(contains(input, secret), secret).toBe(true);
    const output = strip(input).bytes;
    for (const secret of PNG_SECRETS) expect(contains(output, secret), secret).toBe(false);
    expect(pngChunks(output).map((c) => c.type)).toEqual([
      "IHDR",
      "gAMA",
      "cHRM",
      "iCCP",
      "pHYs",
      "eXIf",
      "IDAT",
      "IDAT",
      "IEND",
    ]);
  });

  it("every chunk of the output has a valid CRC and the kept chunks are the input's bytes", () => {
    const input = pngWithMetadata();
    const before = new Map(pngChunks(input).map((c) => [c.type, c.whole]));
    for (const c of pngChunks(strip(input).bytes)) {
      expect(c.crcOk, c.type).toBe(true);
      if (c.type !== "eXIf" && c.type !== "IDAT") expect(c.whole, c.type).toEqual(before.get(c.type));
    }
  });

  it("writes a crafted IEND that carries bytes as the empty IEND, its CRC valid", () => {
    const input = png(ihdr(4, 3), ...pngIdat(4, 3), chunk("IEND", [...new TextEncoder().encode("HIDDEN-GPS-52.52")]));
    const output = strip(input).bytes;
    expect(contains(output, "HIDDEN-GPS")).toBe(false);
    const inPlace = stripImage(input.slice(), LIMITS, { inPlace: true });
    expect(inPlace.ok && [...inPlace.image.bytes]).toEqual([...output]);
    const last = pngChunks(output).at(-1);
    expect(last).toMatchObject({ type: "IEND", crcOk: true });
    expect(last?.data).toHaveLength(0);
  });

  it("keeps the image data byte for byte", () => {
    const idat = (b: Uint8Array) =>
      cat(
        ...pngChunks(b)
          .filter((c) => c.type === "IDAT")
          .map((c) => c.whole),
      );
    const input = pngWithMetadata();
    expect(idat(strip(input).bytes)).toEqual(idat(input));
  });

  it.each([
    ["MM", 8],
    ["II", 6],
  ] as const)("keeps Orientation (%s, %i) in a minimal eXIf and nothing else", (order, value) => {
    const image = strip(pngWithMetadata(order, value));
    expect(image.orientation).toBe(value);
    const exif = pngChunks(image.bytes).find((c) => c.type === "eXIf")!;
    expect(readTiff(exif.data)).toEqual({ tags: [0x0112], orientation: value, nextIfd: 0 });
  });

  it("keeps sRGB, cICP and transparency", () => {
    const input = png(
      ihdr(4, 3),
      chunk("sRGB", [0]),
      chunk("cICP", [1, 13, 0, 1]),
      chunk("tRNS", [0, 1, 0, 2, 0, 3]),
      ...pngIdat(4, 3),
      chunk("IEND", []),
    );
    expect(strip(input).bytes).toEqual(input);
  });

  it("reads the size from IHDR and refuses a pixel flood above 40 megapixels (the edge is allowed)", () => {
    const at = (w: number, h: number) => png(ihdr(w, h), ...pngIdat(1, 1), chunk("IEND", []));
    expect(strip(at(8000, 5000))).toMatchObject({ width: 8000, height: 5000 });
    expect(stripImage(at(8001, 5000), LIMITS)).toMatchObject({ ok: false, reason: "too-many-pixels" });
    expect(stripImage(at(0x7fffffff, 0x7fffffff), LIMITS)).toMatchObject({ ok: false, reason: "too-many-pixels" });
  });

  it("rejects a bad CRC, a missing IEND, IHDR not first, and an unknown critical chunk", () => {
    const good = pngWithMetadata();
    const badCrc = good.slice();
    badCrc[8 + 8 + 13 + 3]! ^= 0xff; // last CRC byte of IHDR
    expect(stripPng(badCrc, MAX_BLOCKS.png)).toMatchObject({ ok: false, reason: "corrupt" });
    const noEnd = png(ihdr(4, 3), ...pngIdat(4, 3));
    expect(stripPng(noEnd, MAX_BLOCKS.png)).toMatchObject({ ok: false, reason: "truncated" });
    expect(
      stripPng(png(chunk("gAMA", [0, 0, 0, 1]), ihdr(4, 3), ...pngIdat(4, 3), chunk("IEND", [])), MAX_BLOCKS.png),
    ).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
    const critical = png(ihdr(4, 3), chunk("ABCD", [1]), ...pngIdat(4, 3), chunk("IEND", []));
    expect(stripPng(critical, MAX_BLOCKS.png)).toMatchObject({ ok: false, reason: "unsupported" });
    expect(stripPng(png(ihdr(4, 3, 3, 2), ...pngIdat(4, 3), chunk("IEND", [])), MAX_BLOCKS.png)).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
  });
});
