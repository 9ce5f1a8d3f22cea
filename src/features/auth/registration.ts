/**
 * Registration and email verification. No account enumeration: register answers the same for known
 * and unknown emails, and the work only a known email causes happens after the answer.
 */
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { hashPassword } from "../../lib/password";
import { audit, auditStatement } from "../audit/service";
import { enqueueCommitted } from "../email/enqueue";
import { emailStatements } from "../email/outbox";
import { requireChallengeIfSuspicious } from "./challenge";
import { type AuthDeps, assertPasswordPolicy, now } from "./deps";
import { consumeEmailToken, emailTokenStatements, verifyLink } from "./email-tokens";
import { findUserByEmail, findUserById, normalizeEmail, type PublicUser, toPublicUser, type UserRow } from "./users";

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
