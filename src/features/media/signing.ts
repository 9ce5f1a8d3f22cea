/**
 * Signed media URLs: `/media/<id>?exp=<unix seconds>&kid=<key id>&sig=<hex>`, where sig is
 * HMAC-SHA-256 over a versioned message of id, expiry and key id under that key. The first key signs,
 * every listed key verifies (rotation keeps live URLs working). Verification runs the HMAC and a
 * constant-time compare whatever the failure, and reports why only to the caller's log.
 */
import type { SigningKey } from "../../config";
import { hmacHex, timingSafeEqual } from "../../lib/crypto";

export interface SignedParams {
  exp: number;
  kid: string;
  sig: string;
}

export type SignatureFailure = "missing" | "malformed" | "unknown-key" | "bad-signature" | "expired";

export type SignatureCheck = { ok: true; exp: number } | { ok: false; reason: SignatureFailure };

/** Domain-separated, so a MAC made for anything else under the same secret never verifies here. */
function message(id: string, exp: number, kid: string): string {
  return `gatehouse/media/v1\n${id}\n${exp}\n${kid}`;
}

export async function signMedia(keys: readonly [SigningKey, ...SigningKey[]], id: string, exp: number) {
  const [key] = keys;
  return { exp, kid: key.kid, sig: await hmacHex(key.secret, message(id, exp, key.kid)) } satisfies SignedParams;
}

export function signedPath(id: string, params: SignedParams): string {
  const query = new URLSearchParams({ exp: String(params.exp), kid: params.kid, sig: params.sig });
  return `/media/${encodeURIComponent(id)}?${query}`;
}

/**
 * Checks a URL's parameters at `nowSeconds`. Valid while `nowSeconds < exp`. A URL without `kid`
 * is checked against the current (first) key.
 */
export async function verifyMedia(
  keys: readonly [SigningKey, ...SigningKey[]],
  id: string,
  query: { exp?: string | undefined; kid?: string | undefined; sig?: string | undefined },
  nowSeconds: number,
): Promise<SignatureCheck> {
  if (!query.exp || !query.sig) return { ok: false, reason: "missing" };
  if (!/^\d{1,12}$/.test(query.exp) || !/^[0-9a-f]{64}$/.test(query.sig)) return { ok: false, reason: "malformed" };
  const exp = Number(query.exp);
  const key = query.kid === undefined ? keys[0] : keys.find((k) => k.kid === query.kid);
  // An unknown kid still pays for one HMAC, so the answer time does not tell keys apart.
  const expected = await hmacHex(key?.secret ?? keys[0].secret, message(id, exp, key?.kid ?? ""));
  const match = timingSafeEqual(expected, query.sig);
  if (!key) return { ok: false, reason: "unknown-key" };
  if (!match) return { ok: false, reason: "bad-signature" };
  if (nowSeconds >= exp) return { ok: false, reason: "expired" };
  return { ok: true, exp };
}
