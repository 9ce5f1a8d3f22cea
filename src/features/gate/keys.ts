/**
 * The ticket-signing key ring: the configured Ed25519 private JWKs (TICKET_SIGNING_KEYS) imported
 * once per isolate, the first as signer and all as verifiers, plus the public JWKS devices fetch.
 * Outside production, with no keys configured, one pair is generated per isolate on first use
 * (jose `generateKeyPair`), so `npm run dev` and the tests just work.
 */
import { exportJWK, generateKeyPair, importJWK, type JWK } from "jose";
import type { Config, TicketSigningJwk } from "../../config";
import { randomToken } from "../../lib/crypto";
import { unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";
import { TICKET_TOKEN_ALG, type TokenSigner } from "./token";

export interface PublicTicketJwk {
  kty: "OKP";
  crv: "Ed25519";
  x: string;
  kid: string;
  alg: typeof TICKET_TOKEN_ALG;
  use: "sig";
}

export interface TicketKeyRing {
  signer: TokenSigner;
  verifiers: ReadonlyMap<string, CryptoKey>;
  jwks: { keys: PublicTicketJwk[] };
}

const publicJwk = (k: { kid: string; x: string }): PublicTicketJwk => ({
  kty: "OKP",
  crv: "Ed25519",
  x: k.x,
  kid: k.kid,
  alg: TICKET_TOKEN_ALG,
  use: "sig",
});

async function importRing(keys: readonly TicketSigningJwk[]): Promise<TicketKeyRing> {
  const verifiers = new Map<string, CryptoKey>();
  let signer: TokenSigner | null = null;
  for (const k of keys) {
    const privateKey = (await importJWK({ kty: k.kty, crv: k.crv, x: k.x, d: k.d }, TICKET_TOKEN_ALG)) as CryptoKey;
    const publicKey = (await importJWK({ kty: k.kty, crv: k.crv, x: k.x }, TICKET_TOKEN_ALG)) as CryptoKey;
    // A pasted JWK whose x does not belong to its d would mint codes no gate can verify: catch it now.
    const probe = new TextEncoder().encode("gatehouse ticket key check");
    const signature = await crypto.subtle.sign("Ed25519", privateKey, probe);
    if (!(await crypto.subtle.verify("Ed25519", publicKey, signature, probe))) {
      throw new Error(`TICKET_SIGNING_KEYS: the public key (x) of kid ${k.kid} does not match its private key (d)`);
    }
    verifiers.set(k.kid, publicKey);
    signer ??= { kid: k.kid, key: privateKey };
  }
  if (!signer) throw new Error("TICKET_SIGNING_KEYS is empty");
  return { signer, verifiers, jwks: { keys: keys.map(publicJwk) } };
}

/** Generates a development key pair in the shape TICKET_SIGNING_KEYS takes. */
export async function generateTicketSigningJwk(kid = `dev-${randomToken(6)}`): Promise<TicketSigningJwk> {
  const { privateKey } = await generateKeyPair(TICKET_TOKEN_ALG, { extractable: true });
  const jwk: JWK = await exportJWK(privateKey);
  return { kid, kty: "OKP", crv: "Ed25519", x: jwk.x as string, d: jwk.d as string };
}

const configured = new WeakMap<object, Promise<TicketKeyRing>>();
let generated: Promise<TicketKeyRing> | null = null;

function cached(promise: Promise<TicketKeyRing>, forget: () => void): Promise<TicketKeyRing> {
  // A failed import is not cached: the next request retries (and logs) instead of failing forever.
  promise.catch(forget);
  return promise;
}

/** The key ring for this configuration, imported (or generated) once per isolate. */
export async function ticketKeyRing(config: Config): Promise<TicketKeyRing> {
  const keys = config.ticketSigningKeys;
  let ring: Promise<TicketKeyRing>;
  if (keys) {
    let entry = configured.get(keys);
    if (!entry) {
      entry = cached(importRing(keys), () => configured.delete(keys));
      configured.set(keys, entry);
    }
    ring = entry;
  } else if (config.isProduction) {
    // Config parsing already refuses this; kept so a refactor cannot silently mint with a throwaway key.
    throw unavailableError("Ticket signing is not configured.", null);
  } else {
    generated ??= cached(
      generateTicketSigningJwk().then((jwk) => importRing([jwk])),
      () => {
        generated = null;
      },
    );
    ring = generated;
  }
  try {
    return await ring;
  } catch (error) {
    log("error", "ticket signing keys unusable", { error });
    throw unavailableError("Ticket signing is temporarily unavailable.", null);
  }
}
