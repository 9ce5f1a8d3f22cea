/** Counting the sign-in codes that were actually checked (one failure audit row each). */
import { countRows } from "../../support/db";
import { emailIndexOf } from "../../support/users";

export function evaluatedFor(emails: string[]): Promise<number> {
  return countRows(
    "audit_log",
    `action IN ('auth.otp-verify', 'auth.lockout') AND outcome = 'failure' AND user_id IN (SELECT id FROM users WHERE email_index IN (${emails.map(() => "?").join(",")}) OR email IN (${emails.map(() => "?").join(",")}))`,
    ...emails.map(emailIndexOf),
    ...emails,
  );
}
