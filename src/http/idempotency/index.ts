/**
 * Idempotency-Key for retried POSTs (draft-ietf-httpapi-idempotency-key-header; Stripe's semantics).
 * The key is scoped to the caller (principal, else client address), bound to a fingerprint of the
 * request (method, path, body), and claimed in D1 by one conditional INSERT … ON CONFLICT DO UPDATE
 * … WHERE, so two racing requests can never both run: exactly one sees `changes = 1`.
 * - first request: runs; its response is stored for LIMITS.idempotencyTtlSeconds (5xx is not stored,
 *   so the client may retry; nor is 428, which asks for a precondition such as a queue pass: the
 *   client sends the same request again with it);
 * - same key + same request after it finished: the stored status and body, `Idempotent-Replayed: true`;
 * - same key + different request: 422 `idempotency-key-reused`;
 * - same key while the first is still running: 409 `idempotency-key-in-flight`.
 */
import type { MiddlewareHandler } from "hono";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { clientIp, ipKey } from "../../lib/ip";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";
export const REPLAYED_HEADER = "Idempotent-Replayed";
/** Response headers worth replaying; others (rate-limit, request id) describe the new request. */
const STORED_HEADERS = ["content-type", "location"];
const KEY_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${LIMITS.idempotencyKeyMaxLength}}$`);

export interface StoredRow {
  fingerprint: string;
  state: "running" | "done";
  status: number | null;
  headers: string | null;
  body: string | null;
}

/**
 * The one writer of `idempotency_keys` (this middleware and the pages' order forms use it). Claiming
 * is one conditional upsert: of concurrent callers exactly one gets `claimed`; the others get the
 * stored row (null if it was released in between). An expired key, or a running one whose lock
 * lapsed with the same request, is taken over.
 */
export async function claimIdempotencyKey(
  db: D1Database,
  scope: string,
  key: string,
  fingerprint: string,
  now = Date.now(),
): Promise<{ claimed: true } | { claimed: false; row: StoredRow | null }> {
  const claim = await db
    .prepare(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, expires_at, created_at)
       VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6)
       ON CONFLICT (scope, key) DO UPDATE SET
         fingerprint = excluded.fingerprint, state = 'running', status = NULL, headers = NULL,
         body = NULL, locked_until = excluded.locked_until, expires_at = excluded.expires_at,
         created_at = excluded.created_at
       WHERE idempotency_keys.expires_at <= ?6
          OR (idempotency_keys.state = 'running' AND idempotency_keys.locked_until <= ?6
              AND idempotency_keys.fingerprint = excluded.fingerprint)`,
    )
    .bind(
      scope,
      key,
      fingerprint,
      now + LIMITS.idempotencyLockSeconds * 1000,
      now + LIMITS.idempotencyTtlSeconds * 1000,
      now,
    )
    .run();
  if (claim.meta.changes === 1) return { claimed: true };
  const row = await db
    .prepare("SELECT fingerprint, state, status, headers, body FROM idempotency_keys WHERE scope = ? AND key = ?")
    .bind(scope, key)
    .first<StoredRow>();
  return { claimed: false, row };
}

/** Gives a claimed key back (the request failed in a way worth retrying with the same key). */
export async function releaseIdempotencyKey(db: D1Database, scope: string, key: string): Promise<void> {
  await db
    .prepare("DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND state = 'running'")
    .bind(scope, key)
    .run();
}

/** Stores the answer a replay of the claimed key gets. */
export async function completeIdempotencyKey(
  db: D1Database,
  scope: string,
  key: string,
  fingerprint: string,
  answer: { status: number; headers: Record<string, string>; body: string },
): Promise<void> {
  await db
    .prepare(
      "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ? WHERE scope = ? AND key = ? AND fingerprint = ?",
    )
    .bind(answer.status, JSON.stringify(answer.headers), answer.body, scope, key, fingerprint)
    .run();
}

function scopeOf(c: AppContext): string {
  const principal = c.get("principal");
  if (principal) return `${principal.kind}:${principal.id}`;
  const ip = clientIp(c.req.raw.headers);
  return `anon:${ip ? ipKey(ip) : "unknown"}`;
}

export function idempotency(): MiddlewareHandler<AppEnv> {
  return async function idempotency(c, next) {
    const key = c.req.header(IDEMPOTENCY_HEADER);
    if (key === undefined) return next();
    if (!KEY_PATTERN.test(key)) {
      throw new DomainError(
        "idempotency-key-invalid",
        `Idempotency-Key must be 1 to ${LIMITS.idempotencyKeyMaxLength} visible ASCII characters.`,
      );
    }
    const db = c.env.DB;
    const scope = scopeOf(c);
    const body = new Uint8Array(await c.req.arrayBuffer());
    const fingerprint = await sha256Hex(
      new Uint8Array([...new TextEncoder().encode(`${c.req.method} ${c.req.path}\n`), ...body]),
    );
    const claim = await claimIdempotencyKey(db, scope, key, fingerprint);
    if (!claim.claimed) {
      const { row } = claim;
      if (!row) {
        // Deleted between our claim and read (a 5xx release): the client may simply retry.
        throw new DomainError("idempotency-key-in-flight", "The earlier request with this key is finishing; retry.");
      }
      if (row.fingerprint !== fingerprint) {
        throw new DomainError(
          "idempotency-key-reused",
          "This Idempotency-Key was used for a different request. Use a new key for a new request.",
        );
      }
      if (row.state === "running") {
        throw new DomainError(
          "idempotency-key-in-flight",
          "A request with this Idempotency-Key is still being processed. Retry later.",
        );
      }
      const headers = new Headers(JSON.parse(row.headers ?? "{}") as Record<string, string>);
      headers.set(REPLAYED_HEADER, "true");
      return new Response(row.body, { status: row.status ?? 200, headers });
    }

    await next();

    const res = c.res;
    if (res.status >= 500 || res.status === 428) {
      await releaseIdempotencyKey(db, scope, key);
      return;
    }
    const stored: Record<string, string> = {};
    for (const name of STORED_HEADERS) {
      const value = res.headers.get(name);
      if (value !== null) stored[name] = value;
    }
    const text = await res.clone().text();
    await completeIdempotencyKey(db, scope, key, fingerprint, { status: res.status, headers: stored, body: text });
  };
}
