/**
 * The worst-case files of each format for the walkers' memory, built for `bench/strip.mjs`:
 *
 * - `flood`: the upload size limit filled with the smallest block the walkers used to keep, one
 *   object each (the reported GIF: 3.5 million 3-byte graphic control extensions in 10 MB). Now
 *   refused at the block cap.
 * - `at cap`: the cap of blocks (to within one), kept and dropped in turn, so that every kept block is a
 *   piece of output of its own (adjacent kept blocks would leave as one): the most pieces an
 *   accepted file can cost, in the smallest file that costs them.
 *
 * Every file is written straight into one buffer (no garbage before the measurement starts).
 */
import { crc32 } from "node:zlib";

/** `block` `times` over, end to end, after `head` and before `tail`, in one buffer. */
function repeated(head, block, times, tail = []) {
  const out = new Uint8Array(head.length + block.length * times + tail.length);
  out.set(head);
  const start = head.length;
  const end = start + block.length * times;
  if (times > 0) out.set(block, start);
  for (let filled = block.length; start + filled < end; filled *= 2) {
    out.copyWithin(start + filled, start, start + Math.min(filled, end - start - filled));
  }
  out.set(tail, end);
  return out;
}

const ascii = (s) => Array.from(s, (c) => c.charCodeAt(0));
const le32 = (v) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const be32 = (v) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

// JPEG (T.81 B.2): a 16×16 greyscale frame, a scan of two bytes.
const SOI = [0xff, 0xd8];
const DQT = [0xff, 0xdb, 0, 3, 0]; // one byte of table: kept, not empty
const COM = [0xff, 0xfe, 0, 2]; // empty comment: dropped
const JPEG_TAIL = [
  ...[0xff, 0xc0, 0, 11, 8, 0, 16, 0, 16, 1, 1, 0x11, 0], // SOF0
  ...[0xff, 0xda, 0, 8, 1, 1, 0, 0, 63, 0], // SOS
  ...[0x12, 0x34], // scan data
  ...[0xff, 0xd9], // EOI
];

// PNG (3rd edition §5.3): chunks with real CRCs.
const chunk = (type, data) => {
  const body = [...ascii(type), ...data];
  return [...be32(data.length), ...body, ...be32(crc32(Uint8Array.from(body)))];
};
const PNG_HEAD = [
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  ...chunk("IHDR", [0, 0, 0, 16, 0, 0, 0, 16, 8, 0, 0, 0, 0]),
];
const PNG_TAIL = [...chunk("IDAT", [0x78, 0x01]), ...chunk("IEND", [])];

// WebP (RFC 9649): VP8X canvas 16×16, a VP8L header for 16×16.
const riffChunk = (fourcc, data) => [...ascii(fourcc), ...le32(data.length), ...data, ...(data.length & 1 ? [0] : [])];
const VP8X = riffChunk("VP8X", [0x10, 0, 0, 0, 15, 0, 0, 15, 0, 0]);
const VP8L = riffChunk("VP8L", [0x2f, ...le32(15 | (15 << 14))]);
const ALPH = riffChunk("ALPH", [0]); // kept
const XMP = riffChunk("XMP ", []); // dropped
/** A RIFF whose size field matches the whole buffer, once the buffer is built. */
const riffed = (bytes) => {
  bytes.set(le32(bytes.length - 8), 4);
  return bytes;
};
const RIFF_HEAD = [...ascii("RIFF"), 0, 0, 0, 0, ...ascii("WEBP"), ...VP8X];

// GIF89a: a 1×1 screen, 1×1 frames.
const GIF_HEAD = [...ascii("GIF89a"), 1, 0, 1, 0, 0, 0, 0];
const GIF_FRAME = [0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4c, 0x01, 0]; // kept
const EMPTY_CONTROL = [0x21, 0xf9, 0]; // the reported flood's block: kept by the old walker
const EMPTY_COMMENT = [0x21, 0xfe, 0]; // dropped
const GIF_TRAILER = [0x3b];

/** Builders per format and case; `caps` is LIMITS.mediaMaxBlocks, `size` the upload limit. */
export function worstCases(caps, size) {
  const pairs = (format, fixed) => Math.floor((caps[format] - fixed) / 2);
  return {
    jpeg: {
      flood: () => repeated(SOI, DQT, Math.floor((size - 2) / DQT.length)),
      // pairs of DQT + COM, then SOF, SOS and EOI (3 counted segments)
      "at cap": () => repeated(SOI, [...DQT, ...COM], pairs("jpeg", 3), JPEG_TAIL),
    },
    png: {
      flood: () => repeated(PNG_HEAD, chunk("IDAT", [0]), Math.floor((size - PNG_HEAD.length) / 13)),
      // pairs of sBIT + empty tEXt between IHDR and IDAT, IEND (3 counted chunks)
      "at cap": () => repeated(PNG_HEAD, [...chunk("sBIT", [8]), ...chunk("tEXt", [])], pairs("png", 3), PNG_TAIL),
    },
    webp: {
      flood: () => riffed(repeated(RIFF_HEAD, ALPH, Math.floor((size - RIFF_HEAD.length) / ALPH.length))),
      // pairs of ALPH + empty XMP between VP8X and VP8L (2 counted chunks)
      "at cap": () => riffed(repeated(RIFF_HEAD, [...ALPH, ...XMP], pairs("webp", 2), VP8L)),
    },
    gif: {
      flood: () =>
        repeated(GIF_HEAD, EMPTY_CONTROL, Math.floor((size - GIF_HEAD.length - 16) / 3), [
          ...GIF_FRAME,
          ...GIF_TRAILER,
        ]),
      // pairs of frame + empty comment, then the trailer (1 counted block)
      "at cap": () => repeated(GIF_HEAD, [...GIF_FRAME, ...EMPTY_COMMENT], pairs("gif", 1), GIF_TRAILER),
    },
  };
}
