#!/usr/bin/env node
/**
 * `node scripts/ticket-signing-key.mjs <kid> [current TICKET_SIGNING_KEYS JSON]`: prints a new
 * TICKET_SIGNING_KEYS value with a fresh Ed25519 key first and the previous current key kept after it
 * (rotation: new codes use the new key, codes in flight still verify). Pipe it into
 * `npx wrangler secret put TICKET_SIGNING_KEYS`. The kid is at most 16 characters (token size).
 */
import { exportJWK, generateKeyPair } from "jose";

const [kid, previous] = process.argv.slice(2);
if (!kid || !/^[A-Za-z0-9._-]{1,16}$/.test(kid)) {
  console.error("usage: node scripts/ticket-signing-key.mjs <kid: 1-16 of A-Z a-z 0-9 . _ -> [current keys JSON]");
  process.exit(2);
}
const { privateKey } = await generateKeyPair("EdDSA", { extractable: true });
const { x, d } = await exportJWK(privateKey);
const keys = [{ kid, kty: "OKP", crv: "Ed25519", x, d }];
// Keep only the current key of the old set: a key two rotations old has no codes left in flight.
if (previous) keys.push(JSON.parse(previous)[0]);
process.stdout.write(`${JSON.stringify(keys)}\n`);
