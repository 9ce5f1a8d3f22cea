/**
 * GIF metadata stripping by block walk (GIF89a specification). Image blocks (descriptor, colour
 * table, LZW data) are copied through byte for byte.
 *
 * Kept: header, logical screen descriptor and global colour table, image blocks, graphic control
 * and plain text extensions (they change what is shown), the NETSCAPE2.0 / ANIMEXTS1.0 loop
 * extension, and the ICCRGBG1 colour profile. Dropped: comment extensions, every other application
 * extension (XMP among them), unknown extensions, and anything after the trailer; and blocks that
 * carry nothing: a graphic control extension without its 4 bytes (disposal, delay, transparency),
 * one that no image follows or another replaces before its image (§23: it applies to the next
 * graphic rendering block; decoders take the last one seen), a loop or ICC extension with no data.
 *
 * Every block counts towards `maxBlocks` (kept or dropped); data sub-blocks inside a block do not,
 * they cost no object to skip.
 */
import { corrupt, guarded, hasAscii, Malformed, need, truncated, u16le, type WalkResult } from "./bytes";
import { blockCounter, Output } from "./output";

const IMAGE = 0x2c;
const EXTENSION = 0x21;
const TRAILER = 0x3b;
const GRAPHIC_CONTROL = 0xf9;
const PLAIN_TEXT = 0x01;
const APPLICATION = 0xff;
const KEPT_APPLICATIONS = ["NETSCAPE2.0", "ANIMEXTS1.0", "ICCRGBG1012"];

/** Offset just past a run of data sub-blocks starting at `pos` (ends with a zero-length block). */
function skipSubBlocks(b: Uint8Array, pos: number): number {
  let at = pos;
  for (;;) {
    need(b, at, 1, "data sub-block");
    const size = b[at]!;
    at += 1;
    if (size === 0) return at;
    need(b, at, size, "data sub-block");
    at += size;
  }
}

const colourTableBytes = (packed: number) => (packed & 0x80 ? 3 * (1 << ((packed & 0x07) + 1)) : 0);

/** Whether the application extension at `start` is a kept one with data after its identifier. */
function keptApplication(b: Uint8Array, start: number): boolean {
  // 21 FF 0B <8-byte identifier, 3-byte code> <first data sub-block size> …
  return b[start + 2] === 11 && b[start + 14] !== 0 && KEPT_APPLICATIONS.some((id) => hasAscii(b, start + 3, id));
}

/**
 * A NETSCAPE2.0 or ANIMEXTS1.0 extension (`start` to `end`) as the animation needs it: its identifier,
 * then only its loop sub-block (01 and a 16-bit count) and buffering sub-block (02 and a 32-bit size).
 * Other sub-blocks a crafted one carries are dropped; with neither, the extension goes.
 */
function keepLoopSettings(b: Uint8Array, out: Output, start: number, end: number): void {
  const kept: number[] = [];
  let dropped = false;
  for (let at = start + 14; at < end - 1; at += 1 + b[at]!) {
    const size = b[at]!;
    if ((size === 3 && b[at + 1] === 1) || (size === 5 && b[at + 1] === 2)) kept.push(at);
    else dropped = true;
  }
  if (kept.length === 0) return;
  if (!dropped) {
    out.keep(start, end);
    return;
  }
  const parts = [b.subarray(start, start + 14), ...kept.map((at) => b.subarray(at, at + 1 + b[at]!)), Uint8Array.of(0)];
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  out.add(bytes);
}

export function stripGif(b: Uint8Array, maxBlocks: number): WalkResult {
  return guarded(() => {
    if (!hasAscii(b, 0, "GIF87a") && !hasAscii(b, 0, "GIF89a")) throw new Malformed("unsupported", "not a GIF file");
    need(b, 0, 13, "logical screen descriptor");
    let width = u16le(b, 6);
    let height = u16le(b, 8);
    if (width === 0 || height === 0) throw corrupt("logical screen size 0");
    let pos = 13 + colourTableBytes(b[10]!);
    need(b, 0, pos, "global colour table");
    const count = blockCounter(maxBlocks, "blocks");
    const out = new Output();
    out.keep(0, pos);
    let images = 0;
    // The graphic control extension waiting for the image it applies to: [controlStart, controlEnd).
    let controlStart = -1;
    let controlEnd = -1;
    const rendering = (start: number, end: number) => {
      if (controlStart >= 0) out.keep(controlStart, controlEnd);
      controlStart = -1;
      out.keep(start, end);
    };

    for (;;) {
      if (pos >= b.length) throw truncated("GIF without trailer");
      count();
      const start = pos;
      const introducer = b[pos]!;
      if (introducer === TRAILER) {
        if (images === 0) throw corrupt("no image before the trailer");
        out.keep(pos, pos + 1); // a graphic control still waiting has no image: dropped
        break; // anything after the trailer is dropped
      }
      if (introducer === IMAGE) {
        need(b, pos, 10, "image descriptor");
        const left = u16le(b, pos + 1);
        const top = u16le(b, pos + 3);
        const frameWidth = u16le(b, pos + 5);
        const frameHeight = u16le(b, pos + 7);
        if (frameWidth === 0 || frameHeight === 0) throw corrupt("image size 0");
        // A frame may extend past the logical screen; count the pixels it would need.
        width = Math.max(width, left + frameWidth);
        height = Math.max(height, top + frameHeight);
        pos += 10 + colourTableBytes(b[pos + 9]!);
        need(b, pos, 1, "LZW minimum code size");
        const codeSize = b[pos]!;
        if (codeSize < 1 || codeSize > 11) throw corrupt(`LZW minimum code size ${codeSize}`);
        pos = skipSubBlocks(b, pos + 1);
        images++;
        rendering(start, pos);
      } else if (introducer === EXTENSION) {
        need(b, pos, 2, "extension");
        const label = b[pos + 1]!;
        pos = skipSubBlocks(b, pos + 2);
        if (label === GRAPHIC_CONTROL) {
          // Replaces any control still waiting; one without its 4 bytes (21 F9 00 …) carries nothing.
          if (b[start + 2]! >= 4) {
            controlStart = start;
            controlEnd = pos;
          }
        } else if (label === PLAIN_TEXT) {
          rendering(start, pos);
        } else if (label === APPLICATION && keptApplication(b, start)) {
          if (hasAscii(b, start + 3, "ICCRGBG1012")) out.keep(start, pos);
          else keepLoopSettings(b, out, start, pos);
        }
        // Comment (0xFE), other application and unknown extensions: dropped.
      } else {
        throw corrupt(`unexpected block 0x${introducer.toString(16)} at offset ${pos}`);
      }
    }
    return { width, height, orientation: null, pieces: out.finish() };
  });
}
