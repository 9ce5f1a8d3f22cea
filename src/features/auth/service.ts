/**
 * Accounts: registration, email verification, password reset, password and email-OTP sign-in,
 * refresh, logout, and the host role. OWASP ASVS 5.0 chapter 6 (authentication) and 7 (sessions).
 * No account enumeration: register, forgot-password and otp/request answer the same for known and
 * unknown emails, and login spends a password hash either way.
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hmacHex, randomId, randomToken, sha256Hex, timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { burnHashTime, hashPassword, needsRehash, verifyPassword } from "../../lib/password";
import { checkPasswordPolicy } from "../../lib/password-policy";
import type { RateLimitDecision } from "../../lib/rate-limit-client";
import { audit, auditStatement, type RequestMeta } from "../audit/service";
import { type EmailQueue, enqueueCommitted } from "../email/enqueue";
import { emailStatements } from "../email/outbox";
import { addressKey, emailKey, forgive, giveBack, type LimiterNamespace, peek, rateLimited, spend } from "./guards";
import { type IssuedTokens, openSession, revokeSession, rotateRefreshToken } from "./sessions";
import { verifyTurnstile } from "./turnstile";
import { findUserByEmail, findUserById, normalizeEmail, type PublicUser, toPublicUser, type UserRow } from "./users";

export interface AuthDeps {
  db: D1Database;
  config: Config;
  limiter: LimiterNamespace;
  meta: RequestMeta;
  /** Absolute origin used to build links in emails. */
  origin: string;
  /** Emails written by a batch are handed to this queue once the batch commits. */
  emailQueue: EmailQueue;
  now?: number;
}

const now = (deps: AuthDeps) => deps.now ?? Date.now();

function assertPasswordPolicy(password: string, email: string): void {
  const result = checkPasswordPolicy(password, email);
  if (!result.ok) {
    const detail = {
      "too-short": "Use at least 8 characters.",
      "too-long": "Use at most 128 characters.",
      common: "This password is too common; choose another.",
      "equals-email": "Do not use your email address as your password.",
    }[result.reason];
    throw new DomainError("weak-password", detail, { reason: result.reason });
  }
}

/**
 * After 3 failed sign-ins for an address or an email within 15 minutes, login, register and
 * otp/request need a valid Turnstile token too. Off when no secret is configured (development).
 */
async function requireChallengeIfSuspicious(deps: AuthDeps, email: string, token: string | undefined) {
  const secret = deps.config.turnstileSecret;
  if (!secret) return;
  const policies = deps.config.ratePolicies;
  const [byIp, byEmail] = await Promise.all([
    peek(deps.limiter, addressKey(deps.meta.ip), policies["challenge-ip"]),
    peek(deps.limiter, await emailKey(deps.config.hashPepper, email), policies["challenge-email"]),
  ]);
  if (byIp.allowed && byEmail.allowed) return;
  if (!token || !(await verifyTurnstile(secret, token, deps.meta.ip))) {
    throw new DomainError("challenge-required", "Complete the human verification challenge and retry.", {
      challenge: "turnstile",
    });
  }
}

/**
 * Login counts every attempt against the challenge counters *before* the password is checked, so a
 * concurrent burst across many emails from one address is counted as it happens (peeking first and
 * counting failures afterwards would let the whole burst through). A successful attempt gives its
 * units back: only failures remain counted. Returns the give-back for the success path.
 */
async function countAttemptForChallenge(deps: AuthDeps, email: string, token: string | undefined) {
  const policies = deps.config.ratePolicies;
  const ipKey = addressKey(deps.meta.ip);
  const mailKey = await emailKey(deps.config.hashPepper, email);
  const [byIp, byEmail] = await Promise.all([
    spend(deps.limiter, ipKey, policies["challenge-ip"]),
    spend(deps.limiter, mailKey, policies["challenge-email"]),
  ]);
  const secret = deps.config.turnstileSecret;
  if (secret && !(byIp.allowed && byEmail.allowed)) {
    if (!token || !(await verifyTurnstile(secret, token, deps.meta.ip))) {
      throw new DomainError("challenge-required", "Complete the human verification challenge and retry.", {
        challenge: "turnstile",
      });
    }
  }
  return async () => {
    await Promise.all([
      byIp.allowed ? giveBack(deps.limiter, ipKey, policies["challenge-ip"]) : undefined,
      byEmail.allowed ? giveBack(deps.limiter, mailKey, policies["challenge-email"]) : undefined,
    ]);
  };
}

