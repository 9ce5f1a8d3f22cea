/**
 * Sessions and refresh tokens (ASVS 7.2–7.4). A session is one sign-in; its refresh tokens form a
 * family: each refresh rotates to a new opaque 256-bit token (only SHA-256 stored) and marks the old
 * one used. Presenting a used token again means it was stolen or replayed: the whole session is
 * revoked, except for a retry within a few seconds of the rotation whose response was lost: the
 * successor is derived from the presented token (HMAC under the pepper), so the retry gets the same
 * new pair without any token being stored in plain text. Every session carries the user's session
 * epoch it was opened under: the insert is conditional on it, and a session behind the user's epoch
 * (a reset, a verification that cleared pre-verification credentials) is dead for refresh too.
 * Idle timeout and absolute lifetime come from config.
 *
 * Whether a session may act is decided by the session book in the user's shard object, not by D1
 * (session-keeper.ts gives the write order that keeps the two coherent): an authenticated request
 * costs one object call and no D1 read. D1 keeps sessions and refresh tokens as before.
 */
import type { Config } from "../../config";
import { LIMITS, type RatePolicy } from "../../config/limits";
import { hmacBase64url, randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import type { RateLimitDecision } from "../../lib/rate-limit-client";
import { auditStatement, ipHash, type RequestMeta } from "../audit";
import {
  advanceEpochInBook,
  authorizeSession,
  type D1SessionCopy,
  registerSession,
  revokeInBook,
  type SessionsNamespace,
} from "./session-keeper";
import { type AccessClaims, signAccessToken } from "./tokens";
import { openEmail, openName } from "./users";

/** Where sessions live: D1 (sessions, refresh tokens) and the session book (whether one may act). */
export interface SessionStores {
  db: D1Database;
  sessions: SessionsNamespace;
}

/** The account a session is opened for, as the credential check read it from D1. */
export interface SessionUser {
  id: string;
  sessionEpoch: number;
  /** JSON array, as stored. */
  roles: string;
  email: string;
  name: string;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  sessionId: string;
}

/**
 * The refresh token that replaces `presented`. Derived, not random, so a retried refresh can be given
 * the same successor again; unguessable without both the presented token (256 random bits) and the
 * pepper, and only its SHA-256 is stored like every refresh token.
 */
async function successorOf(config: Config, presented: string): Promise<string> {
  return hmacBase64url(config.hashPepper, `refresh-successor:${presented}`);
}

async function accessFor(config: Config, userId: string, sessionId: string, epoch: number, now: number) {
  const claims: AccessClaims = { sub: userId, sid: sessionId, epoch };
  return signAccessToken(config.jwtKeys, claims, now);
}

/** The account as a session opens for it, from D1's users row. */
export function sessionUserOf(row: {
  id: string;
  session_epoch: number;
  roles: string;
  email: string;
  name: string;
}): SessionUser {
  return { id: row.id, sessionEpoch: row.session_epoch, roles: row.roles, email: row.email, name: row.name };
}

/** Opens a session for a user who just proved who they are. */
export async function openSession(
  stores: SessionStores,
  config: Config,
  user: SessionUser,
  method: "password" | "otp",
  meta: RequestMeta,
  extra: D1PreparedStatement[] = [],
  now = Date.now(),
): Promise<IssuedTokens> {
  const { db } = stores;
  const sessionId = randomId();
  const refreshToken = randomToken(32);
  const expiresAt = now + config.sessionMaxSeconds * 1000;
  // The book first: a session it has not registered could never act, whatever D1 says.
  const epoch = await registerSession(
    stores.sessions,
    {
      userId: user.id,
      sid: sessionId,
      epoch: user.sessionEpoch,
      now,
      expiresAt,
      account: { roles: JSON.parse(user.roles) as string[], email: user.email, name: user.name },
    },
    async (newer) =>
      (
        await db
          .prepare("UPDATE users SET session_epoch = ? WHERE id = ? AND session_epoch < ?")
          .bind(newer, user.id, newer)
          .run()
      ).meta.changes === 1,
  );
  const accessToken = await accessFor(config, user.id, sessionId, epoch, now);
  const [opened] = await db.batch([
    // Only under the epoch the caller read: a reset (epoch bump) that landed after the credential was
    // checked leaves no session behind, instead of one the reset never revoked.
    db
      .prepare(
        `INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at, user_agent, ip_hash, epoch)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ? AND session_epoch = ?)`,
      )
      .bind(
        sessionId,
        user.id,
        method,
        now,
        now,
        expiresAt,
        meta.userAgent?.slice(0, 512) ?? null,
        await ipHash(config, meta.ip),
        epoch,
        user.id,
        epoch,
      ),
    db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
      )
      .bind(await sha256Hex(refreshToken), sessionId, now, sessionId),
    ...extra,
  ]);
  if (opened?.meta.changes !== 1) {
    await revokeInBook(stores.sessions, config, user.id, sessionId, "stale-epoch", now);
    throw new DomainError("unauthorized", "Your account changed while signing in. Sign in again.");
  }
  return { accessToken, refreshToken, expiresIn: LIMITS.accessTokenSeconds, sessionId };
}

