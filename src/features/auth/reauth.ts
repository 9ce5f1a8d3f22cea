/**
 * Re-authentication before an act that cannot be undone (erasing the account, src/features/privacy):
 * a signed-in session is not enough, the person proves the account's credential again. An account
 * with a password gives the password, under the same `auth-login` budget as signing in (a stolen
 * session must not become a way to guess it faster); an account without one (signed in by emailed
 * code only) gives a fresh code from POST /api/v1/auth/otp/request, checked and consumed exactly as
 * a sign-in's, lockout included. Failures answer `invalid-credentials` (401) and are audited.
 */
import { DomainError } from "../../lib/errors";
import { verifyPassword } from "../../lib/password";
import { audit } from "../audit";
import { type AuthDeps, now } from "./deps";
import { forgive, peek, rateLimited, spend } from "./guards";
import { loginBudgetKey } from "./login";
import { consumeCode, takeCodeAttempt } from "./otp";
import { findUserById, type UserRow } from "./users";

export interface ReauthProof {
  password?: string | undefined;
  code?: string | undefined;
}

/** The account, once `proof` is its credential; throws invalid-credentials (or a rate refusal) otherwise. */
export async function reauthenticate(
  deps: AuthDeps,
  userId: string,
  proof: ReauthProof,
  action: string,
): Promise<UserRow> {
  const user = await findUserById(deps, userId);
  if (!user || user.erased_at !== null) throw new DomainError("unauthorized", "Sign in again.");
  const ok = user.password_hash ? await checkPassword(deps, user, proof) : await checkCode(deps, user, proof);
  if (!ok) {
    await audit(deps.db, deps.config, deps.meta, {
      action,
      outcome: "failure",
      userId,
      detail: { reason: user.password_hash ? "bad-password" : "bad-code" },
    });
    throw new DomainError(
      "invalid-credentials",
      user.password_hash ? "The password is incorrect." : "The code is incorrect or has expired.",
    );
  }
  return user;
}

async function checkPassword(deps: AuthDeps, user: UserRow, proof: ReauthProof): Promise<boolean> {
  if (proof.password === undefined) {
    throw new DomainError("validation-failed", "Confirm with your password.", {
      errors: [{ path: "password", message: "required for an account with a password" }],
    });
  }
  const policy = deps.config.ratePolicies["auth-login"];
  const key = await loginBudgetKey(deps, user.email);
  const gate = await peek(deps.limiter, key, policy);
  if (!gate.allowed) throw rateLimited(policy, gate);
  // Spent before checking, as at sign-in: concurrent guesses each need their own unit.
  const attempt = await spend(deps.limiter, key, policy);
  if (!attempt.allowed) throw rateLimited(policy, attempt);
  if (!user.password_hash || !(await verifyPassword(proof.password, user.password_hash))) return false;
  await forgive(deps.limiter, key, policy);
  return true;
}

async function checkCode(deps: AuthDeps, user: UserRow, proof: ReauthProof): Promise<boolean> {
  if (proof.code === undefined) {
    throw new DomainError("validation-failed", "Confirm with a sign-in code: request one, then send it as code.", {
      errors: [{ path: "code", message: "required for an account without a password" }],
    });
  }
  const attempt = await takeCodeAttempt(deps, user.email, undefined);
  if (!(await consumeCode(deps, user.email, proof.code, now(deps)))) return false;
  await attempt.succeeded();
  return true;
}
