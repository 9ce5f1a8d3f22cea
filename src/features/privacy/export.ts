/**
 * A person's data export (GDPR art. 15 and 20): asked for by the signed-in person, built after the
 * answer, written to R2 under `exports/<userId>/<id>.json`, tracked by a `data_exports` row, and
 * handed over by email as a link signed like media URLs (MEDIA_SIGNING_KEYS, the id namespaced
 * `export/<id>` so a media signature never opens an export and the other way round), valid until the
 * export expires 7 days later. The cron deletes expired archives and marks their rows.
 *
 * Built in the request's waitUntil, not on a queue: every kind is one bounded query
 * (./export-archive.ts, LIMITS.dataExportRowsPerKind), all in one D1 batch, then one R2 put: well
 * inside the 30 s a Worker may keep working after its answer. An isolate that dies half way leaves a
 * `pending` row; the cron marks it `failed` after LIMITS.dataExportStaleMs, and a failed export does
 * not count toward the one-a-day limit, so the person simply asks again.
 *
 * One export per person per LIMITS.dataExportIntervalMs: the row is inserted only when no export of
 * theirs (other than a failed one) is younger, in one statement, so concurrent requests get one row.
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { randomToken } from "../../lib/crypto";
import { DomainError, rateLimitedError } from "../../lib/errors";
import { log } from "../../lib/log";
import { iso } from "../../lib/time";
import { auditStatement, type RequestMeta } from "../audit";
import { findUserById } from "../auth";
import { type EmailQueue, emailStatements, enqueueCommitted } from "../email";
import { signMedia, verifyMedia } from "../media";
import { type ArchiveAccount, collectArchive } from "./export-archive";

export interface PrivacyDeps {
  db: D1Database;
  /** The MEDIA bucket: archives live under `exports/`. */
  bucket: R2Bucket;
  config: Config;
  meta: RequestMeta;
  /** Absolute origin of the emailed link (PUBLIC_URL, else the request's). */
  origin: string;
  emailQueue: EmailQueue;
  now?: number;
}

export const EXPORT_KEY_PREFIX = "exports/";

const nowOf = (deps: { now?: number }) => deps.now ?? Date.now();

export const exportKey = (userId: string, id: string) => `${EXPORT_KEY_PREFIX}${userId}/${id}.json`;

/** The signed message's id: namespaced, so media and export signatures never stand in for each other. */
const signedId = (id: string) => `export/${id}`;

export interface ExportRequest {
  id: string;
  status: "pending";
}

