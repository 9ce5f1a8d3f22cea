/**
 * `scanEnd`, the search for the marker that ends JPEG entropy-coded data, against a byte-by-byte
 * reference: the same answer for every start offset, view alignment, length and density of 0xFF.
 * The fast path reads whole 32-bit words and 64-byte blocks, so these tests put markers, stuffing,
 * restarts and fill at every position relative to word and block boundaries.
 */
import { describe, expect, it } from "vitest";
import { Malformed } from "../../../src/lib/image/bytes";
import { scanEnd } from "../../../src/lib/image/jpeg";

type Answer = number | "truncated";

/** The rule, one byte at a time: the first 0xFF not followed by 0x00, RST0–7 (0xD0–0xD7) or 0xFF. */
function reference(b: Uint8Array, from: number): Answer {
  for (let p = from; p < b.length; p++) {
    if (b[p] !== 0xff) continue;
    if (p + 1 === b.length) return "truncated";
    const next = b[p + 1]!;
    const stuffing = next === 0x00;
    const restart = next >= 0xd0 && next <= 0xd7;
    const fill = next === 0xff;
    if (!stuffing && !restart && !fill) return p;
  }
  return "truncated";
}

function actual(b: Uint8Array, from: number): Answer {
  try {
    return scanEnd(b, from);
  } catch (error) {
    if (error instanceof Malformed && error.reason === "truncated") return "truncated";
    throw error;
  }
}

/** Deterministic xorshift32: random(n) is in [0, n). */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/**
 * `bytes` copied into a larger buffer at byte offset `offset` and returned as a view of it. The
 * rest of that buffer is 0xFF 0xD9 (EOI) over and over: a read outside the view finds a marker.
 */
function viewAt(bytes: Uint8Array, offset: number): Uint8Array {
  const buffer = new Uint8Array(offset + bytes.length + 9);
  for (let i = 0; i < buffer.length; i++) buffer[i] = i % 2 === 0 ? 0xff : 0xd9;
  buffer.set(bytes, offset);
  return buffer.subarray(offset, offset + bytes.length);
}

const OFFSETS = [0, 1, 2, 3, 4, 5, 7, 13]; // every alignment mod 4 and mod 8

/**
 * Compares scanEnd with the reference on `bytes` at every view offset and every start offset
 * 0…maxFrom (and the end); returns the disagreements.
 */
function disagreements(bytes: Uint8Array, maxFrom = 40): string[] {
  const out: string[] = [];
  for (const offset of OFFSETS) {
    const b = viewAt(bytes, offset);
    for (let from = 0; from <= Math.min(maxFrom, b.length); from++) {
      const want = reference(b, from);
      const got = actual(b, from);
      if (got !== want) out.push(`length ${b.length}, byteOffset ${offset}, from ${from}: ${got}, expected ${want}`);
    }
  }
  return out;
}

/** Scan-like bytes: random, each 0xFF stuffed with 0x00, now and then a restart, a fill run or a marker. */
function scanLike(random: (n: number) => number, length: number): Uint8Array {
  const out: number[] = [];
  while (out.length < length) {
    const roll = random(1000);
    if (roll < 4) out.push(0xff, 0xd0 + random(8));
    else if (roll < 6) out.push(0xff, 0xff, 0xff);
    else if (roll < 7) out.push(0xff, [0xd9, 0xc4, 0xda, 0xdd, 0x01, 0xfe][random(6)]!);
    else {
      const byte = random(256);
      out.push(byte);
      if (byte === 0xff) out.push(0x00);
    }
  }
  return Uint8Array.from(out.slice(0, length));
}

/** Bytes where about half are 0xFF and the rest are the values that decide what a 0xFF means. */
function dense(random: (n: number) => number, length: number): Uint8Array {
  const others = [0x00, 0x00, 0xd0, 0xd3, 0xd7, 0xd8, 0xcf, 0xd9, 0xfe, 0x01, 0x7f, 0x80];
  return Uint8Array.from({ length }, () => (random(2) === 0 ? 0xff : others[random(others.length)]!));
}

/** Bytes with no 0xFF at all. */
function clean(random: (n: number) => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => random(255));
}

