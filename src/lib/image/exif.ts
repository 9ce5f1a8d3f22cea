/**
 * The one Exif fact worth keeping: Orientation (tag 0x0112 in IFD0). Reads it from a TIFF-structured
 * Exif block in either byte order, and writes the smallest Exif block that carries only it — what
 * `exiftool -all= -tagsfromfile @ -orientation` leaves behind. Everything else in Exif (GPS, serial
 * numbers, MakerNotes, the IFD1 thumbnail) is dropped by the format walkers.
 */

const ORIENTATION_TAG = 0x0112;
const TYPE_SHORT = 3;

/** The identifier that precedes the TIFF block in a JPEG APP1 segment (and in some WebP EXIF chunks). */
export const EXIF_IDENTIFIER = "Exif\0\0";

/**
 * Orientation (1–8) from IFD0 of `tiff`, or null when absent, out of range or the block is broken.
 * Never throws: a broken Exif block is dropped with the rest of the metadata, it does not reject the
 * image.
 */
export function readOrientation(tiff: Uint8Array): number | null {
  if (tiff.length < 8) return null;
  let little: boolean;
  if (tiff[0] === 0x49 && tiff[1] === 0x49) little = true;
  else if (tiff[0] === 0x4d && tiff[1] === 0x4d) little = false;
  else return null;
  const u16 = (o: number) => (little ? tiff[o]! | (tiff[o + 1]! << 8) : (tiff[o]! << 8) | tiff[o + 1]!);
  const u32 = (o: number) =>
    little
      ? (tiff[o]! | (tiff[o + 1]! << 8) | (tiff[o + 2]! << 16) | (tiff[o + 3]! << 24)) >>> 0
      : ((tiff[o]! << 24) | (tiff[o + 1]! << 16) | (tiff[o + 2]! << 8) | tiff[o + 3]!) >>> 0;
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return null;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + i * 12;
    if (entry + 12 > tiff.length) return null;
    if (u16(entry) !== ORIENTATION_TAG) continue;
    if (u16(entry + 2) !== TYPE_SHORT || u32(entry + 4) !== 1) return null;
    const value = u16(entry + 8);
    return value >= 1 && value <= 8 ? value : null;
  }
  return null;
}

/** A big-endian TIFF block whose IFD0 holds only Orientation (26 bytes). */
export function orientationTiff(orientation: number): Uint8Array {
  return Uint8Array.of(
    0x4d,
    0x4d,
    0x00,
    0x2a, // "MM", 42
    0x00,
    0x00,
    0x00,
    0x08, // IFD0 at offset 8
    0x00,
    0x01, // one entry
    0x01,
    0x12,
    0x00,
    0x03,
    0x00,
    0x00,
    0x00,
    0x01, // Orientation, SHORT, count 1
    0x00,
    orientation & 0xff,
    0x00,
    0x00, // value, left-justified
    0x00,
    0x00,
    0x00,
    0x00, // no IFD1 (so no thumbnail)
  );
}

/** The TIFF block inside an Exif payload, with or without the "Exif\0\0" identifier in front. */
export function tiffOf(payload: Uint8Array): Uint8Array {
  let prefixed = payload.length >= 6;
  for (let i = 0; prefixed && i < 6; i++) prefixed = payload[i] === EXIF_IDENTIFIER.charCodeAt(i);
  return prefixed ? payload.subarray(6) : payload;
}
