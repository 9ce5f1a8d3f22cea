/** Type allowlist by magic bytes, and robustness: no input, however broken, makes a walker throw. */
import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { sniffFormat, stripImage } from "../../../src/lib/image";
import { readOrientation } from "../../../src/lib/image/exif";
import { cat, exifTiff, gifWithMetadata, jpegWithMetadata, pngWithMetadata, text, webpWithMetadata } from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

const SAMPLES = {
  jpeg: jpegWithMetadata(),
  png: pngWithMetadata(),
  webp: webpWithMetadata(),
  gif: gifWithMetadata(),
};

describe("format allowlist", () => {
  it.each(Object.entries(SAMPLES))("%s is recognised by its magic bytes", (format, bytes) => {
    expect(sniffFormat(bytes)).toBe(format);
  });

  it.each([
    ["SVG", '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'],
    ["HTML", "<!doctype html><html><body><script>alert(1)</script></body></html>"],
    ["PDF", "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF"],
    ["BMP", "BM\x36\0\0\0\0\0\0\0\x36\0\0\0"],
    ["empty", ""],
    ["garbage", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"],
  ])("%s is not an allowed type", (_name, content) => {
    expect(sniffFormat(text(content))).toBeNull();
    expect(stripImage(text(content), LIMITS)).toMatchObject({ ok: false, reason: "unsupported", format: null });
  });

  it.each([
    ["GIF header followed by script", cat(text("GIF89a/*"), text("*/=1;alert(document.domain)//"))],
    ["JPEG magic followed by HTML", cat([0xff, 0xd8, 0xff], text("<html><script>alert(1)</script></html>"))],
    ["PNG signature followed by HTML", cat([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], text("<html></html>"))],
    ["RIFF/WEBP header followed by HTML", cat(text("RIFF\x40\0\0\0WEBP"), text("<html><script></script>"))],
  ])("a polyglot (%s) that does not parse as its claimed type is rejected", (_name, bytes) => {
    const result = stripImage(bytes, LIMITS);
    expect(result.ok).toBe(false);
    expect(result.ok ? null : result.reason).toMatch(/^(corrupt|truncated)$/);
  });
});

describe("robustness against truncated and corrupted files", () => {
  it.each(Object.entries(SAMPLES))(
    "%s cut at every length is rejected with a typed reason, never thrown",
    (_f, bytes) => {
      for (let length = 0; length < bytes.length; length++) {
        const result = stripImage(bytes.subarray(0, length), LIMITS);
        // Cutting only trailing data off still leaves a whole image; everything shorter is refused.
        if (result.ok) continue;
        expect(["unsupported", "truncated", "corrupt"]).toContain(result.reason);
      }
      const cutInImage = stripImage(bytes.subarray(0, Math.floor(bytes.length / 2)), LIMITS);
      expect(cutInImage.ok).toBe(false);
    },
  );

  it.each(Object.entries(SAMPLES))("%s with random byte corruption never throws", (_f, bytes) => {
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    for (let round = 0; round < 2000; round++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips; i++) copy[Math.floor(random() * copy.length)] = Math.floor(random() * 256);
      expect(() => stripImage(copy, LIMITS)).not.toThrow();
    }
  });
});

describe("Exif orientation reader", () => {
  it("reads both byte orders and ignores broken blocks instead of failing the image", () => {
    expect(readOrientation(exifTiff({ order: "II", orientation: 7 }))).toBe(7);
    expect(readOrientation(exifTiff({ order: "MM", orientation: 2 }))).toBe(2);
    expect(readOrientation(exifTiff({ order: "MM", orientation: 9 }))).toBeNull();
    expect(readOrientation(exifTiff({ order: "II" }))).toBeNull();
    expect(readOrientation(text("II*\0\xff\xff\xff\x7f"))).toBeNull();
    expect(readOrientation(text("XX"))).toBeNull();
  });
});
