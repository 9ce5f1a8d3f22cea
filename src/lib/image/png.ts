/**
 * PNG metadata stripping by chunk walk (PNG 3rd edition). Kept chunks are copied through with their
 * original CRC; image data (IDAT, APNG fdAT) is never touched.
 *
 * Kept: critical chunks (IHDR, PLTE, IDAT, IEND); colour (iCCP, sRGB, gAMA, cHRM, cICP, mDCV, cLLI,
 * sBIT); rendering (tRNS, bKGD, hIST, pHYs); animation (acTL, fcTL, fdAT). A minimal eXIf holding
 * only Orientation replaces the original eXIf, in its place.
 * Dropped: eXIf's other tags, tEXt, iTXt, zTXt, tIME, sPLT, and every other ancillary chunk (C2PA,
 * vendor chunks), plus anything after IEND; and chunks that carry nothing: an empty IDAT, an empty
 * kept ancillary chunk (each of them is defined with data). An unknown critical chunk means a decoder
 * would refuse the file, so it is refused here too.
 *
 * Every chunk counts towards `maxChunks` (kept or dropped, IHDR and IEND included). The CRC of the
 * large pixel-data chunks (IDAT, fdAT) is left to the decoder rather than spending CPU on it here.
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
import { blockCounter, Output } from "./output";

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** A chunk type as the 32-bit big-endian number its four letters make: compared without a string per chunk. */
function typeCode(type: string): number {
  return (
    ((type.charCodeAt(0) << 24) | (type.charCodeAt(1) << 16) | (type.charCodeAt(2) << 8) | type.charCodeAt(3)) >>> 0
  );
}

const IHDR = typeCode("IHDR");
const PLTE = typeCode("PLTE");
const IDAT = typeCode("IDAT");
const IEND = typeCode("IEND");
const FDAT = typeCode("fdAT");
const EXIF = typeCode("eXIf");
const KEPT_ANCILLARY = new Set(
  [
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
  ].map(typeCode),
);

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

/** The image trailer as the specification writes it: no data. */
const EMPTY_IEND = pngChunk("IEND", new Uint8Array(0));

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

const typeName = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

export function stripPng(b: Uint8Array, maxChunks: number): WalkResult {
  return guarded(() => {
    if (b.length < 8 || PNG_SIGNATURE.some((byte, i) => b[i] !== byte)) {
      throw new Malformed("unsupported", "not a PNG file");
    }
    const count = blockCounter(maxChunks, "chunks");
    const out = new Output();
    out.keep(0, 8);
    let pos = 8;
    let width = 0;
    let height = 0;
    let orientation: number | null = null;
    let exifSeen = false;
    let idat = false;

    for (;;) {
      if (pos >= b.length) throw truncated("PNG without IEND");
      need(b, pos, 8, "chunk header");
      count();
      const length = u32be(b, pos);
      if (length > MAX_DIMENSION) throw corrupt(`chunk length ${length} at offset ${pos}`);
      if (!(isLetter(b[pos + 4]!) && isLetter(b[pos + 5]!) && isLetter(b[pos + 6]!) && isLetter(b[pos + 7]!))) {
        throw corrupt(`invalid chunk type at offset ${pos}`);
      }
      // Offsets, not views: a dropped chunk costs no object.
      const type = u32be(b, pos + 4);
      // (Not `need`: its message would be built for every chunk.)
      if (pos + 12 + length > b.length) throw truncated(`${typeName(b, pos + 4)} chunk`);
      const start = pos;
      const data = pos + 8;
      const end = pos + 12 + length;
      if (type !== IDAT && type !== FDAT && crc32(b, pos + 4, data + length) !== u32be(b, data + length)) {
        throw corrupt(`${typeName(b, pos + 4)} chunk has a bad CRC`);
      }
      pos = end;

      if ((start === 8) !== (type === IHDR)) throw corrupt("IHDR must come first, once");
      if (type === IHDR) {
        if (length !== 13) throw corrupt("IHDR length");
        width = u32be(b, data);
        height = u32be(b, data + 4);
        if (width === 0 || height === 0 || width > MAX_DIMENSION || height > MAX_DIMENSION) {
          throw corrupt(`image size ${width}×${height}`);
        }
        const depth = b[data + 8]!;
        const colourType = b[data + 9]!;
        if (!BIT_DEPTHS[colourType]?.includes(depth))
          throw corrupt(`bit depth ${depth} with colour type ${colourType}`);
        if (b[data + 10] !== 0 || b[data + 11] !== 0 || b[data + 12]! > 1) {
          throw corrupt("compression, filter or interlace method");
        }
        out.keep(start, end);
      } else if (type === IEND) {
        if (!idat) throw corrupt("no IDAT data before IEND");
        // IEND's data is empty (§11.2.5): a crafted one carrying bytes is written as the empty one.
        if (length === 0) out.keep(start, end);
        else out.add(EMPTY_IEND);
        break; // anything after IEND is dropped
      } else if (type === IDAT) {
        // The image is the concatenation of the IDAT data (§10.2): an empty IDAT adds nothing.
        if (length > 0) {
          idat = true;
          out.keep(start, end);
        }
      } else if (type === PLTE) {
        out.keep(start, end);
      } else if (b[start + 4]! < 0x61) {
        // Upper-case first letter: critical (PNG §5.4).
        throw new Malformed("unsupported", `unknown critical chunk ${typeName(b, start + 4)}`);
      } else if (KEPT_ANCILLARY.has(type)) {
        if (length > 0) out.keep(start, end); // every kept ancillary chunk has data; an empty one says nothing
      } else if (type === EXIF && !exifSeen) {
        exifSeen = true;
        orientation = readOrientation(b.subarray(data, data + length));
        if (orientation !== null) out.add(pngChunk("eXIf", orientationTiff(orientation)));
      }
    }
    return { width, height, orientation, pieces: out.finish() };
  });
}
