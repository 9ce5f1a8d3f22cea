/** Password sign-in, refresh and logout (ASVS 6.3, 7.2–7.4). Login spends a password hash either way. */
import { DomainError } from "../../lib/errors";
import { burnHashTime, hashPassword, needsRehash, verifyPassword } from "../../lib/password";
import type { RateLimitDecision } from "../../lib/rate-limit-client";
import { audit, auditStatement } from "../audit";
import { countAttemptForChallenge } from "./challenge";
import { type AuthDeps, now, sessionStores } from "./deps";
import { addressKey, emailKey, forgive, peek, rateLimited, spend } from "./guards";
import { type IssuedTokens, openSession, revokeSession, rotateRefreshToken, sessionUserOf } from "./sessions";
import { findUserByEmail, findUserById, normalizeEmail, type PublicUser, toPublicUser } from "./users";

export interface LoginInput {
  email: string;
  password: string;
  turnstileToken?: string;
}

/** The `auth-login` budget's key: the address and the account together (re-authentication spends it too). */
export async function loginBudgetKey(deps: AuthDeps, email: string): Promise<string> {
  return `login:${addressKey(deps.meta.ip)}|${(await emailKey(deps.config.hashPepper, email)).slice(6)}`;
}

export async function login(deps: AuthDeps, input: LoginInput): Promise<{ tokens: IssuedTokens; user: PublicUser }> {
  const email = normalizeEmail(input.email);
  const policy = deps.config.ratePolicies["auth-login"];
  const loginKey = await loginBudgetKey(deps, email);
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

  const user = await findUserByEmail(deps, email);
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
  if (user.email_verified_at === null) {
    // The password is right, but whoever chose it has not shown they read this mailbox: anyone can
    // register someone else's address. No session until the emailed link is confirmed with it. Only a
    // caller who knows the password learns the account exists, so this answer enumerates nothing.
    await Promise.all([
      forgive(deps.limiter, loginKey, policy),
      succeeded(),
      audit(deps.db, deps.config, deps.meta, {
        action: "auth.login",
        outcome: "denied",
        userId: user.id,
        detail: { reason: "email-not-verified" },
      }),
    ]);
    throw new DomainError(
      "email-not-verified",
      "Confirm your email address first: open the link we emailed you and enter this password there.",
    );
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
    sessionStores(deps),
    deps.config,
    sessionUserOf(user),
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
  const tokens = await rotateRefreshToken(sessionStores(deps), deps.config, refreshToken, deps.meta, now(deps));
  const user = await findUserById(deps, tokens.userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  return { tokens, user: toPublicUser(user) };
}

export async function logout(deps: AuthDeps, sessionId: string, userId: string): Promise<void> {
  await revokeSession(sessionStores(deps), deps.config, userId, sessionId, "logout", now(deps));
  await audit(deps.db, deps.config, deps.meta, { action: "auth.logout", outcome: "success", userId });
}
