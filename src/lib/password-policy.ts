/**
 * Password policy for new and changed passwords (NIST 800-63B 3.1.1.2, OWASP ASVS 5.0 V6.2): length
 * 8 to 128 characters, any characters, not one of the most common passwords, not the account's email.
 * No composition rules and no periodic expiry: both push users toward predictable passwords.
 * Hashing lives in ./password.ts; this module only decides whether a password is acceptable.
 */
import { commonPasswords } from "./common-passwords";

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

export type PasswordPolicyReason = "too-short" | "too-long" | "common" | "equals-email";
export type PasswordPolicyResult = { ok: true } | { ok: false; reason: PasswordPolicyReason };

// Stops at `limit`, so an oversized body costs no more than the limit to measure.
function codePointsUpTo(text: string, limit: number): number {
  let count = 0;
  for (const _ of text) {
    count += 1;
    if (count >= limit) break;
  }
  return count;
}

/**
 * Checks `password` against the policy; `email` is the account's address when known.
 *
 * Length is counted in Unicode code points after NFKC normalisation, the form password.ts hashes:
 * NIST counts each code point as one character, UTF-16 length would count an emoji or a CJK
 * extension character as two, and normalising first means "é" typed as one or two code points (or
 * full-width "ｐａｓｓ") counts, compares with the blocklist and hashes the same way.
 */
export function checkPasswordPolicy(password: string, email?: string): PasswordPolicyResult {
  const normalized = password.normalize("NFKC");
  const length = codePointsUpTo(normalized, PASSWORD_MAX_LENGTH + 1);
  if (length < PASSWORD_MIN_LENGTH) return { ok: false, reason: "too-short" };
  if (length > PASSWORD_MAX_LENGTH) return { ok: false, reason: "too-long" };

  const folded = normalized.toLowerCase();
  if (commonPasswords().has(folded)) return { ok: false, reason: "common" };

  if (email) {
    const address = email.normalize("NFKC").trim().toLowerCase();
    const at = address.lastIndexOf("@");
    const localPart = at > 0 ? address.slice(0, at) : "";
    if (folded === address || (localPart !== "" && folded === localPart)) return { ok: false, reason: "equals-email" };
  }
  return { ok: true };
}