async function emailTokenStatements(deps: AuthDeps, userId: string, purpose: "verify-email" | "reset-password") {
  const token = randomToken(32);
  const t = now(deps);
  const ttl = purpose === "verify-email" ? LIMITS.verifyEmailTtlSeconds : LIMITS.resetPasswordTtlSeconds;
  const statements = [
    // A new token supersedes every older unused one for the same purpose.
    deps.db
      .prepare("UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL")
      .bind(t, userId, purpose),
    deps.db
      .prepare(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)",
      )
      .bind(await sha256Hex(token), userId, purpose, t, t + ttl * 1000, userId),
  ];
  return { token, statements };
}

function verifyLink(origin: string, token: string, next?: string) {
  const url = new URL("/auth/verify", origin);
  url.searchParams.set("token", token);
  if (next) url.searchParams.set("next", next);
  return url.href;
}

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
  turnstileToken?: string;
  next?: string;
}

/**
 * Creates an unverified user and queues the verification email. For an email that already has an
 * account the answer is indistinguishable (same status, same shape, comparable time) and that
 * address gets a "someone tried to register" notice instead.
 */
export async function register(deps: AuthDeps, input: RegisterInput): Promise<PublicUser> {
  const email = normalizeEmail(input.email);
  const name = input.name.trim();
  await requireChallengeIfSuspicious(deps, email, input.turnstileToken);
  assertPasswordPolicy(input.password, email);
  const t = now(deps);
  const id = randomId();
  const passwordHash = await hashPassword(input.password, deps.config.passwordScrypt);
  const candidate: UserRow = {
    id,
    email,
    name,
    password_hash: passwordHash,
    email_verified_at: null,
    roles: '["attendee"]',
    session_epoch: 0,
    created_at: t,
  };

  const { token, statements: tokenStatements } = await emailTokenStatements(deps, id, "verify-email");
  const mine = { sql: "EXISTS (SELECT 1 FROM users WHERE id = ?)", bindings: [id] };
  const results = await deps.db.batch([
    deps.db
      .prepare(
        "INSERT INTO users (id, email, name, password_hash, roles, session_epoch, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (email) DO NOTHING",
      )
      .bind(id, email, name, passwordHash, candidate.roles, t, t),
    ...tokenStatements,
    ...emailStatements(
      deps.db,
      deps.config,
      email,
      { template: "verify-email", name, link: verifyLink(deps.origin, token, input.next) },
      t,
      { onlyIf: mine },
    ),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.register", outcome: "success", userId: id },
      t,
      mine,
    ),
  ]);

  await enqueueCommitted(deps.db, deps.emailQueue, results);

  if (results[0]?.meta.changes !== 1) {
    // The email is taken (possibly by a racing registration): tell its owner, answer as if created.
    const existing = await findUserByEmail(deps.db, email);
    const notice = await deps.db.batch([
      ...emailStatements(
        deps.db,
        deps.config,
        email,
        {
          template: "register-existing",
          name: existing?.name ?? name,
          loginLink: new URL("/login", deps.origin).href,
          resetLink: new URL("/forgot-password", deps.origin).href,
        },
        t,
      ),
      await auditStatement(
        deps.db,
        deps.config,
        deps.meta,
        { action: "auth.register", outcome: "denied", userId: existing?.id ?? null, detail: { reason: "email-taken" } },
        t,
      ),
    ]);
    await enqueueCommitted(deps.db, deps.emailQueue, notice);
  }
  return toPublicUser(candidate);
}

