import { describe, expect, it } from "vitest";
import { LIMITS as CONFIG } from "../../../src/config/limits";
import { stripImage } from "../../../src/lib/image";
import { stripJpeg } from "../../../src/lib/image/jpeg";
import {
  ADOBE_SEGMENT,
  app,
  cat,
  contains,
  ICC_SEGMENT,
  JPEG_SECRETS,
  jpeg,
  jpegScan,
  jpegSegments,
  jpegWithMetadata,
  readTiff,
  text,
} from "./fixtures";

const MAX_BLOCKS = CONFIG.mediaMaxBlocks;
const LIMITS = { maxPixels: 40_000_000, maxBlocks: MAX_BLOCKS };

function strip(bytes: Uint8Array) {
  const result = stripImage(bytes, LIMITS);
  if (!result.ok) throw new Error(`rejected: ${result.reason} ${result.detail}`);
  return result.image;
}

describe("JPEG stripping", () => {
  it.each(["II", "MM"] as const)(
    "removes Exif (GPS, serials, MakerNote, IFD1 thumbnail), XMP, IPTC, MPF, APPn, COM and trailing data (%s Exif)",
    (order) => {
      const input = jpegWithMetadata(order, 6);
      for (const secret of JPEG_SECRETS) expect(contains(input, secret), secret).toBe(true);
      const output = strip(input).bytes;
      for (const secret of JPEG_SECRETS) expect(contains(output, secret), secret).toBe(false);
      const markers = jpegSegments(output).segments.map((s) => s.marker);
      // SOI, JFIF, minimal Exif, ICC, Adobe, then the frame and tables exactly as they were.
      expect(markers).toEqual([0xe0, 0xe1, 0xe2, 0xee, 0xdb, 0xc0, 0xc4, 0xc4, 0xdd]);
      expect(output.length).toBeLessThan(input.length);
    },
  );

  it("keeps an Adobe segment's 12 bytes of colour transform only: bytes a crafted one carries past them are dropped", () => {
    const crafted = app(14, cat(text("Adobe"), [0, 100, 0, 0, 0, 0, 1], text("HIDDEN-GPS-52.52,13.40")));
    const output = strip(jpeg({ metadata: [crafted] })).bytes;
    expect(contains(output, "HIDDEN-GPS")).toBe(false);
    // Uploads strip in place: the same bytes.
    const inPlace = stripImage(jpeg({ metadata: [crafted] }), LIMITS, { inPlace: true });
    expect(inPlace.ok && [...inPlace.image.bytes]).toEqual([...output]);
    const adobe = jpegSegments(output).segments.filter((s) => s.marker === 0xee);
    expect(adobe.map((s) => [...s.payload])).toEqual([[...cat(text("Adobe"), [0, 100, 0, 0, 0, 0, 1])]]);
    // The usual 12-byte segment is kept as it was.
    const plain = jpegSegments(strip(jpeg({ metadata: [ADOBE_SEGMENT] })).bytes).segments;
    expect(plain.filter((s) => s.marker === 0xee).map((s) => s.payload.length)).toEqual([12]);
  });

  it("keeps the entropy-coded scan byte for byte, from SOS through EOI", () => {
    const input = jpegWithMetadata();
    const scan = jpegScan(input);
    // The fixture's scan holds stuffed 0xFF00 bytes and restart markers, the cases a naive walker trips on.
    expect(contains(scan, Uint8Array.of(0xff, 0x00))).toBe(true);
    expect(contains(scan, Uint8Array.of(0xff, 0xd0))).toBe(true);
    expect(jpegScan(strip(input).bytes)).toEqual(scan);
  });

  it.each([
    ["II", 6],
    ["MM", 3],
    ["II", 8],
    ["MM", 1],
  ] as const)("keeps Orientation from %s Exif (value %i) in a minimal Exif APP1 with nothing else", (order, value) => {
    const image = strip(jpegWithMetadata(order, value));
    expect(image.orientation).toBe(value);
    const exif = jpegSegments(image.bytes).segments.find((s) => s.marker === 0xe1)!;
    expect(new TextDecoder().decode(exif.payload.subarray(0, 6))).toBe("Exif\0\0");
    const tiff = readTiff(exif.payload.subarray(6));
    expect(tiff).toEqual({ tags: [0x0112], orientation: value, nextIfd: 0 });
  });

  it("writes no Exif at all when the original had no Orientation", () => {
    const input = jpeg({ metadata: [app(1, cat(text("Exif\0\0"), text("MM\0*\0\0\0\x08\0\0\0\0\0\0")))] });
    const image = strip(input);
    expect(image.orientation).toBeNull();
    expect(jpegSegments(image.bytes).segments.some((s) => s.marker === 0xe1)).toBe(false);
  });

  it("keeps the ICC profile and the Adobe segment byte for byte", () => {
    const output = strip(jpegWithMetadata()).bytes;
    expect(contains(output, ICC_SEGMENT)).toBe(true);
    expect(contains(output, ADOBE_SEGMENT)).toBe(true);
  });

  it("rewrites JFIF without its embedded thumbnail and keeps the density", () => {
    const jfif = jpegSegments(strip(jpegWithMetadata()).bytes).segments.find((s) => s.marker === 0xe0)!;
    expect([...jfif.payload]).toEqual([...text("JFIF\0"), 1, 2, 1, 0, 72, 0, 72, 0, 0]);
  });

  it("reads the size from the frame header", () => {
    const image = strip(jpeg({ width: 40, height: 24, restartInterval: 0 }));
    expect([image.width, image.height, image.format, image.contentType]).toEqual([40, 24, "jpeg", "image/jpeg"]);
  });

  it("is idempotent: stripping a stripped file changes nothing", () => {
    const once = strip(jpegWithMetadata()).bytes;
    expect(strip(once).bytes).toEqual(once);
  });

  it("leaves a file without metadata unchanged", () => {
    const plain = jpeg();
    expect(strip(plain).bytes).toEqual(plain);
  });

  it("refuses a pixel flood from the frame header alone (65000×65000)", () => {
    const flood = jpeg({ width: 8, height: 8 });
    const sof = jpegSegments(flood).segments.find((s) => s.marker === 0xc0)!;
    const out = flood.slice();
    const at = sof.offset + 5; // height, width after the precision byte
    out.set([0xfd, 0xe8, 0xfd, 0xe8], at);
    const result = stripImage(out, LIMITS);
    expect(result).toMatchObject({ ok: false, reason: "too-many-pixels", format: "jpeg" });
  });

  it("rejects a file that ends inside the scan, without EOI, or with a scan before the frame", () => {
    const input = jpeg();
    expect(stripJpeg(input.subarray(0, input.length - 2), MAX_BLOCKS.jpeg)).toMatchObject({
      ok: false,
      reason: "truncated",
    });
    const { sos } = jpegSegments(input);
    const noFrame = cat(input.subarray(0, 2), input.subarray(sos));
    expect(stripJpeg(noFrame, MAX_BLOCKS.jpeg)).toMatchObject({ ok: false, reason: "corrupt" });
    expect(stripJpeg(cat(input.subarray(0, 2), [0xff, 0xd9]), MAX_BLOCKS.jpeg)).toMatchObject({
      ok: false,
      reason: "corrupt",
    });
  });

  it("rejects a JPEG-LS or other extension frame as unsupported", () => {
    const ls = cat([0xff, 0xd8], [0xff, 0xf7, 0, 11, 8, 0, 8, 0, 8, 1, 1, 0x11, 0], jpeg().subarray(2));
    expect(stripJpeg(ls, MAX_BLOCKS.jpeg)).toMatchObject({ ok: false, reason: "unsupported" });
  });
});
