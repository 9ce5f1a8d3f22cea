/**
 * Media: upload (sniff, pixel and block limits, lossless metadata strip, R2, D1 row), who may see
 * what, signed URLs, delete. R2 holds the bytes under a random key unrelated to the id; D1 holds the
 * row that says who owns them and who may read them. Nobody reads R2 except through a signed URL.
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { media } from "../../db/schema-media";
import { randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { stripImage } from "../../lib/image";
import { log } from "../../lib/log";
import { PUBLIC_PURPOSES, type UploadOptions } from "./schema";
import { signedPath, signMedia, verifyMedia } from "./signing";

export type MediaRow = RowOf<typeof media>;

export interface MediaDeps {
  db: D1Database;
  bucket: R2Bucket;
  config: Pick<Config, "mediaSigningKeys" | "mediaMaxUploadBytes">;
  /** Origin the signed URLs point at (PUBLIC_URL, else the request's). */
  origin: string;
  now?: number;
}

export interface Viewer {
  id: string;
  roles: readonly string[];
}

/** The R2 key prefix of media objects (docs/storage.md). */
export const MEDIA_KEY_PREFIX = "media/";

const nowMs = (deps: MediaDeps) => deps.now ?? Date.now();

/** A signed URL for `row`, with the lifetime its visibility allows. */
export async function signedUrl(deps: MediaDeps, row: Pick<MediaRow, "id" | "visibility">) {
  const now = Math.floor(nowMs(deps) / 1000);
  const exp =
    row.visibility === "public"
      ? Math.ceil((now + LIMITS.mediaPublicUrlSeconds) / 3600) * 3600
      : now + LIMITS.mediaPrivateUrlSeconds;
  const params = await signMedia(deps.config.mediaSigningKeys, row.id, exp);
  return { url: deps.origin + signedPath(row.id, params), expiresAt: new Date(exp * 1000).toISOString() };
}

export function toApiMedia(row: MediaRow, link: { url: string; expiresAt: string }) {
  return {
    id: row.id,
    ...link,
    contentType: row.content_type as "image/jpeg" | "image/png" | "image/webp" | "image/gif",
    width: row.width,
    height: row.height,
    bytes: row.bytes,
    purpose: row.purpose,
    visibility: row.visibility,
  };
}

/** Stores an upload. `file` is consumed: afterwards its buffer holds the stripped image. */
export async function uploadMedia(deps: MediaDeps, owner: Viewer, file: Uint8Array, options: UploadOptions) {
  if (file.length > deps.config.mediaMaxUploadBytes) {
    throw new DomainError("payload-too-large", `The file must not exceed ${deps.config.mediaMaxUploadBytes} bytes.`, {
      limitBytes: deps.config.mediaMaxUploadBytes,
    });
  }
  if (options.visibility === "public" && !PUBLIC_PURPOSES.has(options.purpose)) {
    throw new DomainError("validation-failed", "This purpose is always private.", {
      errors: [{ path: "visibility", message: "this purpose is always private" }],
    });
  }
  // In place: the upload buffer is ours alone, so the stripped image reuses it instead of a copy.
  const result = stripImage(
    file,
    { maxPixels: LIMITS.mediaMaxPixels, maxBlocks: LIMITS.mediaMaxBlocks },
    { inPlace: true },
  );
  if (!result.ok) {
    if (result.reason === "too-many-pixels") {
      throw new DomainError("too-many-pixels", `The image is larger than ${LIMITS.mediaMaxPixels} pixels.`, {
        maxPixels: LIMITS.mediaMaxPixels,
      });
    }
    if (result.reason === "too-many-segments" && result.format) {
      // A block flood: no real image has this many; refused before anything is built or stored.
      const maxSegments = LIMITS.mediaMaxBlocks[result.format];
      throw new DomainError("too-many-segments", `The image has more than ${maxSegments} segments.`, { maxSegments });
    }
    const what = result.format ? `a valid ${result.format.toUpperCase()} image` : "a JPEG, PNG, WebP or GIF image";
    throw new DomainError("unsupported-media-type", `The file is not ${what}.`, { reason: result.reason });
  }
  const { image } = result;
  const row: MediaRow = {
    id: randomId(),
    owner_id: owner.id,
    purpose: options.purpose,
    visibility: options.visibility,
    content_type: image.contentType,
    r2_key: MEDIA_KEY_PREFIX + randomToken(16),
    bytes: image.bytes.length,
    width: image.width,
    height: image.height,
    sha256: await sha256Hex(image.bytes),
    created_at: nowMs(deps),
  };
  // R2 first: a row never points at bytes that are not there. R2 checks the bytes against sha256.
  await deps.bucket.put(row.r2_key, image.bytes, {
    httpMetadata: { contentType: row.content_type },
    customMetadata: { mediaId: row.id },
    sha256: row.sha256,
  });
  let stored: boolean;
  try {
    // Only for an owner not erased: an upload still streaming when its owner's erasure ran (which
    // deleted their media) must not land afterwards, owned by the pseudonym, for good.
    const inserted = await deps.db
      .prepare(
        `INSERT INTO media (id, owner_id, purpose, visibility, content_type, r2_key, bytes, width, height, sha256, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11
         WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2 AND erased_at IS NULL)`,
      )
      .bind(
        row.id,
        row.owner_id,
        row.purpose,
        row.visibility,
        row.content_type,
        row.r2_key,
        row.bytes,
        row.width,
        row.height,
        row.sha256,
        row.created_at,
      )
      .run();
    stored = inserted.meta.changes === 1;
  } catch (error) {
    await deps.bucket.delete(row.r2_key).catch(() => undefined);
    throw error;
  }
  if (!stored) {
    await deps.bucket.delete(row.r2_key);
    throw new DomainError("unauthorized", "This account was deleted.");
  }
  return toApiMedia(row, await signedUrl(deps, row));
}

