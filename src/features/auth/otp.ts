/** Sign-in by emailed 6-digit code (ASVS 6.5.5, 6.3.1). */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hmacHex, timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import type { RateLimitDecision } from "../../lib/rate-limit-client";
import { audit, auditStatement } from "../audit";
import { emailStatements, enqueueCommitted } from "../email";
import { requireChallengeIfSuspicious } from "./challenge";
import { type AuthDeps, now, sessionStores } from "./deps";
import { addressKey, emailKey, forgive, giveBack, peek, rateLimited, spend } from "./guards";
import { clearPreVerificationCredentials } from "./mailbox-proof";
import { type IssuedTokens, openSession, sessionUserOf, withEpochBump } from "./sessions";
import { verifyTurnstile } from "./turnstile";
import {
  emailIndex,
  findUserByEmail,
  findUserById,
  normalizeEmail,
  type PublicUser,
  toPublicUser,
  type UserRow,
} from "./users";

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
    findUserByEmail(deps, email),
    peek(deps.limiter, key, policies["otp-verify"]),
  ]);
  // The code goes out after the answer: writing and queueing it only for known emails would otherwise
  // tell them apart by timing.
  if (user && lock.allowed) deps.defer(() => mailCode(deps, user, email));
}

async function mailCode(deps: AuthDeps, user: UserRow, email: string): Promise<void> {
  const t = now(deps);
  const code = generateOtp();
  const results = await deps.db.batch([
    // One live code per email: a new code replaces (invalidates) the previous one.
    deps.db
      .prepare(
        "INSERT INTO otp_codes (email, code_hash, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at, expires_at = excluded.expires_at",
      )
      // Keyed by the email's blind index, never the address itself.
      .bind(
        emailIndex(deps.config.pii, email),
        await otpHash(deps.config, email, code),
        t,
        t + LIMITS.otpTtlSeconds * 1000,
      ),
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

/**
 * Takes one unit from each budget a code check spends: the email's lockout (423), the address's
 * (429: one address may not spray codes across many accounts) and the platform's (Turnstile, or 429
 * where none is configured). Nothing is evaluated unless all three allow it; units taken from the
 * budgets that did allow are handed back when another refuses, so only evaluated codes count.
 * Returns the hand-back for a correct code, after which only failures remain counted.
 */
export async function takeCodeAttempt(deps: AuthDeps, email: string, turnstileToken: string | undefined) {
  const policies = deps.config.ratePolicies;
  const keys = [
    { key: await emailKey(deps.config.hashPepper, email), policy: policies["otp-verify"] },
    { key: addressKey(deps.meta.ip), policy: policies["otp-verify-ip"] },
    { key: "global:otp-verify", policy: policies["otp-verify-global"] },
  ] as const;
  const decisions = await Promise.all(keys.map(({ key, policy }) => spend(deps.limiter, key, policy)));
  const [byEmail, byAddress, global] = decisions as [RateLimitDecision, RateLimitDecision, RateLimitDecision];
  const handBack = (which: (decision: RateLimitDecision, index: number) => boolean) =>
    Promise.all(
      keys.map(({ key, policy }, index) =>
        decisions[index]?.allowed && which(decisions[index], index) ? giveBack(deps.limiter, key, policy) : undefined,
      ),
    );
  const refuse = async (error: DomainError): Promise<never> => {
    await handBack(() => true);
    throw error;
  };
  if (!byEmail.allowed) {
    await refuse(
      new DomainError("locked", `Too many wrong codes. Try again in ${byEmail.retryAfterSeconds} s.`, {
        retryAfter: byEmail.retryAfterSeconds,
      }),
    );
  }
  if (!byAddress.allowed) await refuse(rateLimited(policies["otp-verify-ip"], byAddress));
  if (!global.allowed) {
    const secret = deps.config.turnstileSecret;
    if (!secret) await refuse(rateLimited(policies["otp-verify-global"], global));
    else if (!turnstileToken || !(await verifyTurnstile(secret, turnstileToken, deps.meta.ip))) {
      await refuse(
        new DomainError("challenge-required", "Complete the human verification challenge and retry.", {
          challenge: "turnstile",
        }),
      );
    }
  }
  return {
    lockedNow: byEmail.remaining === 0,
    succeeded: async () => {
      await Promise.all([forgive(deps.limiter, keys[0].key, keys[0].policy), handBack((_, index) => index > 0)]);
    },
  };
}

/**
 * Whether `code` is the live, unexpired code of `email`, consuming it if so. Single use: only the
 * request that deletes the row gets true. Callers take the attempt first (takeCodeAttempt).
 */
export async function consumeCode(deps: AuthDeps, email: string, code: string, t: number): Promise<boolean> {
  const presented = await otpHash(deps.config, email, code);
  const row = await deps.db
    .prepare("SELECT code_hash, expires_at FROM otp_codes WHERE email = ?")
    .bind(emailIndex(deps.config.pii, email))
    .first<{ code_hash: string; expires_at: number }>();
  const matches = row !== null && row.expires_at > t && timingSafeEqual(row.code_hash, presented);
  return (
    matches &&
    (
      await deps.db
        .prepare("DELETE FROM otp_codes WHERE email = ? AND code_hash = ?")
        .bind(emailIndex(deps.config.pii, email), presented)
        .run()
    ).meta.changes === 1
  );
}

export async function verifyOtp(
  deps: AuthDeps,
  rawEmail: string,
  code: string,
  turnstileToken?: string,
): Promise<{ tokens: IssuedTokens; user: PublicUser }> {
  const email = normalizeEmail(rawEmail);
  // Take the attempt before checking the code: a peek would let a burst of concurrent guesses all
  // through before the lock engages. A correct code hands the units back below.
  const attempt = await takeCodeAttempt(deps, email, turnstileToken);
  const t = now(deps);
  let user = (await consumeCode(deps, email, code, t)) ? await findUserByEmail(deps, email) : null;
  if (!user) {
    // The audit names the account under attack (internal only; the answer stays generic).
    const target = await findUserByEmail(deps, email);
    await audit(deps.db, deps.config, deps.meta, {
      action: attempt.lockedNow ? "auth.lockout" : "auth.otp-verify",
      outcome: "failure",
      userId: target?.id ?? null,
      detail: { method: "otp" },
    });
    throw new DomainError("invalid-credentials", "The code is incorrect or has expired.");
  }
  await attempt.succeeded();
  if (user.email_verified_at === null) {
    // Receiving the code proves control of the mailbox, not that this person chose the account's
    // password: whatever was set up before verification goes (mailbox-proof.ts).
    const unverified = user;
    const [, cleared] = await withEpochBump(sessionStores(deps), unverified.id, unverified.session_epoch, () =>
      deps.db.batch(clearPreVerificationCredentials(deps.db, "?", [unverified.id], t, unverified.session_epoch)),
    );
    user =
      cleared?.meta.changes === 1
        ? { ...user, email_verified_at: t, password_hash: null, session_epoch: user.session_epoch + 1 }
        : await findUserById(deps, user.id);
    if (!user) throw new DomainError("unauthorized", "Sign in again.");
  }
  const extra = [
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "auth.login", outcome: "success", userId: user.id, detail: { method: "otp" } },
      t,
    ),
  ];
  const tokens = await openSession(sessionStores(deps), deps.config, sessionUserOf(user), "otp", deps.meta, extra, t);
  return { tokens, user: toPublicUser(user) };
}