interface RefreshRow {
  session_id: string;
  used_at: number | null;
  rotated_to: string | null;
  successor_used_at: number | null;
  user_id: string;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
  epoch: number;
  session_epoch: number;
  roles: string;
  email: string;
  name: string;
}

/** Rotates a refresh token. Reuse of a rotated token revokes the session and is audited. */
export async function rotateRefreshToken(
  stores: SessionStores,
  config: Config,
  presented: string,
  meta: RequestMeta,
  now = Date.now(),
  retry = false,
): Promise<IssuedTokens & { userId: string }> {
  const { db } = stores;
  const hash = await sha256Hex(presented);
  const row = await db
    .prepare(
      `SELECT r.session_id, r.used_at, r.rotated_to, n.used_at AS successor_used_at, s.user_id, s.last_used_at,
              s.expires_at, s.revoked_at, s.epoch, u.session_epoch, u.roles, u.email, u.name
       FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
       LEFT JOIN refresh_tokens n ON n.token_hash = r.rotated_to
       WHERE r.token_hash = ?`,
    )
    .bind(hash)
    .first<RefreshRow>();
  const invalid = () => new DomainError("unauthorized", "The refresh token is not valid. Sign in again.");
  if (!row || row.revoked_at !== null) throw invalid();
  if (row.epoch !== row.session_epoch) {
    // Opened before a reset or a credential-clearing verification: dead, whatever else holds.
    await revokeSession(stores, config, row.user_id, row.session_id, "stale-epoch", now);
    throw invalid();
  }
  // The book decides whether the session may still act (a logout or reset lands there first; idle
  // time is kept there): a refresh is a use, like any request.
  const verdict = (
    await authorizeSession(stores.sessions, config, { userId: row.user_id, sid: row.session_id, now }, [], async () =>
      copyOf(config.pii, row),
    )
  ).verdict;
  if (verdict.status !== "valid") {
    await revokeSession(
      stores,
      config,
      row.user_id,
      row.session_id,
      verdict.status === "invalid" ? verdict.reason : "revoked",
      now,
    );
    throw invalid();
  }
  const successor = await successorOf(config, presented);
  if (row.used_at !== null) {
    const retried =
      now - row.used_at <= LIMITS.refreshRetryGraceSeconds * 1000 &&
      row.successor_used_at === null &&
      row.rotated_to === (await sha256Hex(successor));
    if (!retried) {
      await revokeForReuse(stores, config, row, meta, now);
      throw invalid();
    }
    // The rotation's answer was lost: the same pair again (the access token signed at the same instant).
    return {
      accessToken: await accessFor(config, row.user_id, row.session_id, row.epoch, row.used_at),
      refreshToken: successor,
      expiresIn: LIMITS.accessTokenSeconds,
      sessionId: row.session_id,
      userId: row.user_id,
    };
  }
  if (now >= row.expires_at) {
    await revokeSession(stores, config, row.user_id, row.session_id, "expired", now);
    throw invalid();
  }

  const successorHash = await sha256Hex(successor);
  const [rotated] = await db.batch([
    db
      .prepare("UPDATE refresh_tokens SET used_at = ?, rotated_to = ? WHERE token_hash = ? AND used_at IS NULL")
      .bind(now, successorHash, hash),
    // The successor exists only if this request won the rotation above.
    db
      .prepare(
        "INSERT OR IGNORE INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ? AND rotated_to = ? AND used_at = ?)",
      )
      .bind(successorHash, row.session_id, now, hash, successorHash, now),
    db.prepare("UPDATE sessions SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now, row.session_id),
  ]);
  if (rotated?.meta.changes !== 1) {
    // Another request rotated this same token between our read and write (two tabs, a retry that
    // overtook its original). The successor is derived, so it rotated to the very pair we would
    // have issued: read again and answer as a retry within the grace window. Both callers then hold
    // one pair, so the family does not fork; whichever uses it second is caught as reuse.
    if (retry) throw invalid();
    return rotateRefreshToken(stores, config, presented, meta, now, true);
  }
  return {
    accessToken: await accessFor(config, row.user_id, row.session_id, row.epoch, now),
    refreshToken: successor,
    expiresIn: LIMITS.accessTokenSeconds,
    sessionId: row.session_id,
    userId: row.user_id,
  };
}

/** D1's copy of a session and its account, in the shape the book adopts. */
function copyOf(
  pii: PiiCipher,
  row: {
    epoch: number;
    last_used_at: number;
    expires_at: number;
    revoked_at: number | null;
    session_epoch: number;
    roles: string;
    email: string;
    name: string;
  },
): D1SessionCopy {
  return {
    session: { epoch: row.epoch, lastUsedAt: row.last_used_at, expiresAt: row.expires_at, revokedAt: row.revoked_at },
    account: {
      epoch: row.session_epoch,
      roles: JSON.parse(row.roles) as string[],
      email: openEmail(pii, row.email),
      name: openName(pii, row.name),
    },
  };
}

async function revokeForReuse(stores: SessionStores, config: Config, row: RefreshRow, meta: RequestMeta, now: number) {
  const { db } = stores;
  await revokeInBook(stores.sessions, config, row.user_id, row.session_id, "token-reuse", now);
  await db.batch([
    revokeStatement(db, row.session_id, "token-reuse", now),
    await auditStatement(db, config, meta, {
      action: "auth.token-reuse",
      outcome: "denied",
      userId: row.user_id,
      detail: { sessionId: row.session_id },
    }),
  ]);
}

export function revokeStatement(db: D1Database, sessionId: string, reason: string, now = Date.now()) {
  return db
    .prepare("UPDATE sessions SET revoked_at = ?, revoke_reason = ? WHERE id = ? AND revoked_at IS NULL")
    .bind(now, reason, sessionId);
}

/** Revokes one session: in the book first (it stops acting at once), then in D1. */
export async function revokeSession(
  stores: SessionStores,
  config: Config,
  userId: string,
  sessionId: string,
  reason: string,
  now = Date.now(),
) {
  await revokeInBook(stores.sessions, config, userId, sessionId, reason, now);
  await revokeStatement(stores.db, sessionId, reason, now).run();
}

/**
 * Runs a D1 change that bumps the account's session epoch (`expected` is the epoch the caller read),
 * with the book told before and after: before, so every session stops acting at once even if D1's
 * write fails; after, with the epoch D1 ended at, so a sign-in that raced the change stays dead too.
 */
export async function withEpochBump<T>(
  stores: SessionStores,
  userId: string,
  expected: number,
  change: () => Promise<T>,
): Promise<T> {
  await advanceEpochInBook(stores.sessions, userId, expected + 1);
  const result = await change();
  const after = await stores.db
    .prepare("SELECT session_epoch FROM users WHERE id = ?")
    .bind(userId)
    .first<{ session_epoch: number }>();
  if (after && after.session_epoch > expected + 1) {
    await advanceEpochInBook(stores.sessions, userId, after.session_epoch);
  }
  return result;
}

export interface ActiveSession {
  userId: string;
  roles: string[];
  /** The account's address and name as of this request (order confirmations go there). */
  email: string;
  name: string;
}

/**
 * The session behind an access token, checked on every authenticated request by one call to the
 * user's shard object (session-keeper.ts), which also takes the user's `budgets` for this request:
 * not revoked, not idle, not past its lifetime, and issued under the account's current epoch. D1 is
 * read only for a session the book has never seen, and not written: the book's alarm copies moved
 * last uses to D1 in batches.
 */
export async function activeSession(
  stores: SessionStores,
  config: Config,
  claims: AccessClaims,
  budgets: readonly RatePolicy[] = [],
  now = Date.now(),
  ordering?: string,
): Promise<{ session: ActiveSession | null; decisions: RateLimitDecision[]; settle: string[] }> {
  const { verdict, decisions } = await authorizeSession(
    stores.sessions,
    config,
    { userId: claims.sub, sid: claims.sid, claimedEpoch: claims.epoch, now, ...(ordering ? { ordering } : {}) },
    budgets,
    () => readSessionCopy(stores.db, config.pii, claims),
  );
  if (verdict.status !== "valid") return { session: null, decisions: [], settle: [] };
  // A use that moved the idle clock reaches D1's copy from the shard's alarm (session-book.ts).
  return { session: { userId: claims.sub, ...verdict.account }, decisions, settle: verdict.settle ?? [] };
}

async function readSessionCopy(db: D1Database, pii: PiiCipher, claims: AccessClaims): Promise<D1SessionCopy | null> {
  const row = await db
    .prepare(
      `SELECT s.user_id, s.last_used_at, s.expires_at, s.revoked_at, s.epoch, u.session_epoch, u.roles, u.email, u.name
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
    )
    .bind(claims.sid)
    .first<{
      user_id: string;
      last_used_at: number;
      expires_at: number;
      revoked_at: number | null;
      epoch: number;
      session_epoch: number;
      roles: string;
      email: string;
      name: string;
    }>();
  return row && row.user_id === claims.sub ? copyOf(pii, row) : null;
}