export function findMedia(db: D1Database, id: string): Promise<MediaRow | null> {
  return db.prepare("SELECT * FROM media WHERE id = ?").bind(id).first<MediaRow>();
}

/**
 * Who may get a URL: the owner and admins always; anyone for public media; anyone for the cover of
 * a published event whose host owns the image (a host cannot expose someone else's image by naming
 * it as a cover). Everyone else is told it does not exist.
 */
export async function canView(db: D1Database, row: MediaRow, viewer: Viewer | null): Promise<boolean> {
  if (viewer && (viewer.id === row.owner_id || viewer.roles.includes("admin"))) return true;
  if (row.visibility === "public" && PUBLIC_PURPOSES.has(row.purpose)) return true;
  if (row.purpose !== "event_cover") return false;
  const event = await db
    .prepare("SELECT 1 AS found FROM events WHERE cover_media_id = ? AND host_id = ? AND status = 'published' LIMIT 1")
    .bind(row.id, row.owner_id)
    .first();
  return event !== null;
}

export async function mediaUrl(deps: MediaDeps, viewer: Viewer | null, id: string) {
  const row = await findMedia(deps.db, id);
  if (!row || !(await canView(deps.db, row, viewer))) throw new DomainError("not-found", "No such media.");
  return signedUrl(deps, row);
}

/** The owner deletes: row first (no new URLs), then the bytes. Others are told it does not exist. */
export async function deleteMedia(deps: MediaDeps, owner: Viewer, id: string): Promise<void> {
  const deleted = await deps.db
    .prepare("DELETE FROM media WHERE id = ? AND owner_id = ? RETURNING r2_key")
    .bind(id, owner.id)
    .first<{ r2_key: string }>();
  if (!deleted) throw new DomainError("not-found", "No such media.");
  await deps.bucket.delete(deleted.r2_key);
}

/**
 * The row behind a signed URL, after checking the signature (403 for any failure; the reason goes
 * to the log only) and that the media still exists (404).
 */
export async function signedMedia(
  deps: MediaDeps,
  id: string,
  query: { exp?: string | undefined; kid?: string | undefined; sig?: string | undefined },
  requestId?: string,
): Promise<{ row: MediaRow; exp: number }> {
  const check = await verifyMedia(deps.config.mediaSigningKeys, id, query, Math.floor(nowMs(deps) / 1000));
  if (!check.ok) {
    log("info", "media signature refused", { requestId, reason: check.reason });
    throw new DomainError("forbidden", "This link is not valid or has expired.");
  }
  const row = await findMedia(deps.db, id);
  if (!row) throw new DomainError("not-found", "No such media.");
  return { row, exp: check.exp };
}

/** The stored bytes (all, or one range); null when the object is gone. */
export function readMedia(deps: MediaDeps, row: MediaRow, range?: { offset: number; length: number }) {
  return deps.bucket.get(row.r2_key, range ? { range } : undefined);
}
