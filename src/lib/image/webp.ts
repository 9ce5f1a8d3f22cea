/**
 * WebP metadata stripping by RIFF chunk walk (RFC 9649). Image chunks are copied through byte for
 * byte; the RIFF size and the VP8X feature flags are rewritten to match what is kept.
 *
 * Simple files (a lone VP8 or VP8L chunk) cannot carry metadata: only that chunk is kept.
 * Extended files (VP8X) keep ICCP, ANIM, ANMF, ALPH, VP8 and VP8L; EXIF is replaced by a minimal
 * EXIF holding only Orientation (placed last, where RFC 9649 §2.7 puts metadata); XMP and unknown
 * chunks are dropped, as is anything after the RIFF payload; so are chunks that carry nothing: an
 * empty ICCP, ALPH or ANIM, a second ICCP.
 *
 * Every chunk counts towards `maxChunks` (kept or dropped, the first included).
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
  u32be,
  u32le,
  type WalkResult,
  writeU32le,
} from "./bytes";
import { orientationTiff, readOrientation, tiffOf } from "./exif";
import { blockCounter, Output } from "./output";

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

/** A FourCC as the 32-bit big-endian number its four bytes make: compared without a string per chunk. */
function fourccCode(fourcc: string): number {
  return (
    ((fourcc.charCodeAt(0) << 24) |
      (fourcc.charCodeAt(1) << 16) |
      (fourcc.charCodeAt(2) << 8) |
      fourcc.charCodeAt(3)) >>>
    0
  );
}

const VP8 = fourccCode("VP8 ");
const VP8L = fourccCode("VP8L");
const VP8X = fourccCode("VP8X");
const ANMF = fourccCode("ANMF");
const ANIM = fourccCode("ANIM");
const ALPH = fourccCode("ALPH");
const ICCP = fourccCode("ICCP");
const EXIF = fourccCode("EXIF");

const fourccName = (b: Uint8Array, at: number) => String.fromCharCode(b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!);

/**
 * An animation frame: its 16-byte header and its frame data only (ALPH, VP8, VP8L: RFC 9649 §2.7.1.1).
 * Anything else inside it (unknown chunks, which the format lets a frame carry) is dropped, as at the
 * top level; the frame's size is written for what is kept.
 */
function keepFrame(b: Uint8Array, out: Output, data: number, end: number, count: () => void): void {
  const kept: [number, number][] = [];
  let length = 16;
  for (let pos = data + 16; pos < end; ) {
    if (pos + 8 > end) throw corrupt("frame chunk header crosses the frame's end");
    count();
    const fourcc = u32be(b, pos);
    const size = u32le(b, pos + 4);
    const chunkEnd = pos + 8 + size + (size & 1);
    if (chunkEnd > end + (size & 1)) throw truncated(`${fourccName(b, pos).trim()} frame chunk`);
    if (fourcc === ALPH || fourcc === VP8 || fourcc === VP8L) {
      kept.push([pos, Math.min(chunkEnd, end)]);
      length += Math.min(chunkEnd, end) - pos;
    }
    pos = chunkEnd;
  }
  if (kept.length === 0) throw corrupt("animation frame without image data");
  const head = new Uint8Array(8 + 16);
  head.set(ascii("ANMF"), 0);
  writeU32le(head, 4, length);
  head.set(b.subarray(data, data + 16), 8);
  out.add(head);
  for (const [from, to] of kept) out.keep(from, to);
  if (length & 1) out.add(Uint8Array.of(0)); // the frame's own pad byte
}

