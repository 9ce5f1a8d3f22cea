/** Sign-in by emailed 6-digit code (ASVS 6.5.5, 6.3.1). */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hmacHex, timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { audit, auditStatement } from "../audit/service";
import { enqueueCommitted } from "../email/enqueue";
import { emailStatements } from "../email/outbox";
import { requireChallengeIfSuspicious } from "./challenge";
import { type AuthDeps, now } from "./deps";
import { emailKey, forgive, peek, rateLimited, spend } from "./guards";
import { type IssuedTokens, openSession } from "./sessions";
import { findUserByEmail, findUserById, normalizeEmail, type PublicUser, toPublicUser } from "./users";

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