/** Consumes a single-use email token; returns the user id, or throws invalid-or-expired. */
async function consumeEmailToken(
  deps: AuthDeps,
  token: string,
  purpose: "verify-email" | "reset-password",
  follow: (userIdSql: string, bindings: unknown[]) => D1PreparedStatement[],
): Promise<string> {
  const t = now(deps);
  const hash = await sha256Hex(token);
  const marker = randomId();
  const owner = "(SELECT user_id FROM email_tokens WHERE token_hash = ? AND consumed_by = ?)";
  const results = await deps.db.batch([
    deps.db
      .prepare(
        "UPDATE email_tokens SET used_at = ?, consumed_by = ? WHERE token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?",
      )
      .bind(t, marker, hash, purpose, t),
    ...follow(owner, [hash, marker]),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
  const row = await deps.db
    .prepare("SELECT user_id FROM email_tokens WHERE token_hash = ? AND consumed_by = ?")
    .bind(hash, marker)
    .first<{ user_id: string }>();
  if (results[0]?.meta.changes !== 1 || !row) {
    await audit(deps.db, deps.config, deps.meta, { action: `auth.${purpose}`, outcome: "failure" });
    throw new DomainError("invalid-or-expired", "This link is invalid or has expired. Request a new one.");
  }
  return row.user_id;
}

export async function verifyEmail(deps: AuthDeps, token: string): Promise<PublicUser> {
  const t = now(deps);
  const userId = await consumeEmailToken(deps, token, "verify-email", (owner, bindings) => [
    deps.db
      .prepare(
        `UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ${owner}`,
      )
      .bind(t, t, ...bindings),
  ]);
  await audit(deps.db, deps.config, deps.meta, { action: "auth.verify-email", outcome: "success", userId });
  const user = await findUserById(deps.db, userId);
  if (!user) throw new DomainError("invalid-or-expired", "This link is invalid or has expired.");
  return toPublicUser(user);
}

/** Always the same answer; a reset link goes out only when the account exists. */
export async function forgotPassword(deps: AuthDeps, rawEmail: string): Promise<void> {
  const email = normalizeEmail(rawEmail);
  const policy = deps.config.ratePolicies["auth-reset"];
  const decision = await spend(deps.limiter, await emailKey(deps.config.hashPepper, email), policy);
  if (!decision.allowed) throw rateLimited(policy, decision);
  const user = await findUserByEmail(deps.db, email);
  if (!user) return;
  const t = now(deps);
  const { token, statements } = await emailTokenStatements(deps, user.id, "reset-password");
  const link = new URL("/reset-password", deps.origin);
  link.searchParams.set("token", token);
  const results = await deps.db.batch([
    ...statements,
    ...emailStatements(
      deps.db,
      deps.config,
      email,
      { template: "reset-password", name: user.name, link: link.href },
      t,
    ),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.reset-request", outcome: "success", userId: user.id },
      t,
    ),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
}

/** Sets a new password, revokes every session and access token (ASVS 7.4.3), and notifies (6.3.7). */
export async function resetPassword(deps: AuthDeps, token: string, password: string): Promise<void> {
  const hash = await sha256Hex(token);
  const t = now(deps);
  const pending = await deps.db
    .prepare(
      `SELECT u.id, u.email, u.name FROM email_tokens e JOIN users u ON u.id = e.user_id
       WHERE e.token_hash = ? AND e.purpose = 'reset-password' AND e.used_at IS NULL AND e.expires_at > ?`,
    )
    .bind(hash, t)
    .first<{ id: string; email: string; name: string }>();
  if (!pending) {
    await audit(deps.db, deps.config, deps.meta, { action: "auth.reset-password", outcome: "failure" });
    throw new DomainError("invalid-or-expired", "This link is invalid or has expired. Request a new one.");
  }
  assertPasswordPolicy(password, pending.email);
  const passwordHash = await hashPassword(password, deps.config.passwordScrypt);
  const userId = await consumeEmailToken(deps, token, "reset-password", (owner, bindings) => [
    // Every statement keys on the consuming request's marker, so a racing second use changes nothing.
    // The epoch bump kills outstanding access tokens at once; revoking sessions kills refresh tokens.
    deps.db
      .prepare(
        `UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1, updated_at = ? WHERE id = ${owner}`,
      )
      .bind(passwordHash, t, ...bindings),
    deps.db
      .prepare(
        `UPDATE sessions SET revoked_at = ?, revoke_reason = 'password-reset' WHERE user_id = ${owner} AND revoked_at IS NULL`,
      )
      .bind(t, ...bindings),
    ...emailStatements(deps.db, deps.config, pending.email, { template: "password-changed", name: pending.name }, t, {
      onlyIf: { sql: `${owner} IS NOT NULL`, bindings },
    }),
  ]);
  await audit(deps.db, deps.config, deps.meta, { action: "auth.reset-password", outcome: "success", userId });
}

export interface LoginInput {
  email: string;
  password: string;
  turnstileToken?: string;
}

export async function login(deps: AuthDeps, input: LoginInput): Promise<{ tokens: IssuedTokens; user: PublicUser }> {
  const email = normalizeEmail(input.email);
  const policy = deps.config.ratePolicies["auth-login"];
  const loginKey = `login:${addressKey(deps.meta.ip)}|${(await emailKey(deps.config.hashPepper, email)).slice(6)}`;
  const deny = async (decision: RateLimitDecision) => {
    await audit(deps.db, deps.config, deps.meta, {
      action: "auth.login",
      outcome: "denied",
      detail: { reason: "rate-limited" },
    });
    return rateLimited(policy, decision);
  };
  const gate = await peek(deps.limiter, loginKey, policy);
  if (!gate.allowed) throw await deny(gate);
  const succeeded = await countAttemptForChallenge(deps, email, input.turnstileToken);
  // Take the attempt before checking the password: a burst of concurrent guesses all passes the peek
  // above, but each needs its own unit here, so at most `limit` passwords are tried per window.
  const attempt = await spend(deps.limiter, loginKey, policy);
  if (!attempt.allowed) throw await deny(attempt);

  const user = await findUserByEmail(deps.db, email);
  const ok = user?.password_hash
    ? await verifyPassword(input.password, user.password_hash)
    : await burnHashTime(input.password, deps.config.passwordScrypt);
  if (!user || !ok) {
    await audit(deps.db, deps.config, deps.meta, {
      action: "auth.login",
      outcome: "failure",
      userId: user?.id ?? null,
      detail: { reason: user ? "bad-password" : "unknown-email" },
    });
    throw new DomainError("invalid-credentials", "Email or password is incorrect.");
  }

  const t = now(deps);
  const extra: D1PreparedStatement[] = [
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.login", outcome: "success", userId: user.id },
      t,
    ),
  ];
  if (user.password_hash && needsRehash(user.password_hash, deps.config.passwordScrypt)) {
    // Parameters moved since this hash was written: upgrade it now that we hold the password.
    const upgraded = await hashPassword(input.password, deps.config.passwordScrypt);
    extra.push(
      deps.db.prepare("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?").bind(upgraded, t, user.id),
    );
  }
  const tokens = await openSession(
    deps.db,
    deps.config,
    { id: user.id, sessionEpoch: user.session_epoch },
    "password",
    deps.meta,
    extra,
    t,
  );
  await Promise.all([forgive(deps.limiter, loginKey, policy), succeeded()]);
  return { tokens, user: toPublicUser(user) };
}

export async function refresh(
  deps: AuthDeps,
  refreshToken: string,
): Promise<{ tokens: IssuedTokens; user: PublicUser }> {
  const tokens = await rotateRefreshToken(deps.db, deps.config, refreshToken, deps.meta, now(deps));
  const user = await findUserById(deps.db, tokens.userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  return { tokens, user: toPublicUser(user) };
}

export async function logout(deps: AuthDeps, sessionId: string, userId: string): Promise<void> {
  await revokeSession(deps.db, sessionId, "logout", now(deps));
  await audit(deps.db, deps.config, deps.meta, { action: "auth.logout", outcome: "success", userId });
}

/** Six digits from a CSPRNG, uniform (rejection sampling avoids modulo bias). */
export function generateOtp(): string {
  const buffer = new Uint32Array(1);
  const limit = Math.floor(0x1_0000_0000 / 1_000_000) * 1_000_000;
  for (;;) {
    crypto.getRandomValues(buffer);
    const value = buffer[0] as number;
    if (value < limit) return String(value % 1_000_000).padStart(6, "0");
  }
}

async function otpHash(config: Config, email: string, code: string) {
  return hmacHex(config.hashPepper, `otp:${email}:${code}`);
}

/** Always 202-shaped: a code goes out only for an existing, unlocked account. */
export async function requestOtp(deps: AuthDeps, rawEmail: string, turnstileToken?: string): Promise<void> {
  const email = normalizeEmail(rawEmail);
  await requireChallengeIfSuspicious(deps, email, turnstileToken);
  const key = await emailKey(deps.config.hashPepper, email);
  const policies = deps.config.ratePolicies;
  const budget = await spend(deps.limiter, key, policies["otp-request"]);
  if (!budget.allowed) throw rateLimited(policies["otp-request"], budget);
  const [user, lock] = await Promise.all([
    findUserByEmail(deps.db, email),
    peek(deps.limiter, key, policies["otp-verify"]),
  ]);
  if (!user || !lock.allowed) return;
  const t = now(deps);
  const code = generateOtp();
  const results = await deps.db.batch([
    // One live code per email: a new code replaces (invalidates) the previous one.
    deps.db
      .prepare(
        "INSERT INTO otp_codes (email, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at",
      )
      .bind(email, await otpHash(deps.config, email, code), t, t + LIMITS.otpTtlSeconds * 1000),
    ...emailStatements(
      deps.db,
      deps.config,
      email,
      { template: "otp-code", code, minutes: LIMITS.otpTtlSeconds / 60 },
      t,
    ),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.otp-request", outcome: "success", userId: user.id },
      t,
    ),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
}

export async function verifyOtp(
  deps: AuthDeps,
  rawEmail: string,
  code: string,
): Promise<{ tokens: IssuedTokens; user: PublicUser }> {
  const email = normalizeEmail(rawEmail);
  const key = await emailKey(deps.config.hashPepper, email);
  const policy = deps.config.ratePolicies["otp-verify"];
  // Take the attempt before checking the code: a peek would let a burst of concurrent guesses all
  // through before the lock engages. A correct code clears the count below.
  const attempt = await spend(deps.limiter, key, policy);
  if (!attempt.allowed) {
    throw new DomainError("locked", `Too many wrong codes. Try again in ${attempt.retryAfterSeconds} s.`, {
      retryAfter: attempt.retryAfterSeconds,
    });
  }
  const t = now(deps);
  const presented = await otpHash(deps.config, email, code);
  const row = await deps.db
    .prepare("SELECT code_hash, expires_at FROM otp_codes WHERE email = ?")
    .bind(email)
    .first<{ code_hash: string; expires_at: number }>();
  const matches = row !== null && row.expires_at > t && timingSafeEqual(row.code_hash, presented);
  // Single use: only the request that deletes the row may sign in.
  const consumed =
    matches &&
    (await deps.db.prepare("DELETE FROM otp_codes WHERE email = ? AND code_hash = ?").bind(email, presented).run()).meta
      .changes === 1;
  const user = consumed ? await findUserByEmail(deps.db, email) : null;
  if (!user) {
    const lockedNow = attempt.remaining === 0;
    // The audit names the account under attack (internal only; the answer stays generic).
    const target = await findUserByEmail(deps.db, email);
    await audit(deps.db, deps.config, deps.meta, {
      action: lockedNow ? "auth.lockout" : "auth.otp-verify",
      outcome: "failure",
      userId: target?.id ?? null,
      detail: { method: "otp" },
    });
    throw new DomainError("invalid-credentials", "The code is incorrect or has expired.");
  }
  await forgive(deps.limiter, key, policy);
  const extra = [
    // Receiving the code proves control of the mailbox.
    deps.db
      .prepare("UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ?")
      .bind(t, t, user.id),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.login", outcome: "success", userId: user.id, detail: { method: "otp" } },
      t,
    ),
  ];
  const tokens = await openSession(
    deps.db,
    deps.config,
    { id: user.id, sessionEpoch: user.session_epoch },
    "otp",
    deps.meta,
    extra,
    t,
  );
  const refreshed = await findUserById(deps.db, user.id);
  return { tokens, user: toPublicUser(refreshed ?? user) };
}

export async function me(db: D1Database, userId: string): Promise<PublicUser> {
  const user = await findUserById(db, userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  return toPublicUser(user);
}

/** Grants the host role; only a verified email may host (ASVS 6.4: identity before privilege). */
export async function becomeHost(deps: AuthDeps, userId: string): Promise<PublicUser> {
  const user = await findUserById(deps.db, userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  if (user.email_verified_at === null) {
    throw new DomainError("email-not-verified", "Verify your email address before hosting events.");
  }
  const roles = JSON.parse(user.roles) as string[];
  if (!roles.includes("host")) {
    const t = now(deps);
    const next = JSON.stringify([...roles, "host"]);
    await deps.db.batch([
      deps.db.prepare("UPDATE users SET roles = ?, updated_at = ? WHERE id = ?").bind(next, t, userId),
      await auditStatement(
        deps.db,
        deps.config,
        deps.meta,
        { action: "role.grant", outcome: "success", userId, detail: { role: "host" } },
        t,
      ),
    ]);
    user.roles = next;
  }
  return toPublicUser(user);
}
