/**
 * What proving control of a mailbox does to an account that was never verified. Anyone can register
 * someone else's address and choose its password; when the address's owner later proves control
 * without that password (signing in by emailed code, confirming the link without the password,
 * resetting), nothing the registrant set up may survive: the password chosen before verification is
 * cleared, the session epoch moves (access tokens die at once) and every earlier session is revoked.
 * Each statement is conditional on the account still being unverified, so a verified account loses
 * nothing.
 */

/**
 * Statements that verify the account named by `userIdSql` (a value or a subquery with `bindings`) and
 * drop its pre-verification credentials. `epoch`, when given, must still be the account's epoch: a
 * caller that opens a session next opens it under `epoch + 1`, and only if this update applied.
 */
export function clearPreVerificationCredentials(
  db: D1Database,
  userIdSql: string,
  bindings: unknown[],
  t: number,
  epoch?: number,
): D1PreparedStatement[] {
  const sameEpoch = epoch === undefined ? "" : " AND session_epoch = ?";
  return [
    // Sessions first: the user row is still unverified while they are revoked.
    db
      .prepare(
        `UPDATE sessions SET revoked_at = ?, revoke_reason = 'credentials-cleared'
         WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE id = ${userIdSql} AND email_verified_at IS NULL${sameEpoch})`,
      )
      .bind(t, ...bindings, ...(epoch === undefined ? [] : [epoch])),
    db
      .prepare(
        `UPDATE users SET email_verified_at = ?, password_hash = NULL, session_epoch = session_epoch + 1, updated_at = ?
         WHERE id = ${userIdSql} AND email_verified_at IS NULL${sameEpoch}`,
      )
      .bind(t, t, ...bindings, ...(epoch === undefined ? [] : [epoch])),
  ];
}
