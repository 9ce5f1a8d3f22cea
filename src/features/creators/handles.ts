/**
 * The handle registry (`handles`, src/db/schema-creators.ts): whether a handle is free, claiming one,
 * and what a handle in a URL leads to.
 *
 * Uniqueness is the registry's primary key on the normalised handle (src/lib/handle.ts): a claim is
 * one D1 batch (one transaction) whose INSERT either wins the key or fails on it, and a failed batch
 * changes nothing, so of any number of concurrent claims of one handle exactly one wins and every
 * other answers 409 with the caller's previous handle, name and avatar untouched.
 *
 * A changed handle is not freed at once: the old row stays `retired` (its owner's, `/@old` redirecting
 * to the new handle) until `retired_until`, LIMITS.handleGraceSeconds later. Until then it is "taken"
 * for everyone else; its owner may take it back. After it, the next claim deletes the expired row in
 * the same batch that inserts its own.
 *
 * The availability check does not tell a retired handle from an active one (both "taken"): whether a
 * handle was recently given up is its owner's business.
 */
import { LIMITS } from "../../config/limits";
import { DomainError } from "../../lib/errors";
import { type HandleRefusal, normalizeHandle, validateHandle } from "../../lib/handle";

/**
 * The edge-cache version scope of a creator's public profile (profile-page.ts): writers bump it in the
 * batch of any change the profile shows (a handle claim here, every link-list change in links.ts).
 */
export function creatorCacheScope(userId: string): string {
  return `creator:${userId}`;
}

export type Availability =
  | { handle: string; available: true }
  | { handle: string; available: false; reason: "invalid" | "reserved" | "taken" };

const REFUSAL_TEXT: Record<HandleRefusal, string> = {
  "too-short": "A handle has at least 3 characters.",
  "too-long": "A handle has at most 30 characters.",
  "invalid-characters": "A handle uses only the letters a–z, digits, dots and underscores.",
  dots: "A handle may not start or end with a dot or have two dots in a row.",
  reserved: "This handle is reserved.",
};

/** The 422 for a handle that cannot be claimed, naming the rule it breaks (`reason`). */
export function invalidHandle(reason: HandleRefusal): DomainError {
  return new DomainError("invalid-handle", REFUSAL_TEXT[reason], {
    reason,
    errors: [{ path: "handle", message: REFUSAL_TEXT[reason] }],
  });
}

export function handleTaken(): DomainError {
  return new DomainError("handle-taken", "Someone else has this handle. Try another one.");
}

/** The spelling an availability answer echoes: the normalised form, bounded so a huge input is not sent back. */
const ECHO_MAX_CHARS = 120;
function echo(input: string): string {
  return normalizeHandle(input.slice(0, ECHO_MAX_CHARS));
}

/**
 * Whether `input` could be claimed now by someone who does not hold it: invalid, reserved, taken
 * (active, or retired and still in its grace period), or available. One indexed read.
 */
export async function checkAvailability(db: D1Database, input: string, now: number): Promise<Availability> {
  const result = validateHandle(input);
  if (!result.ok) {
    return { handle: echo(input), available: false, reason: result.reason === "reserved" ? "reserved" : "invalid" };
  }
  const row = await db
    .prepare("SELECT 1 AS taken FROM handles WHERE handle_key = ? AND (state = 'active' OR retired_until > ?)")
    .bind(result.key, now)
    .first<{ taken: number }>();
  return row
    ? { handle: result.handle, available: false, reason: "taken" }
    : { handle: result.handle, available: true };
}

/** A handle that passed validation: what is shown and the key it is unique by (equal; src/lib/handle.ts). */
export interface PreparedClaim {
  handle: string;
  key: string;
}

/** Validates a claimed handle (422 invalid-handle with the reason) and returns its key. */
export function prepareClaim(input: string): PreparedClaim {
  const result = validateHandle(input);
  if (!result.ok) throw invalidHandle(result.reason);
  return { handle: result.handle, key: result.key };
}

/** The caller's active handle key, or null. */
export async function currentHandle(db: D1Database, userId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT handle_key FROM handles WHERE user_id = ? AND state = 'active'")
    .bind(userId)
    .first<{ handle_key: string }>();
  return row?.handle_key ?? null;
}

