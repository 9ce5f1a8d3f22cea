/** Building the stripped image inside the input buffer gives exactly the copying result. */
import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { stripImage } from "../../../src/lib/image";
import { assembleInPlace, concat } from "../../../src/lib/image/bytes";
import { gifWithMetadata, jpegWithMetadata, pngWithMetadata, webpWithMetadata } from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

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
      const input = Uint8Array.from({ length: 64 + random(64) }, () => random(256));
      const parts: Uint8Array[] = [];
      for (let at = 0; at < input.length; ) {
        const length = 1 + random(12);
        if (random(3) === 0) parts.push(input.slice(0, 1 + random(8)).map(() => random(256))); // a new part
        if (random(2) === 0) parts.push(input.subarray(at, Math.min(input.length, at + length))); // kept
        at += length;
      }
      const expected = concat(parts);
      const owned = input.slice();
      const remapped = parts.map((p) =>
        p.buffer === input.buffer ? owned.subarray(p.byteOffset, p.byteOffset + p.length) : p,
      );
      const result = assembleInPlace(owned, remapped);
      if (result === null) continue;
      inPlaceCount++;
      expect(result).toEqual(expected);
      expect(result.buffer).toBe(owned.buffer);
    }
    expect(inPlaceCount).toBeGreaterThan(500);
  });

  it("refuses views out of input order and output that would not fit", () => {
    const input = Uint8Array.from({ length: 16 }, (_, i) => i);
    expect(assembleInPlace(input, [input.subarray(8, 10), input.subarray(0, 2)])).toBeNull();
    expect(assembleInPlace(input, [input.subarray(12, 16), new Uint8Array(8)])).toBeNull();
    expect(assembleInPlace(input, [new Uint8Array(3)])).toBeNull();
    expect(assembleInPlace(input, [new Uint8Array(20), input.subarray(4, 8)])).toBeNull();
  });
});
