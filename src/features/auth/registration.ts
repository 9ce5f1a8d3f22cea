/**
 * Registration and email verification. No account enumeration: register answers the same for known
 * and unknown emails, and the work only a known email causes happens after the answer.
 */
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { burnHashTime, hashPassword, verifyPassword } from "../../lib/password";
import { audit, auditStatement } from "../audit";
import { emailStatements, enqueueCommitted } from "../email";
import { requireChallengeIfSuspicious } from "./challenge";
import { type AuthDeps, assertPasswordPolicy, now, sessionStores } from "./deps";
import { consumeEmailToken, emailTokenStatements, pendingTokenOwner, verifyLink } from "./email-tokens";
import { clearPreVerificationCredentials } from "./mailbox-proof";
import { withEpochBump } from "./sessions";
import {
  findUserByEmail,
  findUserById,
  normalizeEmail,
  type PublicUser,
  sealedEmail,
  sealName,
  toPublicUser,
  type UserRow,
} from "./users";

export interface RegisterInput {
  email: string;
  password: string;
  name: string;
  turnstileToken?: string;
  next?: string;
}

/**
 * Creates an unverified user and queues the verification email. For an email that already has an
 * account the answer is indistinguishable: same status, same shape, and the same work before the
 * answer (one conditional batch either way). Everything after it, the hand-over to the email queue
 * and the "someone tried to register" notice only a taken address gets, runs after the answer.
 * An unverified account cannot be signed in to with its password (see login): the registrant must
 * first confirm the emailed link with that same password.
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
    updated_at: t,
    email_index: null,
    erased_at: null,
  };
  const stored = sealedEmail(deps.config.pii, email);

  const { token, statements: tokenStatements } = await emailTokenStatements(deps, id, "verify-email");
  const mine = { sql: "EXISTS (SELECT 1 FROM users WHERE id = ?)", bindings: [id] };
  const results = await deps.db.batch([
    // Unique by the email's blind index; a row the PII migration has not reached yet still holds the
    // address in plain text without an index, so it is checked by name too.
    deps.db
      .prepare(
        `INSERT INTO users (id, email, email_index, name, password_hash, roles, session_epoch, created_at, updated_at)
         SELECT ?, ?, ?, ?, ?, ?, 0, ?, ? WHERE NOT EXISTS (SELECT 1 FROM users WHERE email = ?)
         ON CONFLICT DO NOTHING`,
      )
      .bind(
        id,
        stored.email,
        stored.emailIndex,
        sealName(deps.config.pii, name),
        passwordHash,
        candidate.roles,
        t,
        t,
        email,
      ),
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
  // Rows written, the user's profile (made by a trigger, migrations/0011_social.sql) included: 0 when the
  // address was taken.
  const created = (results[0]?.meta.changes ?? 0) > 0;
  deps.defer(async () => {
    await enqueueCommitted(deps.db, deps.emailQueue, results);
    if (!created) await noticeTakenAddress(deps, email, name, t);
  });
  return toPublicUser(candidate);
}

/** The email is taken (possibly by a racing registration): its owner hears that someone tried. */
async function noticeTakenAddress(deps: AuthDeps, email: string, name: string, t: number): Promise<void> {
  const existing = await findUserByEmail(deps, email);
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

export interface VerifiedEmail {
  user: PublicUser;
  /** False when confirming without the sign-up password cleared it (sign in by code, or reset). */
  passwordKept: boolean;
}

/**
 * Confirms an address with its emailed token (a POST from the confirmation page or an app; the link's
 * GET changes nothing). With the password chosen at sign-up, the registrant has proven both that they
 * chose it and that they read the mailbox: the password stays. Without it (or for an account whose
 * password was set by someone else), the mailbox's owner has proven control alone: every credential
 * set up before verification is dropped (see mailbox-proof.ts). A wrong password consumes nothing.
 */
export async function verifyEmail(deps: AuthDeps, token: string, password?: string): Promise<VerifiedEmail> {
  const t = now(deps);
  const pending = await pendingTokenOwner(deps, token, "verify-email");
  const alreadyVerified = pending?.email_verified_at != null;
  if (pending && password !== undefined && !alreadyVerified) {
    const matches = pending.password_hash
      ? await verifyPassword(password, pending.password_hash)
      : await burnHashTime(password, deps.config.passwordScrypt);
    if (!matches) {
      await audit(deps.db, deps.config, deps.meta, {
        action: "auth.verify-email",
        outcome: "failure",
        userId: pending.id,
        detail: { reason: "bad-password" },
      });
      throw new DomainError(
        "invalid-credentials",
        "That is not the password chosen at sign-up. Leave it empty to confirm the address without it.",
      );
    }
  }
  const keep = alreadyVerified || (password !== undefined && pending?.password_hash != null);
  const consume = () =>
    consumeEmailToken(deps, token, "verify-email", (owner, bindings) =>
      keep
        ? [
            // Only while the password checked above is still the stored one.
            deps.db
              .prepare(
                `UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?), updated_at = ?
               WHERE id = ${owner} AND (email_verified_at IS NOT NULL OR password_hash IS ?)`,
              )
              .bind(t, t, ...bindings, pending?.password_hash ?? null),
          ]
        : clearPreVerificationCredentials(deps.db, owner, bindings, t),
    );
  // Dropping pre-verification credentials bumps the epoch: the book hears of it first (sessions.ts).
  const userId =
    !keep && pending
      ? await withEpochBump(sessionStores(deps), pending.id, pending.session_epoch, consume)
      : await consume();
  await audit(deps.db, deps.config, deps.meta, {
    action: "auth.verify-email",
    outcome: "success",
    userId,
    detail: { passwordKept: keep },
  });
  const user = await findUserById(deps, userId);
  if (!user) throw new DomainError("invalid-or-expired", "This link is invalid or has expired.");
  return { user: toPublicUser(user), passwordKept: keep && user.password_hash !== null };
}
