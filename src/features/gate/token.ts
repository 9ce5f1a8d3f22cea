/**
 * Ticket entry tokens: what a ticket's QR code carries. A compact JWS (RFC 7515) signed with Ed25519
 * (`alg: EdDSA`, RFC 8037) whose protected header is exactly `{ alg, kid }` and whose payload is 33
 * bytes, not JSON, so the whole token stays under 200 characters (a version 9–10 QR code):
 *
 *   byte 0      type: 0x01 = ticket entry token, format 1
 *   bytes 1–16  ticket id (the 16 random bytes behind its base64url id)
 *   bytes 17–24 event reference: the first 8 bytes of SHA-256("gatehouse:event:" + event id)
 *   bytes 25–28 issued at, seconds since the epoch (uint32, big-endian)
 *   bytes 29–32 expires at, seconds since the epoch (uint32, big-endian)
 *
 * A JSON JWT with the same claims is ~250 characters. The type byte does what `typ` does for JWTs
 * (RFC 8725 §3.11): nothing else signed with these keys can pass as a ticket. Offline devices verify
 * with any JOSE library and the JWKS, then read the 33 bytes as above.
 *
 * Verification (ASVS 9.1.1, 9.2.x) pins the algorithm to EdDSA (so `none` and HS256-with-the-public-
 * key are refused before any key is touched), requires a known kid, refuses any other header
 * parameter (no embedded `jwk`, `jku`, `crit`, `b64`), checks the type byte, then the times with the
 * configured skew. The signature is checked before the times: a forged expired token is `invalid`.
 */
import { base64url, CompactSign, compactVerify } from "jose";
import { LIMITS } from "../../config/limits";
import { BoundedCache } from "../../lib/bounded-cache";

export const TICKET_TOKEN_TYPE = 0x01;
export const TICKET_TOKEN_ALG = "EdDSA";
const PAYLOAD_BYTES = 33;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const encoder = new TextEncoder();

export interface TicketClaims {
  ticketId: string;
  /** See eventRef(): tokens carry a hash of the event id, not the id. */
  eventRef: string;
  /** Milliseconds since the epoch (second precision). */
  issuedAt: number;
  expiresAt: number;
}

export type TokenRejection = "invalid" | "expired_code";

export type TokenCheck =
  | ({ ok: true; kid: string } & TicketClaims)
  | { ok: false; result: TokenRejection /** For logs only; never sent to the client. */; reason: string };

export interface VerifyOptions {
  /** The instant to check against: now for live scans, the device's clock for offline ones. */
  at: number;
  skewSeconds: number;
}

const eventRefs = new BoundedCache<string, string>(LIMITS.eventRefCacheEntries);

/**
 * The event reference carried in tokens: 8 bytes of SHA-256 over the event id, base64url. Devices
 * compute the same value for their own event to tell `wrong_event` offline.
 */
export async function eventRef(eventId: string): Promise<string> {
  let ref = eventRefs.get(eventId);
  if (!ref) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`gatehouse:event:${eventId}`)));
    ref = base64url.encode(digest.subarray(0, 8));
    eventRefs.set(eventId, ref);
  }
  return ref;
}

/** The 16 bytes behind a ticket id; ids are base64url of 16 random bytes (EventInventory). */
function ticketIdBytes(ticketId: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(ticketId);
  } catch {
    throw new Error("ticket id is not base64url");
  }
  if (bytes.length !== 16 || base64url.encode(bytes) !== ticketId) throw new Error("ticket id is not 16 bytes");
  return bytes;
}

function encodePayload(claims: TicketClaims): Uint8Array {
  const payload = new Uint8Array(PAYLOAD_BYTES);
  const view = new DataView(payload.buffer);
  payload[0] = TICKET_TOKEN_TYPE;
  payload.set(ticketIdBytes(claims.ticketId), 1);
  payload.set(base64url.decode(claims.eventRef), 17);
  view.setUint32(25, Math.floor(claims.issuedAt / 1000));
  view.setUint32(29, Math.floor(claims.expiresAt / 1000));
  return payload;
}

function decodePayload(payload: Uint8Array): TicketClaims | string {
  if (payload.length !== PAYLOAD_BYTES) return "payload length";
  if (payload[0] !== TICKET_TOKEN_TYPE) return "token type";
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return {
    ticketId: base64url.encode(payload.subarray(1, 17)),
    eventRef: base64url.encode(payload.subarray(17, 25)),
    issuedAt: view.getUint32(25) * 1000,
    expiresAt: view.getUint32(29) * 1000,
  };
}

export interface TokenSigner {
  kid: string;
  key: CryptoKey;
}

/** Signs a ticket token. Times are rounded down to whole seconds. */
export async function signTicketToken(
  signer: TokenSigner,
  claims: { ticketId: string; eventId: string; issuedAt: number; expiresAt: number },
): Promise<string> {
  const payload = encodePayload({
    ticketId: claims.ticketId,
    eventRef: await eventRef(claims.eventId),
    issuedAt: claims.issuedAt,
    expiresAt: claims.expiresAt,
  });
  return new CompactSign(payload).setProtectedHeader({ alg: TICKET_TOKEN_ALG, kid: signer.kid }).sign(signer.key);
}

class Refused extends Error {}

/** Checks a presented token against the verification keys (by kid). Never throws. */
export async function verifyTicketToken(
  keys: ReadonlyMap<string, CryptoKey>,
  token: string,
  options: VerifyOptions,
): Promise<TokenCheck> {
  const invalid = (reason: string): TokenCheck => ({ ok: false, result: "invalid", reason });
  if (token.length > 512 || !TOKEN_SHAPE.test(token)) return invalid("not a compact JWS");

  let verified: { payload: Uint8Array; kid: string };
  try {
    const { payload, protectedHeader } = await compactVerify(
      token,
      (header) => {
        const names = Object.keys(header).sort();
        if (names.length !== 2 || names[0] !== "alg" || names[1] !== "kid") throw new Refused("header parameters");
        const key = typeof header.kid === "string" ? keys.get(header.kid) : undefined;
        if (!key) throw new Refused("unknown kid");
        return key;
      },
      { algorithms: [TICKET_TOKEN_ALG] },
    );
    verified = { payload, kid: protectedHeader.kid as string };
  } catch (error) {
    return invalid(error instanceof Refused ? error.message : ((error as { code?: string }).code ?? "signature"));
  }

  const claims = decodePayload(verified.payload);
  if (typeof claims === "string") return invalid(claims);
  const skew = options.skewSeconds * 1000;
  if (claims.expiresAt <= claims.issuedAt) return invalid("expires before issued");
  if (claims.issuedAt > options.at + skew) return invalid("issued in the future");
  if (claims.expiresAt + skew <= options.at) return { ok: false, result: "expired_code", reason: "expired" };
  return { ok: true, kid: verified.kid, ...claims };
}
