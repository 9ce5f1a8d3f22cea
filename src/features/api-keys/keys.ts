/**
 * The shape of a host's API key: `gh_live_` and 32 random bytes as unpadded base64url (256 bits, far
 * beyond guessing; the issue asks ≥ 128). Only its SHA-256 is stored; its first characters stay
 * visible so a host can tell keys apart in a list (as Stripe and GitHub show theirs). A fast hash is
 * enough: the key is random, not a password, so there is nothing to brute-force from the hash.
 */
import { randomToken, sha256Hex } from "../../lib/crypto";

/** Prefix of every key: marks the credential in logs and secret scanners, and routes it to its authenticator. */
export const API_KEY_PREFIX = "gh_live_";
const API_KEY_BYTES = 32;
/** Characters of the key shown in lists: the prefix and four of the random part (24 bits: a hint, not a secret). */
export const API_KEY_VISIBLE_CHARS = API_KEY_PREFIX.length + 4;

/**
 * A key exactly as mintApiKey makes it: 32 bytes are 43 base64url characters (RFC 4648 §5), the last
 * carrying 4 bits (its 2 low bits zero). Anything else is refused before any lookup.
 */
const API_KEY_FORMAT = new RegExp(`^${API_KEY_PREFIX}[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`);

export function apiKeyShape(value: string): boolean {
  return API_KEY_FORMAT.test(value);
}

export interface MintedKey {
  key: string;
  prefix: string;
  hash: string;
}

export async function mintApiKey(): Promise<MintedKey> {
  const key = API_KEY_PREFIX + randomToken(API_KEY_BYTES);
  return { key, prefix: key.slice(0, API_KEY_VISIBLE_CHARS), hash: await hashApiKey(key) };
}

/** SHA-256 (hex) of the whole key: what `api_keys.key_hash` holds and what a request is looked up by. */
export function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}