/**
 * The statements of a claim, for the caller's batch (in this order, before anything that must not
 * happen when the claim loses):
 * 1. free the key if its row is retired and either expired or the caller's own;
 * 2. retire the caller's active handle (before the insert: one active row per user is a unique index);
 * 3. insert the caller's active row: the primary key makes this fail when anyone else holds the key,
 *    failing the whole batch;
 * 4. mirror it on the profile (profiles.handle, handle_key);
 * 5. move the creator's cache version, so cached copies of the public profile are never read again.
 * `guard` (SQL over ?1…?4 plus its own numbered parameters from ?5) makes every statement conditional,
 * for a caller whose batch has a precondition of its own (onboarding's avatar check).
 */
export function claimStatements(
  db: D1Database,
  userId: string,
  claim: PreparedClaim,
  now: number,
  guard: { sql: string; args: readonly unknown[] } = { sql: "1", args: [] },
): D1PreparedStatement[] {
  const graceUntil = now + LIMITS.handleGraceSeconds * 1000;
  // ?1 key, ?2 user, ?3 now, ?4 grace end, then the guard's parameters, then the cache scope.
  const args = [claim.key, userId, now, graceUntil, ...guard.args];
  const scope = `?${args.length + 1}`;
  const g = `(${guard.sql})`;
  const all = [...args, creatorCacheScope(userId)];
  const statement = (sql: string) => bindNumbered(db, sql, all);
  return [
    statement(
      `DELETE FROM handles WHERE handle_key = ?1 AND state = 'retired' AND (retired_until <= ?3 OR user_id = ?2) AND ${g}`,
    ),
    statement(
      `UPDATE handles SET state = 'retired', retired_until = ?4 WHERE user_id = ?2 AND state = 'active' AND handle_key <> ?1 AND ${g}`,
    ),
    statement(
      `INSERT INTO handles (handle_key, user_id, state, retired_until, created_at) SELECT ?1, ?2, 'active', NULL, ?3 WHERE ${g}`,
    ),
    statement(`UPDATE profiles SET handle = ?1, handle_key = ?1, updated_at = ?3 WHERE user_id = ?2 AND ${g}`),
    statement(
      `INSERT INTO cache_versions (scope, version) SELECT ${scope}, 1 WHERE ${g}
       ON CONFLICT (scope) DO UPDATE SET version = version + 1`,
    ),
  ];
}

/**
 * `sql` bound to as many of `values` as its highest ?N names: D1 refuses a statement given more values
 * than it has parameters, and a statement that skips a number (?1, ?3) still takes ?2.
 */
function bindNumbered(db: D1Database, sql: string, values: readonly unknown[]): D1PreparedStatement {
  const highest = Math.max(0, ...[...sql.matchAll(/\?(\d+)/g)].map((m) => Number(m[1])));
  return db.prepare(sql).bind(...values.slice(0, highest));
}

/** Whether a failed batch failed on a handle's uniqueness (someone else won the key). */
export function isHandleConflict(error: unknown): boolean {
  const message = String((error as { message?: unknown })?.message ?? error);
  return /UNIQUE constraint failed: (handles\.handle_key|profiles\.handle_key)/.test(message);
}

/**
 * Claims `input` for the caller (PUT /me/handle): 422 when it cannot be a handle, 409 when someone else
 * holds it (active, or retired and in its grace period). Claiming one's own active handle changes
 * nothing. `beforeClaim` runs once the claim is known to reach the registry (the rate limit).
 */
export async function claimHandle(
  db: D1Database,
  userId: string,
  input: string,
  now: number,
  beforeClaim: () => Promise<void> = async () => {},
): Promise<{ handle: string }> {
  const claim = prepareClaim(input);
  if ((await currentHandle(db, userId)) === claim.key) return { handle: claim.handle };
  await beforeClaim();
  try {
    await db.batch(claimStatements(db, userId, claim, now));
  } catch (error) {
    if (isHandleConflict(error)) throw handleTaken();
    throw error;
  }
  return { handle: claim.handle };
}