export function stripWebp(b: Uint8Array, maxChunks: number): WalkResult {
  return guarded(() => {
    if (!hasAscii(b, 0, "RIFF") || !hasAscii(b, 8, "WEBP")) throw new Malformed("unsupported", "not a WebP file");
    const riffSize = u32le(b, 4);
    const end = 8 + riffSize;
    if (riffSize < 12) throw corrupt("RIFF size");
    if (end > b.length) throw truncated("RIFF payload");

    const count = blockCounter(maxChunks, "chunks");
    const out = new Output();
    // The RIFF header (and, in an extended file, the VP8X chunk) depend on what is kept: room for them
    // goes first, filled in at the end.
    let head = new Uint8Array(0);
    let size: Size = { width: 0, height: 0 };
    let orientation: number | null = null;
    let extended = false;
    let flags = 0;
    let canvas = 0; // offset of the VP8X payload
    let icc = false;
    let image = false;
    let exifSeen = false;
    // One pass, offsets only: a dropped chunk costs no object.
    for (let pos = 12; pos < end; ) {
      need(b, pos, 8, "chunk header");
      if (pos + 8 > end) throw corrupt("chunk header crosses the RIFF end");
      count();
      const fourcc = u32be(b, pos);
      const length = u32le(b, pos + 4);
      const start = pos;
      const data = pos + 8;
      const chunkEnd = data + length + (length & 1); // with its pad byte
      if (chunkEnd > end) throw truncated(`${fourccName(b, pos).trim()} chunk`);
      pos = chunkEnd;

      if (start === 12) {
        // The first chunk says which layout this is (RFC 9649 §2.5, §2.7).
        if (fourcc === VP8 || fourcc === VP8L) {
          size = fourcc === VP8 ? vp8Size(b.subarray(data, data + length)) : vp8lSize(b.subarray(data, data + length));
          head = new Uint8Array(12);
          out.add(head);
          out.keep(start, chunkEnd);
        } else if (fourcc === VP8X) {
          if (length < 10) throw truncated("VP8X header");
          extended = true;
          head = new Uint8Array(12 + 18);
          out.add(head);
          flags = b[data]!;
          canvas = data;
          size = { width: u24le(b, data + 4) + 1, height: u24le(b, data + 7) + 1 };
        } else {
          throw corrupt(`unexpected first chunk ${fourccName(b, start)}`);
        }
        continue;
      }
      // A simple file (a lone VP8 or VP8L) cannot carry anything else: every later chunk is dropped.
      if (!extended) continue;
      if (fourcc === VP8 || fourcc === VP8L) {
        // Pixel count uses the larger of canvas and bitstream: a small canvas must not hide a huge frame.
        const bitstream = b.subarray(data, data + length);
        const frame = fourcc === VP8 ? vp8Size(bitstream) : vp8lSize(bitstream);
        size = { width: Math.max(size.width, frame.width), height: Math.max(size.height, frame.height) };
        image = true;
        out.keep(start, chunkEnd);
      } else if (fourcc === ANMF) {
        if (length < 16) throw truncated("ANMF header");
        size = {
          width: Math.max(size.width, u24le(b, data + 6) + 1),
          height: Math.max(size.height, u24le(b, data + 9) + 1),
        };
        image = true;
        keepFrame(b, out, data, data + length, count);
      } else if (fourcc === ICCP) {
        // One profile; an empty one says nothing.
        if (length > 0 && !icc) {
          icc = true;
          out.keep(start, chunkEnd);
        }
      } else if (fourcc === ALPH || fourcc === ANIM) {
        if (length > 0) out.keep(start, chunkEnd); // empty: no alpha data, no loop settings
      } else if (fourcc === EXIF && !exifSeen) {
        exifSeen = true;
        orientation = readOrientation(tiffOf(b.subarray(data, data + length)));
      }
      // XMP and unknown chunks: dropped.
    }
    if (extended) {
      if (!image) throw corrupt("extended WebP without image data");
      // Metadata goes last (RFC 9649 §2.7).
      if (orientation !== null) out.add(chunk("EXIF", orientationTiff(orientation)));
      const header = new Uint8Array(10);
      header.set(b.subarray(canvas, canvas + 10));
      header[0] =
        (flags & (FLAG_ALPHA | FLAG_ANIMATION)) | (icc ? FLAG_ICC : 0) | (orientation !== null ? FLAG_EXIF : 0);
      head.set(chunk("VP8X", header), 12);
    }
    head.set(ascii("RIFF"), 0);
    writeU32le(head, 4, out.length - 8);
    head.set(ascii("WEBP"), 8);
    return { width: size.width, height: size.height, orientation, pieces: out.finish() };
  });
}
