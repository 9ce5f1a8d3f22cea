/**
 * WebP metadata stripping by RIFF chunk walk (RFC 9649). Image chunks are copied through byte for
 * byte; the RIFF size and the VP8X feature flags are rewritten to match what is kept.
 *
 * Simple files (a lone VP8 or VP8L chunk) cannot carry metadata: only that chunk is kept.
 * Extended files (VP8X) keep ICCP, ANIM, ANMF, ALPH, VP8 and VP8L; EXIF is replaced by a minimal
 * EXIF holding only Orientation (placed last, where RFC 9649 §2.7 puts metadata); XMP and unknown
 * chunks are dropped, as is anything after the RIFF payload.
 */
import {
  ascii,
  corrupt,
  guarded,
  hasAscii,
  Malformed,
  need,
  truncated,
  u16le,
  u24le,
  u32le,
  type WalkResult,
  writeU32le,
} from "./bytes";
import { orientationTiff, readOrientation, tiffOf } from "./exif";

const FLAG_ICC = 0x20;
const FLAG_ALPHA = 0x10;
const FLAG_EXIF = 0x08;
const FLAG_ANIMATION = 0x02;

interface Size {
  width: number;
  height: number;
}

/** Width and height from a VP8 key frame header (RFC 6386 §9.1). */
export function vp8Size(data: Uint8Array): Size {
  need(data, 0, 10, "VP8 frame header");
  if ((data[0]! & 1) !== 0) throw corrupt("VP8 chunk does not start with a key frame");
  if (data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) throw corrupt("VP8 start code");
  const width = u16le(data, 6) & 0x3fff;
  const height = u16le(data, 8) & 0x3fff;
  if (width === 0 || height === 0) throw corrupt("VP8 size 0");
  return { width, height };
}

/** Width and height from a VP8L header (RFC 9649 §3.2.2). */
export function vp8lSize(data: Uint8Array): Size {
  need(data, 0, 5, "VP8L header");
  if (data[0] !== 0x2f) throw corrupt("VP8L signature");
  const bits = u32le(data, 1);
  if (bits >>> 29 !== 0) throw corrupt("VP8L version");
  return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
}

function chunk(fourcc: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + data.length + (data.length & 1));
  out.set(ascii(fourcc), 0);
  writeU32le(out, 4, data.length);
  out.set(data, 8);
  return out;
}

export function stripWebp(b: Uint8Array): WalkResult {
  return guarded(() => {
    if (!hasAscii(b, 0, "RIFF") || !hasAscii(b, 8, "WEBP")) throw new Malformed("unsupported", "not a WebP file");
    const riffSize = u32le(b, 4);
    const end = 8 + riffSize;
    if (riffSize < 12) throw corrupt("RIFF size");
    if (end > b.length) throw truncated("RIFF payload");

    // Every chunk: fourcc, payload and the whole chunk (with its pad byte) as a view.
    const chunks: { fourcc: string; data: Uint8Array; whole: Uint8Array }[] = [];
    for (let pos = 12; pos < end; ) {
      need(b, pos, 8, "chunk header");
      if (pos + 8 > end) throw corrupt("chunk header crosses the RIFF end");
      const fourcc = String.fromCharCode(b[pos]!, b[pos + 1]!, b[pos + 2]!, b[pos + 3]!);
      const size = u32le(b, pos + 4);
      const padded = size + (size & 1);
      if (pos + 8 + padded > end) throw truncated(`${fourcc.trim()} chunk`);
      chunks.push({ fourcc, data: b.subarray(pos + 8, pos + 8 + size), whole: b.subarray(pos, pos + 8 + padded) });
      pos += 8 + padded;
    }
    const first = chunks[0];
    if (!first) throw corrupt("no chunks");

    const kept: Uint8Array[] = [];
    let size: Size;
    let orientation: number | null = null;
    if (first.fourcc === "VP8 " || first.fourcc === "VP8L") {
      size = first.fourcc === "VP8 " ? vp8Size(first.data) : vp8lSize(first.data);
      kept.push(first.whole);
    } else if (first.fourcc === "VP8X") {
      need(first.data, 0, 10, "VP8X header");
      const flags = first.data[0]!;
      size = { width: u24le(first.data, 4) + 1, height: u24le(first.data, 7) + 1 };
      let icc = false;
      let image = false;
      let exifSeen = false;
      for (const { fourcc, data, whole } of chunks.slice(1)) {
        if (fourcc === "VP8 " || fourcc === "VP8L") {
          // Pixel count uses the larger of canvas and bitstream: a small canvas must not hide a huge frame.
          const frame = fourcc === "VP8 " ? vp8Size(data) : vp8lSize(data);
          size = { width: Math.max(size.width, frame.width), height: Math.max(size.height, frame.height) };
          image = true;
          kept.push(whole);
        } else if (fourcc === "ANMF") {
          need(data, 0, 16, "ANMF header");
          size = {
            width: Math.max(size.width, u24le(data, 6) + 1),
            height: Math.max(size.height, u24le(data, 9) + 1),
          };
          image = true;
          kept.push(whole);
        } else if (fourcc === "ICCP") {
          if (!icc) kept.push(whole);
          icc = true;
        } else if (fourcc === "ALPH" || fourcc === "ANIM") {
          kept.push(whole);
        } else if (fourcc === "EXIF" && !exifSeen) {
          exifSeen = true;
          orientation = readOrientation(tiffOf(data));
        }
        // XMP and unknown chunks: dropped.
      }
      if (!image) throw corrupt("extended WebP without image data");
      if (orientation !== null) kept.push(chunk("EXIF", orientationTiff(orientation)));
      const header = new Uint8Array(10);
      header.set(first.data.subarray(0, 10));
      header[0] =
        (flags & (FLAG_ALPHA | FLAG_ANIMATION)) | (icc ? FLAG_ICC : 0) | (orientation !== null ? FLAG_EXIF : 0);
      kept.unshift(chunk("VP8X", header));
    } else {
      throw corrupt(`unexpected first chunk ${first.fourcc}`);
    }

    let total = 12;
    for (const part of kept) total += part.length;
    const riff = new Uint8Array(12);
    riff.set(ascii("RIFF"), 0);
    writeU32le(riff, 4, total - 8);
    riff.set(ascii("WEBP"), 8);
    return { width: size.width, height: size.height, orientation, parts: [riff, ...kept] };
  });
}