describe("scanEnd (the end of JPEG entropy-coded data)", () => {
  it("agrees with a byte-by-byte reference on random scan-like data, at every start 0–40 and alignment", () => {
    const random = prng(0x5eed0001);
    const bad: string[] = [];
    for (let round = 0; round < 160; round++) {
      const length = round < 100 ? random(200) : 64 * (1 + random(4)) + random(8) - 4;
      bad.push(...disagreements(scanLike(random, length)));
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("agrees on buffers dense with 0xFF: stuffing, restarts, fill and markers side by side", () => {
    const random = prng(0x5eed0002);
    const bad: string[] = [];
    for (let round = 0; round < 160; round++) bad.push(...disagreements(dense(random, random(180))));
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("agrees on long stretches of stuffed 0xFF 0x00 and of fill, which every word and block tests as 0xFF", () => {
    const random = prng(0x5eed0003);
    const bad: string[] = [];
    for (let round = 0; round < 60; round++) {
      const pair = [
        [0xff, 0x00],
        [0xff, 0xff],
        [0xff, 0xd0 + random(8)],
      ][random(3)]!;
      const length = 100 + random(100);
      const bytes = Uint8Array.from({ length }, (_, i) => pair[i % 2]!);
      // A marker somewhere, or none.
      if (random(3) > 0) {
        const at = random(length - 1);
        bytes[at] = 0xff;
        bytes[at + 1] = 0xd9;
      }
      bad.push(...disagreements(bytes));
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("finds a lone marker at every position, in every byte of a word and across word and 64-byte block edges", () => {
    const random = prng(0x5eed0004);
    const bad: string[] = [];
    for (const length of [140, 141, 142, 143]) {
      const base = clean(random, length);
      for (let at = 0; at + 1 < length; at++) {
        const bytes = base.slice();
        bytes[at] = 0xff;
        bytes[at + 1] = [0xd9, 0xc4, 0x01, 0xfe][at % 4]!;
        for (const offset of OFFSETS) {
          const b = viewAt(bytes, offset);
          for (const from of [0, 1, 2, 3, Math.max(0, at - 5), at, at + 1]) {
            const want: Answer = from <= at ? at : "truncated";
            const got = actual(b, from);
            if (got !== want) bad.push(`marker at ${at}, length ${length}, byteOffset ${offset}, from ${from}: ${got}`);
          }
        }
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("finds a marker right after stuffing, a restart or a fill run in the same word or block", () => {
    const bad: string[] = [];
    const before = [
      [0xff, 0x00],
      [0xff, 0xd5],
      [0xff, 0xff],
      [0xff, 0xff, 0xff],
      [0xff, 0x00, 0xff, 0x00],
    ];
    for (let at = 0; at < 130; at++) {
      for (const prefix of before) {
        const bytes = new Uint8Array(140).fill(0x11);
        bytes.set(prefix, at);
        bytes.set([0xff, 0xd9], at + prefix.length);
        // After a fill run too, the marker starts at the 0xFF right before 0xD9, the run's last.
        const want = at + prefix.length;
        if (reference(bytes, 0) !== want) throw new Error(`reference disagrees at ${at}`);
        for (const offset of OFFSETS) {
          const got = actual(viewAt(bytes, offset), 0);
          if (got !== want) bad.push(`prefix ${prefix} at ${at}, byteOffset ${offset}: ${got}, expected ${want}`);
        }
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
  });

  it("reports a 0xFF as the very last byte as truncated, whatever the length and alignment", () => {
    const random = prng(0x5eed0005);
    const bad: string[] = [];
    for (let length = 1; length <= 140; length++) {
      const bytes = clean(random, length);
      bytes[length - 1] = 0xff;
      bad.push(...disagreements(bytes, 40));
      // The view ends in 0xFF while its buffer goes on with 0xD9: nothing past the end is read.
      for (const offset of OFFSETS) {
        if (actual(viewAt(bytes, offset), 0) !== "truncated") bad.push(`length ${length}, byteOffset ${offset}`);
      }
    }
    expect(bad.slice(0, 10)).toEqual([]);
    expect(actual(new Uint8Array(0), 0)).toBe("truncated");
    expect(actual(Uint8Array.of(0xff, 0xd9), 2)).toBe("truncated");
  });

  it("tells restart markers and stuffing from markers for every second byte value", () => {
    const bad: string[] = [];
    for (let next = 0; next < 256; next++) {
      const bytes = new Uint8Array(70).fill(0x42);
      bytes[33] = 0xff;
      bytes[34] = next;
      const want = reference(bytes, 0);
      for (const offset of OFFSETS) {
        const got = actual(viewAt(bytes, offset), 0);
        if (got !== want) bad.push(`0xFF 0x${next.toString(16)}, byteOffset ${offset}: ${got}, expected ${want}`);
      }
    }
    expect(bad).toEqual([]);
    // Spot checks of the reference itself.
    expect(reference(Uint8Array.of(0xff, 0x00, 0xff, 0xd7, 0xff, 0xff, 0xd9), 0)).toBe(5);
    expect(reference(Uint8Array.of(0xff, 0xd8), 0)).toBe(0);
  });

  it("agrees on a megabyte of scan-like data, from several starts and alignments", () => {
    const random = prng(0x5eed0006);
    const raw = clean(random, 1 << 20);
    const out: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      // Real scan data: about one 0xFF in 256 bytes, stuffed, and a restart marker every 4 KB.
      if (random(256) === 0) out.push(0xff, 0x00);
      else out.push(raw[i]!);
      if (i % 4096 === 4095) out.push(0xff, 0xd0 + ((i >> 12) & 7));
    }
    out.push(0xff, 0xd9);
    const bytes = Uint8Array.from(out);
    for (const offset of [0, 1, 2, 3]) {
      const b = viewAt(bytes, offset);
      for (const from of [0, 1, 2, 3, 1000, 65537]) expect(actual(b, from)).toBe(reference(b, from));
    }
    expect(actual(bytes, 0)).toBe(bytes.length - 2);
  });
});