/** Records a new export for `userId`, or refuses (429 with Retry-After) while one is younger than a day. */
export async function requestExport(deps: PrivacyDeps, userId: string): Promise<ExportRequest> {
  const t = nowOf(deps);
  const id = randomToken(16);
  const windowStart = t - LIMITS.dataExportIntervalMs;
  const [inserted] = await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO data_exports (id, user_id, status, created_at, expires_at)
         SELECT ?1, ?2, 'pending', ?3, ?4 WHERE NOT EXISTS (
           SELECT 1 FROM data_exports WHERE user_id = ?2 AND status <> 'failed' AND created_at > ?5)`,
      )
      .bind(id, userId, t, t + LIMITS.dataExportLinkSeconds * 1000, windowStart),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "privacy.export-request", outcome: "success", userId, detail: { exportId: id } },
      t,
      { sql: "EXISTS (SELECT 1 FROM data_exports WHERE id = ?)", bindings: [id] },
    ),
  ]);
  if (inserted?.meta.changes === 1) return { id, status: "pending" };
  const last = await deps.db
    .prepare(
      "SELECT max(created_at) AS at FROM data_exports WHERE user_id = ? AND status <> 'failed' AND created_at > ?",
    )
    .bind(userId, windowStart)
    .first<{ at: number | null }>();
  const retryAfter = Math.max(1, Math.ceil(((last?.at ?? t) + LIMITS.dataExportIntervalMs - t) / 1000));
  throw rateLimitedError("data-export", retryAfter, "One data export a day: the last one is still recent.");
}

/**
 * Builds export `id` of `userId`: the archive to R2, the row `ready`, the email with its signed link,
 * the last two in one batch. Any failure marks the row `failed` (and drops a half-written archive).
 */
export async function buildExport(deps: PrivacyDeps, userId: string, id: string): Promise<void> {
  const key = exportKey(userId, id);
  try {
    const t = nowOf(deps);
    const row = await deps.db
      .prepare("SELECT expires_at FROM data_exports WHERE id = ? AND user_id = ? AND status = 'pending'")
      .bind(id, userId)
      .first<{ expires_at: number }>();
    if (!row) return;
    const user = await findUserById(deps, userId);
    if (!user || user.erased_at !== null) throw new Error("account gone");
    const account: ArchiveAccount = {
      id: user.id,
      email: user.email,
      name: user.name,
      roles: JSON.parse(user.roles) as string[],
      hasPassword: user.password_hash !== null,
      emailVerifiedAt: user.email_verified_at === null ? null : iso(user.email_verified_at),
      createdAt: iso(user.created_at),
    };
    const body = JSON.stringify(await collectArchive(deps.db, deps.config.pii, account, t), null, 2);
    await deps.bucket.put(key, body, {
      httpMetadata: { contentType: "application/json; charset=utf-8", contentDisposition: "attachment" },
    });
    const bytes = new TextEncoder().encode(body).byteLength;
    const exp = Math.floor(row.expires_at / 1000);
    const params = await signMedia(deps.config.mediaSigningKeys, signedId(id), exp);
    const query = new URLSearchParams({ exp: String(exp), kid: params.kid, sig: params.sig });
    const link = `${deps.origin}/exports/${encodeURIComponent(id)}?${query}`;
    const results = await deps.db.batch([
      deps.db
        .prepare(
          "UPDATE data_exports SET status = 'ready', r2_key = ?, bytes = ?, ready_at = ? WHERE id = ? AND status = 'pending'",
        )
        .bind(key, bytes, t, id),
      ...emailStatements(
        deps.db,
        deps.config,
        user.email,
        { template: "data-export-ready", name: user.name, link, expiresAt: iso(row.expires_at) },
        t,
        // Only the batch that made it ready mails it (a retry of a lost run finds it ready already).
        { onlyIf: { sql: "changes() = 1", bindings: [] } },
      ),
    ]);
    // The row went meanwhile (the account was erased while this ran): the archive must not outlive it.
    if (results[0]?.meta.changes !== 1) await deps.bucket.delete(key);
    await enqueueCommitted(deps.db, deps.emailQueue, results);
  } catch (error) {
    log("error", "data export failed", { requestId: deps.meta.requestId, exportId: id, error });
    await deps.db
      .prepare("UPDATE data_exports SET status = 'failed' WHERE id = ? AND status = 'pending'")
      .bind(id)
      .run();
    await deps.bucket.delete(key).catch(() => undefined);
  }
}

export interface ExportFile {
  body: ReadableStream;
  bytes: number;
  createdAt: number;
}

/**
 * The archive behind a signed link: 403 for a bad or expired signature (the reason to the log only,
 * as for media), 404 when the export is not ready or its archive is gone.
 */
export async function signedExport(
  deps: Pick<PrivacyDeps, "db" | "bucket" | "config" | "now">,
  id: string,
  query: { exp?: string | undefined; kid?: string | undefined; sig?: string | undefined },
  requestId?: string,
): Promise<ExportFile> {
  const t = nowOf(deps);
  const check = await verifyMedia(deps.config.mediaSigningKeys, signedId(id), query, Math.floor(t / 1000));
  if (!check.ok) {
    log("info", "export signature refused", { requestId, reason: check.reason });
    throw new DomainError("forbidden", "This link is not valid or has expired.");
  }
  const row = await deps.db
    .prepare("SELECT r2_key, created_at FROM data_exports WHERE id = ? AND status = 'ready' AND expires_at > ?")
    .bind(id, t)
    .first<{ r2_key: string | null; created_at: number }>();
  const object = row?.r2_key ? await deps.bucket.get(row.r2_key) : null;
  if (!row || !object) throw new DomainError("not-found", "This export no longer exists.");
  return { body: object.body, bytes: object.size, createdAt: row.created_at };
}

/**
 * Cron: exports past their expiry lose their archive (R2 first, then the row says `expired`), and
 * exports still `pending` after LIMITS.dataExportStaleMs are marked `failed` (their builder died).
 * Bounded per run; safe to run twice or concurrently.
 */
export async function expireDataExports(
  db: D1Database,
  bucket: R2Bucket,
  now: number,
): Promise<{ expired: number; failed: number }> {
  const stale = await db
    .prepare("UPDATE data_exports SET status = 'failed' WHERE status = 'pending' AND created_at <= ?")
    .bind(now - LIMITS.dataExportStaleMs)
    .run();
  const due = await db
    .prepare(
      `SELECT id, r2_key FROM data_exports WHERE status IN ('pending', 'ready', 'failed') AND expires_at <= ?
       ORDER BY status, expires_at LIMIT ?`,
    )
    .bind(now, LIMITS.dataExportSweepMaxRows)
    .all<{ id: string; r2_key: string | null }>();
  const keys = due.results.flatMap((row) => (row.r2_key ? [row.r2_key] : []));
  if (keys.length) await bucket.delete(keys);
  let expired = 0;
  if (due.results.length) {
    const ids = due.results.map((row) => row.id);
    const result = await db
      .prepare(
        `UPDATE data_exports SET status = 'expired', r2_key = NULL
         WHERE id IN (SELECT value FROM json_each(?)) AND status <> 'expired'`,
      )
      .bind(JSON.stringify(ids))
      .run();
    expired = result.meta.changes;
  }
  return { expired, failed: stale.meta.changes };
}
