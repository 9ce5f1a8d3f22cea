/**
 * Image intake: identify the format by magic bytes (never by name or declared type), read the size
 * from the headers, refuse pixel floods and block floods, and strip metadata losslessly with the
 * format's walker.
 * Returns a typed result; corrupt or truncated input is a rejection, never an exception.
 */
import { assemble, assembleInPlace, type ImageFormat, type RejectReason, type WalkResult } from "./bytes";
import { stripGif } from "./gif";
import { stripJpeg } from "./jpeg";
import { PNG_SIGNATURE, stripPng } from "./png";
import { stripWebp } from "./webp";

export type { ImageFormat, RejectReason } from "./bytes";

export const CONTENT_TYPES: Record<ImageFormat, string> = {
  jpeg: "image/jpeg",
  png: "image/png",
  webp: "image/webp",
  gif: "image/gif",
};

export const EXTENSIONS: Record<ImageFormat, string> = { jpeg: "jpg", png: "png", webp: "webp", gif: "gif" };

const WALKERS: Record<ImageFormat, (bytes: Uint8Array, maxBlocks: number) => WalkResult> = {
  jpeg: stripJpeg,
  png: stripPng,
  webp: stripWebp,
  gif: stripGif,
};

/** The allowlisted raster format `bytes` claim by their magic number, or null (SVG, HTML, PDF, …). */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  const starts = (sig: readonly number[], at = 0) => sig.every((byte, i) => bytes[at + i] === byte);
  if (starts([0xff, 0xd8, 0xff])) return "jpeg";
  if (starts([...PNG_SIGNATURE])) return "png";
  if (starts([0x47, 0x49, 0x46, 0x38]) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return "gif";
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return "webp";
  return null;
}

export interface StrippedImage {
  format: ImageFormat;
  contentType: string;
  width: number;
  height: number;
  /** Exif Orientation kept in the output (1–8), or null. */
  orientation: number | null;
  bytes: Uint8Array;
}

export type ImageRejection = RejectReason | "too-many-pixels";

export type ImageResult =
  | { ok: true; image: StrippedImage }
  | { ok: false; reason: ImageRejection; format: ImageFormat | null; detail: string };

export interface ImageLimits {
  /** Width × height above this is refused before any output is built (decompression bomb). */
  maxPixels: number;
  /**
   * Blocks (JPEG segments, PNG and WebP chunks, GIF blocks) per file, kept or dropped: above this the
   * file is refused (`too-many-segments`) as soon as the walker reaches the next one (block flood).
   */
  maxBlocks: Readonly<Record<ImageFormat, number>>;
}

export interface StripOptions {
  /**
   * Build the output inside `bytes` (rearranging it) instead of a new buffer, where that is safe:
   * the image data is then never copied, and an upload is held in memory once instead of twice.
   * Only for a caller that owns `bytes` and will not read it again.
   */
  inPlace?: boolean;
}

export function stripImage(bytes: Uint8Array, limits: ImageLimits, options: StripOptions = {}): ImageResult {
  const format = sniffFormat(bytes);
  if (!format) return { ok: false, reason: "unsupported", format, detail: "not a JPEG, PNG, WebP or GIF image" };
  const walked = WALKERS[format](bytes, limits.maxBlocks[format]);
  if (!walked.ok) return { ok: false, reason: walked.reason, format, detail: walked.detail };
  const { width, height, orientation, pieces } = walked.value;
  if (width * height > limits.maxPixels) {
    return {
      ok: false,
      reason: "too-many-pixels",
      format,
      detail: `${width}×${height} is more than ${limits.maxPixels} pixels`,
    };
  }
  return {
    ok: true,
    image: {
      format,
      contentType: CONTENT_TYPES[format],
      width,
      height,
      orientation,
      bytes: (options.inPlace ? assembleInPlace(bytes, pieces) : null) ?? assemble(bytes, pieces),
    },
  };
}
