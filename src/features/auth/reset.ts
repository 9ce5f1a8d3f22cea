/** Forgotten passwords: the emailed reset link and setting a new password (ASVS 6.3.7, 7.4.3). */
import { DomainError } from "../../lib/errors";
import { hashPassword } from "../../lib/password";
import { audit, auditStatement } from "../audit";
import { emailStatements, enqueueCommitted } from "../email";
import { type AuthDeps, assertPasswordPolicy, now, sessionStores } from "./deps";
import { consumeEmailToken, emailTokenStatements, pendingTokenOwner } from "./email-tokens";
import { emailKey, rateLimited, spend } from "./guards";
import { withEpochBump } from "./sessions";
import { findUserByEmail, normalizeEmail, type UserRow } from "./users";

/** Always the same answer; a reset link goes out only when the account exists. */
export async function forgotPassword(deps: AuthDeps, rawEmail: string): Promise<void> {
  const email = normalizeEmail(rawEmail);
  const policy = deps.config.ratePolicies["auth-reset"];
  const decision = await spend(deps.limiter, await emailKey(deps.config.hashPepper, email), policy);
  if (!decision.allowed) throw rateLimited(policy, decision);
  const user = await findUserByEmail(deps, email);
  // The link goes out after the answer: writing and queueing it only for known emails would otherwise
  // tell them apart by timing.
  if (user) deps.defer(() => mailResetLink(deps, user, email));
}

async function mailResetLink(deps: AuthDeps, user: UserRow, email: string): Promise<void> {
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
  const t = now(deps);
  const pending = await pendingTokenOwner(deps, token, "reset-password");
  if (!pending) {
    await audit(deps.db, deps.config, deps.meta, { action: "auth.reset-password", outcome: "failure" });
    throw new DomainError("invalid-or-expired", "This link is invalid or has expired. Request a new one.");
  }
  assertPasswordPolicy(password, pending.email);
  const passwordHash = await hashPassword(password, deps.config.passwordScrypt);
  // The book hears of the epoch bump before D1 does: every session stops acting at once (sessions.ts).
  const userId = await withEpochBump(sessionStores(deps), pending.id, pending.session_epoch, () =>
    consumeEmailToken(deps, token, "reset-password", (owner, bindings) => [
      // Every statement keys on the consuming request's marker, so a racing second use changes nothing.
      // The epoch bump kills outstanding access tokens at once; revoking sessions kills refresh tokens.
      // Reading the link proves control of the mailbox: an unverified account is verified by it (its
      // pre-verification password is replaced and its sessions revoked right here).
      deps.db
        .prepare(
          `UPDATE users SET password_hash = ?, session_epoch = session_epoch + 1,
           email_verified_at = COALESCE(email_verified_at, ?), updated_at = ? WHERE id = ${owner}`,
        )
        .bind(passwordHash, t, t, ...bindings),
      deps.db
        .prepare(
          `UPDATE sessions SET revoked_at = ?, revoke_reason = 'password-reset' WHERE user_id = ${owner} AND revoked_at IS NULL`,
        )
        .bind(t, ...bindings),
      ...emailStatements(deps.db, deps.config, pending.email, { template: "password-changed", name: pending.name }, t, {
        onlyIf: { sql: `${owner} IS NOT NULL`, bindings },
      }),
    ]),
  );
  await audit(deps.db, deps.config, deps.meta, { action: "auth.reset-password", outcome: "success", userId });
}
