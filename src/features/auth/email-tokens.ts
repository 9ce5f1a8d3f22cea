/** Single-use emailed tokens (verification, reset): issued hashed, consumed exactly once. */
import { LIMITS } from "../../config/limits";
import { randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { audit } from "../audit";
import { enqueueCommitted } from "../email";
import { type AuthDeps, now } from "./deps";
import { openEmail, openName } from "./users";

export async function emailTokenStatements(deps: AuthDeps, userId: string, purpose: "verify-email" | "reset-password") {
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

/**
 * The emailed verification link: the confirmation page, which changes nothing until its form is
 * submitted (a mail scanner that fetches every link must not verify anyone).
 */
export function verifyLink(origin: string, token: string, next?: string) {
  const url = new URL("/verify-email", origin);
  url.searchParams.set("token", token);
  if (next) url.searchParams.set("next", next);
  return url.href;
}

export interface PendingTokenOwner {
  id: string;
  email: string;
  name: string;
  password_hash: string | null;
  email_verified_at: number | null;
  session_epoch: number;
}

/** The account behind a still-usable token, without consuming it (null when used, expired or unknown). */
export async function pendingTokenOwner(
  deps: AuthDeps,
  token: string,
  purpose: "verify-email" | "reset-password",
): Promise<PendingTokenOwner | null> {
  return deps.db
    .prepare(
      `SELECT u.id, u.email, u.name, u.password_hash, u.email_verified_at, u.session_epoch
       FROM email_tokens e JOIN users u ON u.id = e.user_id
       WHERE e.token_hash = ? AND e.purpose = ? AND e.used_at IS NULL AND e.expires_at > ?`,
    )
    .bind(await sha256Hex(token), purpose, now(deps))
    .first<PendingTokenOwner>()
    .then((owner) =>
      owner
        ? { ...owner, email: openEmail(deps.config.pii, owner.email), name: openName(deps.config.pii, owner.name) }
        : null,
    );
}

/** Consumes a single-use email token; returns the user id, or throws invalid-or-expired. */
export async function consumeEmailToken(
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
