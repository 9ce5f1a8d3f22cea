/** Building the stripped image inside the input buffer gives exactly the copying result. */
import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { stripImage } from "../../../src/lib/image";
import { assemble, assembleInPlace, concat } from "../../../src/lib/image/bytes";
import { Output } from "../../../src/lib/image/output";
import { gifWithMetadata, jpegWithMetadata, pngWithMetadata, webpWithMetadata } from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

/** A walker's pieces for `parts`: views of `input` become runs by offset, anything else is added. */
function piecesOf(input: Uint8Array, parts: Uint8Array[]) {
  const out = new Output();
  for (const part of parts) {
    if (part.buffer === input.buffer) out.keep(part.byteOffset, part.byteOffset + part.length);
    else out.add(part);
  }
  return out.finish();
}

describe("in-place assembly", () => {
  it.each([
    ["jpeg", jpegWithMetadata()],
    ["png", pngWithMetadata()],
    ["webp", webpWithMetadata()],
    ["gif", gifWithMetadata()],
  ])("%s: same bytes as the copying strip, and the image data is not copied", (_format, input) => {
    const expected = stripImage(input, LIMITS);
    const owned = input.slice();
    const inPlace = stripImage(owned, LIMITS, { inPlace: true });
    if (!expected.ok || !inPlace.ok) throw new Error("rejected");
    expect(inPlace.image.bytes).toEqual(expected.image.bytes);
    expect(inPlace.image.bytes.buffer).toBe(owned.buffer);
    expect(expected.image.bytes.buffer).not.toBe(input.buffer);
  });

  it("random layouts: whenever it answers, the answer equals concatenation; otherwise it refuses (null)", () => {
    let seed = 0x1badb002;
    const random = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let inPlaceCount = 0;
    for (let round = 0; round < 3000; round++) {
      const input = Uint8Array.from({ length: 64 + random(256) }, () => random(256));
      const parts: Uint8Array[] = [];
      for (let at = 0; at < input.length; ) {
        // Mostly short runs (copied byte by byte), some longer than 64 bytes (copied with `set`).
        const length = random(5) === 0 ? 60 + random(60) : 1 + random(12);
        if (random(3) === 0) parts.push(input.slice(0, 1 + random(8)).map(() => random(256))); // a new part
        if (random(2) === 0) parts.push(input.subarray(at, Math.min(input.length, at + length))); // kept
        at += length;
      }
      const expected = concat(parts);
      const pieces = piecesOf(input, parts);
      expect(pieces.length).toBe(expected.length);
      expect(assemble(input, pieces)).toEqual(expected);
      const owned = input.slice();
      const result = assembleInPlace(owned, pieces);
      if (result === null) continue;
      inPlaceCount++;
      expect(result).toEqual(expected);
      expect(result.buffer).toBe(owned.buffer);
    }
    expect(inPlaceCount).toBeGreaterThan(300);
  });

  it("refuses runs out of input order and output that would not fit", () => {
    const input = Uint8Array.from({ length: 16 }, (_, i) => i);
    const cases = [
      [input.subarray(8, 10), input.subarray(0, 2)],
      [input.subarray(12, 16), new Uint8Array(8)],
      [new Uint8Array(3)],
      [new Uint8Array(20), input.subarray(4, 8)],
    ];
    for (const parts of cases) expect(assembleInPlace(input, piecesOf(input, parts))).toBeNull();
  });
});
