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
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hmacBase64url, randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { auditStatement, ipHash, type RequestMeta } from "../audit";
import { type AccessClaims, signAccessToken } from "./tokens";

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

/** Opens a session for a user who just proved who they are. */
export async function openSession(
  db: D1Database,
  config: Config,
  user: { id: string; sessionEpoch: number },
  method: "password" | "otp",
  meta: RequestMeta,
  extra: D1PreparedStatement[] = [],
  now = Date.now(),
): Promise<IssuedTokens> {
  const sessionId = randomId();
  const refreshToken = randomToken(32);
  const accessToken = await accessFor(config, user.id, sessionId, user.sessionEpoch, now);
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
        now + config.sessionMaxSeconds * 1000,
        meta.userAgent?.slice(0, 512) ?? null,
        await ipHash(config, meta.ip),
        user.sessionEpoch,
        user.id,
        user.sessionEpoch,
      ),
    db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?)",
      )
      .bind(await sha256Hex(refreshToken), sessionId, now, sessionId),
    ...extra,
  ]);
  if (opened?.meta.changes !== 1) {
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
}

/** Rotates a refresh token. Reuse of a rotated token revokes the session and is audited. */
export async function rotateRefreshToken(
  db: D1Database,
  config: Config,
  presented: string,
  meta: RequestMeta,
  now = Date.now(),
  retry = false,
): Promise<IssuedTokens & { userId: string }> {
  const hash = await sha256Hex(presented);
  const row = await db
    .prepare(
      `SELECT r.session_id, r.used_at, r.rotated_to, n.used_at AS successor_used_at, s.user_id, s.last_used_at,
              s.expires_at, s.revoked_at, s.epoch, u.session_epoch
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
    await revokeSession(db, row.session_id, "stale-epoch", now);
    throw invalid();
  }
  const successor = await successorOf(config, presented);
  if (row.used_at !== null) {
    const retried =
      now - row.used_at <= LIMITS.refreshRetryGraceSeconds * 1000 &&
      row.successor_used_at === null &&
      row.rotated_to === (await sha256Hex(successor));
    if (!retried) {
      await revokeForReuse(db, config, row, meta, now);
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
  if (now >= row.expires_at || now - row.last_used_at > config.sessionIdleSeconds * 1000) {
    await revokeSession(db, row.session_id, now >= row.expires_at ? "expired" : "idle", now);
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
    return rotateRefreshToken(db, config, presented, meta, now, true);
  }
  return {
    accessToken: await accessFor(config, row.user_id, row.session_id, row.epoch, now),
    refreshToken: successor,
    expiresIn: LIMITS.accessTokenSeconds,
    sessionId: row.session_id,
    userId: row.user_id,
  };
}

async function revokeForReuse(db: D1Database, config: Config, row: RefreshRow, meta: RequestMeta, now: number) {
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

export async function revokeSession(db: D1Database, sessionId: string, reason: string, now = Date.now()) {
  await revokeStatement(db, sessionId, reason, now).run();
}

export interface ActiveSession {
  userId: string;
  roles: string[];
  emailVerified: boolean;
  /** The account's address and name as of this request (order confirmations go there). */
  email: string;
  name: string;
}

/**
 * The session behind an access token, checked on every authenticated request with one indexed
 * read: not revoked, not idle, not past its lifetime, and issued under the user's current epoch.
 */
export async function activeSession(
  db: D1Database,
  config: Config,
  claims: AccessClaims,
  now = Date.now(),
  touch?: (p: Promise<unknown>) => void,
): Promise<ActiveSession | null> {
  const row = await db
    .prepare(
      `SELECT s.user_id, s.last_used_at, s.expires_at, s.revoked_at, s.epoch, u.session_epoch, u.roles,
              u.email_verified_at, u.email, u.name
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
      email_verified_at: number | null;
      email: string;
      name: string;
    }>();
  if (
    !row ||
    row.user_id !== claims.sub ||
    row.revoked_at !== null ||
    row.session_epoch !== claims.epoch ||
    row.epoch !== row.session_epoch
  ) {
    return null;
  }
  if (now >= row.expires_at || now - row.last_used_at > config.sessionIdleSeconds * 1000) return null;
  if (touch && now - row.last_used_at >= LIMITS.sessionTouchIntervalMs) {
    touch(
      db
        .prepare("UPDATE sessions SET last_used_at = ? WHERE id = ? AND last_used_at < ?")
        .bind(now, claims.sid, now)
        .run(),
    );
  }
  return {
    userId: row.user_id,
    roles: JSON.parse(row.roles) as string[],
    emailVerified: row.email_verified_at !== null,
    email: row.email,
    name: row.name,
  };
}
