/**
 * Sessions and refresh tokens (ASVS 7.2–7.4). A session is one sign-in; its refresh tokens form a
 * family: each refresh rotates to a new opaque 256-bit token (only SHA-256 stored) and marks the old
 * one used. Presenting a used token again means it was stolen or replayed: the whole session is
 * revoked. Idle timeout and absolute lifetime come from config.
 */
import type { Config } from "../../config";
import { randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { auditStatement, ipHash, type RequestMeta } from "../audit/service";
import { type AccessClaims, signAccessToken } from "./tokens";

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  sessionId: string;
}

/** Writes to last_used_at at most this often: the idle clock is minute-accurate, not write-per-request. */
export const TOUCH_INTERVAL_MS = 60_000;

async function issue(config: Config, userId: string, sessionId: string, epoch: number, now: number) {
  const refreshToken = randomToken(32);
  const claims: AccessClaims = { sub: userId, sid: sessionId, epoch };
  return {
    refreshToken,
    refreshHash: await sha256Hex(refreshToken),
    accessToken: await signAccessToken(config.jwtKeys, claims, now),
  };
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
  const { refreshToken, refreshHash, accessToken } = await issue(config, user.id, sessionId, user.sessionEpoch, now);
  await db.batch([
    db
      .prepare(
        "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at, user_agent, ip_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
      ),
    db
      .prepare("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, ?)")
      .bind(refreshHash, sessionId, now),
    ...extra,
  ]);
  return { accessToken, refreshToken, expiresIn: 15 * 60, sessionId };
}

interface RefreshRow {
  session_id: string;
  used_at: number | null;
  user_id: string;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
  session_epoch: number;
}

/** Rotates a refresh token. Reuse of a rotated token revokes the session and is audited. */
export async function rotateRefreshToken(
  db: D1Database,
  config: Config,
  presented: string,
  meta: RequestMeta,
  now = Date.now(),
): Promise<IssuedTokens & { userId: string }> {
  const hash = await sha256Hex(presented);
  const row = await db
    .prepare(
      `SELECT r.session_id, r.used_at, s.user_id, s.last_used_at, s.expires_at, s.revoked_at, u.session_epoch
       FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id
       WHERE r.token_hash = ?`,
    )
    .bind(hash)
    .first<RefreshRow>();
  const invalid = () => new DomainError("unauthorized", "The refresh token is not valid. Sign in again.");
  if (!row || row.revoked_at !== null) throw invalid();
  if (row.used_at !== null) {
    await revokeForReuse(db, config, row, meta, now);
    throw invalid();
  }
  if (now >= row.expires_at || now - row.last_used_at > config.sessionIdleSeconds * 1000) {
    await revokeSession(db, row.session_id, now >= row.expires_at ? "expired" : "idle", now);
    throw invalid();
  }

  const next = await issue(config, row.user_id, row.session_id, row.session_epoch, now);
  const [rotated] = await db.batch([
    db
      .prepare("UPDATE refresh_tokens SET used_at = ?, rotated_to = ? WHERE token_hash = ? AND used_at IS NULL")
      .bind(now, next.refreshHash, hash),
    // The successor exists only if this request won the rotation above.
    db
      .prepare(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = ? AND rotated_to = ?)",
      )
      .bind(next.refreshHash, row.session_id, now, hash, next.refreshHash),
    db.prepare("UPDATE sessions SET last_used_at = ? WHERE id = ? AND revoked_at IS NULL").bind(now, row.session_id),
  ]);
  if (rotated?.meta.changes !== 1) {
    // Another request rotated this token between our read and write: the same token twice is reuse.
    await revokeForReuse(db, config, row, meta, now);
    throw invalid();
  }
  return {
    accessToken: next.accessToken,
    refreshToken: next.refreshToken,
    expiresIn: 15 * 60,
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
      `SELECT s.user_id, s.last_used_at, s.expires_at, s.revoked_at, u.session_epoch, u.roles, u.email_verified_at,
              u.email, u.name
       FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`,
    )
    .bind(claims.sid)
    .first<{
      user_id: string;
      last_used_at: number;
      expires_at: number;
      revoked_at: number | null;
      session_epoch: number;
      roles: string;
      email_verified_at: number | null;
      email: string;
      name: string;
    }>();
  if (!row || row.user_id !== claims.sub || row.revoked_at !== null || row.session_epoch !== claims.epoch) return null;
  if (now >= row.expires_at || now - row.last_used_at > config.sessionIdleSeconds * 1000) return null;
  if (touch && now - row.last_used_at >= TOUCH_INTERVAL_MS) {
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
