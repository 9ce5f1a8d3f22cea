/**
 * HTTP for the signed byte route: validators and conditional requests (RFC 9110 §8.8, §13), single
 * byte ranges (§14), and the headers that keep an uploaded file inert in a browser: nosniff, a
 * sandbox CSP, and an attachment-safe file name made from the id alone (never the client's name).
 */
import { EXTENSIONS, type ImageFormat } from "../../lib/image";
import type { MediaRow } from "./service";

export type RangeRequest =
  | { kind: "full" }
  | { kind: "partial"; offset: number; length: number }
  | { kind: "unsatisfiable" };

/**
 * One `bytes=` range against a representation of `size` bytes. Other units, several ranges or a
 * malformed header are ignored (the full body is a valid answer, §14.2); a well-formed range that
 * starts past the end is unsatisfiable (416).
 */
export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return { kind: "full" };
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match) return { kind: "full" };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "" && last === "") return { kind: "full" };
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return { kind: "unsatisfiable" };
    const length = Math.min(suffix, size);
    return { kind: "partial", offset: size - length, length };
  }
  const start = Number(first);
  if (start >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size - 1 : Number(last);
  if (end < start) return { kind: "full" };
  return { kind: "partial", offset: start, length: Math.min(end, size - 1) - start + 1 };
}

/** Whether an If-None-Match list matches `etag` (weak comparison, §13.1.2). */
export function noneMatch(header: string | null | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const opaque = (tag: string) => tag.trim().replace(/^W\//, "");
  return header.split(",").some((tag) => opaque(tag) === opaque(etag));
}

/** If-Range: the range applies only when the validator is our current strong ETag (§13.1.5). */
export function rangeApplies(ifRange: string | null | undefined, etag: string): boolean {
  return !ifRange || ifRange.trim() === etag;
}

export const etagOf = (row: Pick<MediaRow, "sha256">) => `"${row.sha256}"`;

const FORMATS: Record<string, ImageFormat> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
  "image/gif": "gif",
};

/** Headers shared by 200, 206 and 304 answers. Caches may keep the bytes only while the URL is valid. */
export function mediaHeaders(row: MediaRow, exp: number, nowSeconds: number): Headers {
  const maxAge = Math.max(0, exp - nowSeconds);
  const extension = EXTENSIONS[FORMATS[row.content_type] ?? "jpeg"];
  return new Headers({
    ETag: etagOf(row),
    "Cache-Control": `${row.visibility === "public" ? "public" : "private"}, max-age=${maxAge}`,
    "Accept-Ranges": "bytes",
    "X-Content-Type-Options": "nosniff",
    // The id is base64url, so the name needs no quoting rules beyond the quotes themselves.
    "Content-Disposition": `inline; filename="${row.id.replace(/[^A-Za-z0-9_-]/g, "_")}.${extension}"`,
    // A file that somehow renders as a document gets no script, no forms, no same-origin access.
    "Content-Security-Policy": "sandbox",
    // Front ends on other origins may show signed media in <img>; the signature is the access control.
    "Cross-Origin-Resource-Policy": "cross-origin",
  });
}
