/** Counting the sign-in codes that were actually checked (one failure audit row each). */
import { countRows } from "../../support/db";

export function evaluatedFor(emails: string[]): Promise<number> {
  return countRows(
    "audit_log",
    `action IN ('auth.otp-verify', 'auth.lockout') AND outcome = 'failure' AND user_id IN (SELECT id FROM users WHERE email IN (${emails.map(() => "?").join(",")}))`,
    ...emails,
  );
}
