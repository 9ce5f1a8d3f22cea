/**
 * Standard Webhooks v1 signatures (https://www.standardwebhooks.com, spec "Signature scheme"): the
 * signed content is `{webhook-id}.{webhook-timestamp}.{body}`, signed with HMAC-SHA256 under the
 * base64-decoded part of the `whsec_<base64>` secret; the `webhook-signature` header carries
 * `v1,<base64 signature>`, several separated by spaces while a rotation overlaps (the receiver
 * accepts the message when any one verifies). Tests check these with the reference library
 * (`standardwebhooks`), never with this file.
 */
import { LIMITS } from "../../config/limits";

const SECRET_PREFIX = "whsec_";
/** 24 random bytes (192 bits), as the reference implementations generate. */
const SECRET_BYTES = 24;

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * The additional data an endpoint's signing secrets are sealed under (src/lib/pii.ts). One context for
 * `secret` and `previous_secret`: a rotation moves the current value into the previous column as it is.
 */
export const WEBHOOK_SECRET_CONTEXT = "webhook_endpoints.secret";

/** A new signing secret: `whsec_` and the base64 of 24 random bytes. */
export function newSigningSecret(): string {
  return SECRET_PREFIX + base64(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

function keyBytes(secret: string): Uint8Array {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0));
}

async function sign(secret: string, content: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", keyBytes(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(content));
  return `v1,${base64(new Uint8Array(mac))}`;
}

/** The `webhook-signature` header: one `v1,<sig>` per secret, space-separated. */
export async function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): Promise<string> {
  const content = `${id}.${timestampSeconds}.${body}`;
  return (await Promise.all(secrets.map((secret) => sign(secret, content)))).join(" ");
}

/** The secrets an endpoint signs with at `now`: its own, and the previous one during the overlap. */
export function signingSecrets(
  endpoint: { secret: string; previousSecret: string | null; previousSecretExpiresAt: number | null },
  now: number,
): string[] {
  const { previousSecret, previousSecretExpiresAt } = endpoint;
  return previousSecret && previousSecretExpiresAt !== null && previousSecretExpiresAt > now
    ? [endpoint.secret, previousSecret]
    : [endpoint.secret];
}

/** When a secret rotated at `now` stops signing. */
export function overlapEnd(now: number): number {
  return now + LIMITS.webhookSecretOverlapMs;
}

/** The request of one attempt: the Standard Webhooks headers over `body`. */
export async function webhookHeaders(
  secrets: readonly string[],
  id: string,
  now: number,
  body: string,
): Promise<Record<string, string>> {
  const timestamp = Math.floor(now / 1000);
  return {
    "content-type": "application/json",
    "user-agent": "Gatehouse-Webhooks/1",
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": await signatureHeader(secrets, id, timestamp, body),
  };
}
