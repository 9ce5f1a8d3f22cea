/**
 * Queue passes (issue 20): what an admitted buyer shows with their order (`Queue-Pass` header). A pass
 * is `<kid>.<expires>.<signature>`: HMAC-SHA-256 over the event id, the user id and the expiry (Unix
 * seconds), so it is bound to one buyer and one event without naming either, and short-lived
 * (LIMITS.queuePassSeconds from admission). The Worker verifies it on its own: no object call on the
 * order path.
 *
 * The key is derived from the access-token keys (config JWT_KEYS: the first signs, all verify), one
 * HMAC per key with a purpose label, so passes rotate with them and need no secret of their own, and
 * a pass can never be mistaken for any other token signed with those keys.
 */
import type { SigningKey } from "../../config";
import { hmacBase64url, timingSafeEqual } from "../../lib/crypto";

const PURPOSE = "gatehouse queue pass v1";
/** Longer than any pass we sign (a 64-character kid, 12 digits, 43 signature characters). */
const PASS_MAX_CHARS = 128;
const PASS = /^([A-Za-z0-9._-]{1,64})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

type Keys = readonly [SigningKey, ...SigningKey[]];

export interface PassClaims {
  eventId: string;
  userId: string;
  /** Unix seconds. */
  expiresAt: number;
}

async function signature(secret: string, claims: PassClaims): Promise<string> {
  const key = await hmacBase64url(secret, PURPOSE);
  return hmacBase64url(key, `${claims.eventId}\n${claims.userId}\n${claims.expiresAt}`);
}

export async function signQueuePass(keys: Keys, claims: PassClaims): Promise<string> {
  const [current] = keys;
  return `${current.kid}.${claims.expiresAt}.${await signature(current.secret, claims)}`;
}

/** Whether `pass` is a live pass of ours for this user and event; anything else (absent included) is false. */
export async function verifyQueuePass(
  keys: Keys,
  pass: string | undefined,
  expected: { eventId: string; userId: string; now: number },
): Promise<boolean> {
  if (!pass || pass.length > PASS_MAX_CHARS) return false;
  const match = PASS.exec(pass);
  if (!match) return false;
  const [, kid, expires, sig] = match as unknown as [string, string, string, string];
  const key = keys.find((k) => k.kid === kid);
  const expiresAt = Number(expires);
  if (!key || expiresAt * 1000 <= expected.now) return false;
  return timingSafeEqual(
    sig,
    await signature(key.secret, { eventId: expected.eventId, userId: expected.userId, expiresAt }),
  );
}
