/**
 * Shared by the per-format metadata strippers: bounds-checked reads, the typed rejection, CRC-32
 * and concatenation. Walkers read untrusted bytes; every read goes through `need`, which turns an
 * out-of-bounds access into a `Malformed` the walker's entry point returns as a typed rejection.
 */
import type { Pieces } from "./output";

/** `too-many-segments`: more blocks than the caller's cap (see `blockCounter` in output.ts). */
export type RejectReason = "unsupported" | "truncated" | "corrupt" | "too-many-segments";

export type ImageFormat = "jpeg" | "png" | "webp" | "gif";

/** What a walker found: the image's size, its Exif orientation, and the output as ordered pieces. */
export interface Walked {
  width: number;
  height: number;
  /** Exif Orientation (1–8) carried into the output, or null when the input had none. */
  orientation: number | null;
  /** The output in order; mostly runs of the input (kept segments are never re-encoded). */
  pieces: Pieces;
}

export type WalkResult = { ok: true; value: Walked } | { ok: false; reason: RejectReason; detail: string };

/** Thrown inside a walker only; `guarded` converts it into a rejection. */
export class Malformed extends Error {
  override readonly name = "Malformed";
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(message);
  }
}

export const truncated = (what: string) => new Malformed("truncated", `${what}: the file ends early`);
export const corrupt = (what: string) => new Malformed("corrupt", what);

/** Runs a walker, turning `Malformed` into `{ ok: false }`. Anything else is a bug and propagates. */
export function guarded(walk: () => Walked): WalkResult {
  try {
    return { ok: true, value: walk() };
  } catch (error) {
    if (error instanceof Malformed) return { ok: false, reason: error.reason, detail: error.message };
    throw error;
  }
}

/** Asserts that `length` bytes exist at `offset`. */
export function need(bytes: Uint8Array, offset: number, length: number, what: string): void {
  if (offset < 0 || length < 0 || offset + length > bytes.length) throw truncated(what);
}

export function u16be(b: Uint8Array, o: number): number {
  need(b, o, 2, "16-bit field");
  return (b[o]! << 8) | b[o + 1]!;
}

export function u32be(b: Uint8Array, o: number): number {
  need(b, o, 4, "32-bit field");
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

export function u16le(b: Uint8Array, o: number): number {
  need(b, o, 2, "16-bit field");
  return b[o]! | (b[o + 1]! << 8);
}

export function u24le(b: Uint8Array, o: number): number {
  need(b, o, 3, "24-bit field");
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
}

export function u32le(b: Uint8Array, o: number): number {
  need(b, o, 4, "32-bit field");
  return b[o + 3]! * 0x1000000 + ((b[o + 2]! << 16) | (b[o + 1]! << 8) | b[o]!);
}

/** Whether `b` holds the ASCII text `text` at `o` (false when out of bounds; never throws). */
export function hasAscii(b: Uint8Array, o: number, text: string): boolean {
  if (o < 0 || o + text.length > b.length) return false;
  for (let i = 0; i < text.length; i++) if (b[o + i] !== text.charCodeAt(i)) return false;
  return true;
}

export function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/**
 * The walker's output laid out inside `input` itself, without copying the big pieces, when that is
 * safe; otherwise null. Runs of `input` (in input order) stay where they are or move a little; the
 * last run (the scan data, the IDAT run) stays in place, pieces before it are packed right up
 * against it, added pieces after it go into the dropped bytes that followed it.
 * Safe means: no piece is written over input bytes a later move still has to read. `input` is
 * rearranged, so only a caller that owns it and will not read it again may use this.
 */
export function assembleInPlace(input: Uint8Array, pieces: Pieces): Uint8Array | null {
  const { count, runs, added } = pieces;
  const pieceLength = (k: number) => {
    const start = runs[2 * k]!;
    return start >= 0 ? runs[2 * k + 1]! - start : added[-1 - start]!.length;
  };
  let anchor = -1;
  let previousEnd = 0;
  for (let k = 0; k < count; k++) {
    const start = runs[2 * k]!;
    if (start < 0) continue;
    if (start < previousEnd || runs[2 * k + 1]! > input.length) return null; // out of input order: not worth the bookkeeping
    previousEnd = runs[2 * k + 1]!;
    anchor = k;
  }
  if (anchor < 0) return null;
  const anchorStart = runs[2 * anchor]!;
  const anchorEnd = runs[2 * anchor + 1]!;
  let tail = 0;
  for (let k = anchor + 1; k < count; k++) tail += pieceLength(k);
  if (anchorEnd + tail > input.length) return null;

  // Destinations right to left from the anchor; each must stay clear of the input bytes that the
  // pieces before it still read, which end where the nearest run before it ends.
  const dest = new Int32Array(anchor + 1);
  dest[anchor] = anchorStart;
  let before = anchor - 1; // the nearest run before k (or -1), found walking left
  for (let k = anchor - 1; k >= 0; k--) {
    dest[k] = dest[k + 1]! - pieceLength(k);
    if (before >= k) before = k - 1;
    while (before >= 0 && runs[2 * before]! < 0) before--;
    if (dest[k]! < (before >= 0 ? runs[2 * before + 1]! : 0)) return null;
  }
  for (let k = anchor - 1; k >= 0; k--) {
    const start = runs[2 * k]!;
    if (start < 0) input.set(added[-1 - start]!, dest[k]!);
    else if (start !== dest[k]) input.copyWithin(dest[k]!, start, runs[2 * k + 1]!);
  }
  let at = anchorEnd;
  for (let k = anchor + 1; k < count; k++) {
    const piece = added[-1 - runs[2 * k]!]!; // only added pieces follow the last run
    input.set(piece, at);
    at += piece.length;
  }
  return input.subarray(dest[0]!, at);
}

/** Runs at most this long are copied byte by byte: a view to `set` from would cost more than they do. */
const SHORT_RUN = 64;

/** The walker's output in a new buffer. */
export function assemble(input: Uint8Array, pieces: Pieces): Uint8Array {
  const { count, runs, added } = pieces;
  const out = new Uint8Array(pieces.length);
  let at = 0;
  for (let k = 0; k < count; k++) {
    const start = runs[2 * k]!;
    if (start < 0) {
      const piece = added[-1 - start]!;
      out.set(piece, at);
      at += piece.length;
      continue;
    }
    const end = runs[2 * k + 1]!;
    if (end - start > SHORT_RUN) out.set(input.subarray(start, end), at);
    else for (let i = start; i < end; i++) out[at + i - start] = input[i]!;
    at += end - start;
  }
  return out;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG uses it) over `bytes[from, to)` (a range, so a walker needs no view per chunk). */
export function crc32(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let c = 0xffffffff;
  for (let i = from; i < to; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function writeU32be(out: Uint8Array, o: number, value: number): void {
  out[o] = (value >>> 24) & 0xff;
  out[o + 1] = (value >>> 16) & 0xff;
  out[o + 2] = (value >>> 8) & 0xff;
  out[o + 3] = value & 0xff;
}

export function writeU32le(out: Uint8Array, o: number, value: number): void {
  out[o] = value & 0xff;
  out[o + 1] = (value >>> 8) & 0xff;
  out[o + 2] = (value >>> 16) & 0xff;
  out[o + 3] = (value >>> 24) & 0xff;
}
