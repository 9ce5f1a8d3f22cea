/**
 * PNG metadata stripping by chunk walk (PNG 3rd edition). Kept chunks are copied through with their
 * original CRC; image data (IDAT, APNG fdAT) is never touched.
 *
 * Kept: critical chunks (IHDR, PLTE, IDAT, IEND); colour (iCCP, sRGB, gAMA, cHRM, cICP, mDCV, cLLI,
 * sBIT); rendering (tRNS, bKGD, hIST, pHYs); animation (acTL, fcTL, fdAT). A minimal eXIf holding
 * only Orientation replaces the original eXIf, in its place.
 * Dropped: eXIf's other tags, tEXt, iTXt, zTXt, tIME, sPLT, and every other ancillary chunk (C2PA,
 * vendor chunks), plus anything after IEND. An unknown critical chunk means a decoder would refuse
 * the file, so it is refused here too.
 */
import {
  ascii,
  corrupt,
  crc32,
  guarded,
  Malformed,
  need,
  truncated,
  u32be,
  type WalkResult,
  writeU32be,
} from "./bytes";
import { orientationTiff, readOrientation } from "./exif";

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

const CRITICAL = new Set(["IHDR", "PLTE", "IDAT", "IEND"]);
const KEPT_ANCILLARY = new Set([
  "iCCP",
  "sRGB",
  "gAMA",
  "cHRM",
  "cICP",
  "mDCV",
  "cLLI",
  "sBIT",
  "tRNS",
  "bKGD",
  "hIST",
  "pHYs",
  "acTL",
  "fcTL",
  "fdAT",
]);
/** Large pixel-data chunks: their CRC is left to the decoder rather than spending CPU on it here. */
const UNCHECKED_CRC = new Set(["IDAT", "fdAT"]);

/** Allowed bit depths per colour type (PNG §11.2.2, Table 11.1). */
const BIT_DEPTHS: Record<number, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

const MAX_DIMENSION = 0x7fffffff;

/** A complete chunk (length, type, data, CRC). */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  writeU32be(out, 0, data.length);
  out.set(ascii(type), 4);
  out.set(data, 8);
  writeU32be(out, 8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

export function stripPng(b: Uint8Array): WalkResult {
  return guarded(() => {
    if (b.length < 8 || PNG_SIGNATURE.some((byte, i) => b[i] !== byte)) {
      throw new Malformed("unsupported", "not a PNG file");
    }
    const parts: Uint8Array[] = [b.subarray(0, 8)];
    let pos = 8;
    let width = 0;
    let height = 0;
    let orientation: number | null = null;
    let exifSeen = false;
    let idat = false;

    for (;;) {
      if (pos >= b.length) throw truncated("PNG without IEND");
      need(b, pos, 8, "chunk header");
      const length = u32be(b, pos);
      if (length > MAX_DIMENSION) throw corrupt(`chunk length ${length} at offset ${pos}`);
      const typeBytes = b.subarray(pos + 4, pos + 8);
      if (!typeBytes.every(isLetter)) throw corrupt(`invalid chunk type at offset ${pos}`);
      const type = String.fromCharCode(...typeBytes);
      need(b, pos, 12 + length, `${type} chunk`);
      const data = b.subarray(pos + 8, pos + 8 + length);
      const chunk = b.subarray(pos, pos + 12 + length);
      if (!UNCHECKED_CRC.has(type) && crc32(b.subarray(pos + 4, pos + 8 + length)) !== u32be(b, pos + 8 + length)) {
        throw corrupt(`${type} chunk has a bad CRC`);
      }
      const first = pos === 8;
      pos += 12 + length;

      if (first !== (type === "IHDR")) throw corrupt("IHDR must come first, once");
      if (type === "IHDR") {
        if (length !== 13) throw corrupt("IHDR length");
        width = u32be(data, 0);
        height = u32be(data, 4);
        if (width === 0 || height === 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
          throw corrupt(`image size ${width}×${height}`);
        }
        const depth = data[8]!;
        const colourType = data[9]!;
        if (!BIT_DEPTHS[colourType]?.includes(depth))
          throw corrupt(`bit depth ${depth} with colour type ${colourType}`);
        if (data[10] !== 0 || data[11] !== 0 || data[12]! > 1) throw corrupt("compression, filter or interlace method");
        parts.push(chunk);
      } else if (type === "IEND") {
        if (!idat) throw corrupt("no IDAT before IEND");
        parts.push(chunk);
        break; // anything after IEND is dropped
      } else if (CRITICAL.has(type)) {
        if (type === "IDAT") idat = true;
        parts.push(chunk);
      } else if (type.charCodeAt(0) < 0x61) {
        // Upper-case first letter: critical (PNG §5.4).
        throw new Malformed("unsupported", `unknown critical chunk ${type}`);
      } else if (KEPT_ANCILLARY.has(type)) {
        parts.push(chunk);
      } else if (type === "eXIf" && !exifSeen) {
        exifSeen = true;
        orientation = readOrientation(data);
        if (orientation !== null) parts.push(pngChunk("eXIf", orientationTiff(orientation)));
      }
    }
    return { width, height, orientation, parts };
  });
}
