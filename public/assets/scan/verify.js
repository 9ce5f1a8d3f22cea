/**
 * Checking a ticket's QR token on the device, offline, by the server's rules (see
 * src/features/gate/token.ts for the format): a compact JWS with header exactly { alg: "EdDSA", kid },
 * signature checked with the manifest's JWKS (WebCrypto Ed25519) before the 33-byte payload (type,
 * ticket id, event reference, issued and expiry seconds) is believed; then times (with the server's
 * skew) and the event reference the manifest states.
 */
const SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const PAYLOAD_BYTES = 33;
const TICKET_TOKEN_TYPE = 0x01;
const encoder = new TextEncoder();

export function fromBase64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function toBase64url(bytes) {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const keyCache = new Map();

function importKey(jwk) {
  const id = `${jwk.kid}:${jwk.x}`;
  let key = keyCache.get(id);
  if (!key) {
    key = crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, [
      "verify",
    ]);
    keyCache.set(id, key);
  }
  return key;
}

/** Whether WebCrypto here verifies Ed25519 (Chromium 137+, Firefox 129+, Safari 17+). */
export async function ed25519Supported(jwks) {
  const jwk = jwks?.keys?.[0];
  if (!jwk) return false;
  try {
    await importKey(jwk);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks `token` as of `at` (ms). Answers { ok: true, ticketId, issuedAt, expiresAt } or
 * { ok: false, result: "invalid" | "expired_code" | "wrong_event" }. Never throws.
 */
export async function checkToken(token, { jwks, eventRef, at, skewSeconds }) {
  const invalid = { ok: false, result: "invalid" };
  if (typeof token !== "string" || token.length > 512 || !SHAPE.test(token)) return invalid;
  const [h, p, s] = token.split(".");
  let header;
  let payload;
  let signature;
  try {
    header = JSON.parse(new TextDecoder().decode(fromBase64url(h)));
    payload = fromBase64url(p);
    signature = fromBase64url(s);
  } catch {
    return invalid;
  }
  if (!header || typeof header !== "object") return invalid;
  const names = Object.keys(header).sort();
  if (names.length !== 2 || names[0] !== "alg" || names[1] !== "kid" || header.alg !== "EdDSA") return invalid;
  const jwk = jwks?.keys?.find((k) => k.kid === header.kid && k.kty === "OKP" && k.crv === "Ed25519");
  if (!jwk) return invalid;
  try {
    const key = await importKey(jwk);
    const good = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, encoder.encode(`${h}.${p}`));
    if (!good) return invalid;
  } catch {
    return invalid;
  }
  if (payload.length !== PAYLOAD_BYTES || payload[0] !== TICKET_TOKEN_TYPE) return invalid;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const claims = {
    ticketId: toBase64url(payload.subarray(1, 17)),
    eventRef: toBase64url(payload.subarray(17, 25)),
    issuedAt: view.getUint32(25) * 1000,
    expiresAt: view.getUint32(29) * 1000,
  };
  const skew = skewSeconds * 1000;
  if (claims.expiresAt <= claims.issuedAt) return invalid;
  if (claims.issuedAt > at + skew) return invalid;
  if (claims.expiresAt + skew <= at) return { ok: false, result: "expired_code", ticketId: claims.ticketId };
  if (claims.eventRef !== eventRef) return { ok: false, result: "wrong_event", ticketId: claims.ticketId };
  return { ok: true, ...claims };
}

/**
 * The offline decision for a token whose signature checked out: from the manifest row and this
 * device's own admissions. Mirrors the server's order: unknown, refunding, void, redeemed (by the
 * manifest or by this device), outside the check-in window, else admitted.
 */
export function decideOffline({ row, local, manifest, at }) {
  if (local) return { result: "already_redeemed", firstScan: { at: local.at, deviceName: null, here: true } };
  if (!row) return { result: "unverified" };
  if (row.status === "refunding") return { result: "refund_pending" };
  if (row.status === "redeemed")
    return { result: "already_redeemed", firstScan: row.redeemedAt ? { at: row.redeemedAt } : undefined };
  if (row.status !== "active" || manifest.eventStatus === "cancelled") return { result: "not_active" };
  const opens = manifest.checkIn?.opensAt ? Date.parse(manifest.checkIn.opensAt) : null;
  const closes = manifest.checkIn?.closesAt ? Date.parse(manifest.checkIn.closesAt) : null;
  if (opens === null || closes === null || at < opens || at > closes) return { result: "outside_window" };
  return { result: "admitted" };
}
