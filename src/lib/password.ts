/**
 * Password hashing: scrypt from node:crypto, stored as a self-describing string
 * `scrypt$ln=17,r=8,p=1$<salt b64url>$<key b64url>`, constant-time verification, rehash detection
 * for parameter upgrades, and a dummy verification for unknown accounts. Pure functions, no I/O.
 *
 * The password is NFKC-normalised before hashing (NIST 800-63B), the same form the policy counts:
 * a password typed as "é" on one keyboard and "e" + U+0301 on another must verify. Changing the
 * normalisation would lock out existing users, so it is part of the stored format's meaning.
 *
 * In workerd the "async" scrypt runs synchronously on the isolate's thread (the callback is only
 * deferred), so each hash blocks the isolate and counts as CPU time for its whole duration.
 */
import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  readonly logN: number;
  /** Block size: memory is 128 * r * N bytes. */
  readonly r: number;
  /** Parallelism: lanes run one after another here, so p multiplies time, not memory. */
  readonly p: number;
}

/** OWASP Password Storage Cheat Sheet: N=2^17, r=8, p=1 (128 MiB per hash). */
export const PRODUCTION_SCRYPT: ScryptParams = Object.freeze({ logN: 17, r: 8, p: 1 });

const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Accepted when reading: shorter salts than we write still verify (needsRehash flags them), which
// also lets the RFC 7914 test vectors be expressed in this format.
const MIN_SALT_BYTES = 8;
const MIN_KEY_BYTES = 16;
const MAX_STORED_BYTES = 64;
const PREFIX = "scrypt";

// Stored hashes come from our own database, but a corrupted or tampered row must not make one login
// allocate gigabytes or spin for minutes: parameters outside these bounds read as malformed.
const MAX_LOG_N = 20;
const MAX_R = 32;
const MAX_P = 16;
const MAX_MEMORY_BYTES = 256 * 1024 * 1024;
const MAX_WORK = 2 ** 23; // N * r * p; production is 2^20, OWASP's p=10 alternative 2^19.3

const encoder = new TextEncoder();

const STORED_PATTERN =
  /^scrypt\$ln=([1-9][0-9]?),r=([1-9][0-9]?),p=([1-9][0-9]?)\$([A-Za-z0-9_-]{1,100})\$([A-Za-z0-9_-]{1,100})$/;

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

/**
 * Bytes scrypt needs: V is 128 * r * N, plus one 128 * r block per lane and two scratch blocks.
 * OpenSSL rejects `maxmem` below exactly this (Node's 32 MiB default is too low for N=2^17, r=8).
 */
export function scryptMemoryBytes(params: ScryptParams): number {
  return 128 * params.r * (2 ** params.logN + params.p + 2);
}

function scryptWork(params: ScryptParams): number {
  return 2 ** params.logN * params.r * params.p;
}

function isValidParams(params: ScryptParams): boolean {
  return (
    Number.isSafeInteger(params.logN) &&
    Number.isSafeInteger(params.r) &&
    Number.isSafeInteger(params.p) &&
    params.logN >= 1 &&
    params.logN <= MAX_LOG_N &&
    params.r >= 1 &&
    params.r <= MAX_R &&
    params.p >= 1 &&
    params.p <= MAX_P &&
    scryptMemoryBytes(params) <= MAX_MEMORY_BYTES &&
    scryptWork(params) <= MAX_WORK
  );
}

function assertValidParams(params: ScryptParams): void {
  if (!isValidParams(params)) {
    throw new RangeError(`scrypt parameters out of range: ${JSON.stringify(params)}`);
  }
}

function encode(params: ScryptParams, salt: Uint8Array, key: Uint8Array): string {
  const b64 = (bytes: Uint8Array) =>
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
  return `${PREFIX}$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

// Buffer's base64url decoder skips characters it does not know and ignores trailing bits, so a
// round trip is required to reject altered encodings that would otherwise decode to the same bytes.
function decodeCanonical(text: string, minBytes: number): Buffer | null {
  const bytes = Buffer.from(text, "base64url");
  if (bytes.length < minBytes || bytes.length > MAX_STORED_BYTES) return null;
  return bytes.toString("base64url") === text ? bytes : null;
}

function parse(stored: unknown): ParsedHash | null {
  if (typeof stored !== "string") return null;
  const match = STORED_PATTERN.exec(stored);
  if (!match) return null;
  const [, logN, r, p, salt, key] = match;
  if (!logN || !r || !p || !salt || !key) return null;
  const params: ScryptParams = { logN: Number(logN), r: Number(r), p: Number(p) };
  if (!isValidParams(params)) return null;
  const saltBytes = decodeCanonical(salt, MIN_SALT_BYTES);
  const keyBytes = decodeCanonical(key, MIN_KEY_BYTES);
  if (!saltBytes || !keyBytes) return null;
  return { params, salt: saltBytes, key: keyBytes };
}

function derive(password: string, salt: Uint8Array, keyLength: number, params: ScryptParams): Promise<Buffer> {
  const secret = encoder.encode(password.normalize("NFKC"));
  const options = {
    N: 2 ** params.logN,
    r: params.r,
    p: params.p,
    // Headroom above the exact requirement so an implementation that counts a little differently
    // (workerd uses BoringSSL, Node uses OpenSSL) does not reject production parameters.
    maxmem: scryptMemoryBytes(params) + 1024 * 1024,
  };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, options, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/** Hashes `password` with a fresh 16-byte salt. Throws RangeError for out-of-range parameters. */
export async function hashPassword(password: string, params: ScryptParams = PRODUCTION_SCRYPT): Promise<string> {
  assertValidParams(params);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return encode(params, salt, key);
}

/**
 * True when `password` matches `stored`. Anything that is not a well-formed hash within bounds
 * resolves to false; the promise rejects only when scrypt itself fails (e.g. out of memory), which is
 * a server fault to surface as such rather than a wrong password.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (typeof password !== "string") return false;
  const parsed = parse(stored);
  if (!parsed) return false;
  const key = await derive(password, parsed.salt, parsed.key.length, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/**
 * True when `stored` should be replaced by a fresh hash at `current` after a successful login: its
 * memory cost (N * r) or total work (N * r * p) is below the current one, its salt or key is shorter
 * than what hashPassword writes now, or it cannot be parsed at all. A stored hash that is stronger on
 * both axes (e.g. written before the parameters were lowered) is kept.
 */
export function needsRehash(stored: string, current: ScryptParams = PRODUCTION_SCRYPT): boolean {
  const parsed = parse(stored);
  if (!parsed) return true;
  const { params } = parsed;
  // Any difference, not only a weaker one: operators may move to an equal-strength, lower-memory
  // OWASP alternative (e.g. N=2^16, p=2) if production isolates cannot spare 128 MiB, and existing
  // hashes must then migrate on their next login too.
  return (
    params.logN !== current.logN ||
    params.r !== current.r ||
    params.p !== current.p ||
    parsed.salt.length < SALT_BYTES ||
    parsed.key.length < KEY_BYTES
  );
}

const DUMMY_SALT = new Uint8Array(SALT_BYTES).fill(0x5a);
const DUMMY_KEY = new Uint8Array(KEY_BYTES).fill(0xa5);

/** A well-formed stored hash that no password is expected to match, at the given parameters. */
export function dummyHash(params: ScryptParams = PRODUCTION_SCRYPT): string {
  assertValidParams(params);
  return encode(params, DUMMY_SALT, DUMMY_KEY);
}

/**
 * Spends one verification's worth of scrypt on `password` and resolves to false. Login calls it when
 * the email is unknown, so response time does not reveal which accounts exist:
 * `const ok = user ? await verifyPassword(pw, user.passwordHash) : await burnHashTime(pw);`
 */
export async function burnHashTime(password: string, params: ScryptParams = PRODUCTION_SCRYPT): Promise<false> {
  await verifyPassword(typeof password === "string" ? password : "", dummyHash(params));
  return false;
}
