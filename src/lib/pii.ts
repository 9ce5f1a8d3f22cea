/**
 * Field-level encryption of personal data at rest (AES-256-GCM, node:crypto) and the keyed blind
 * index that lets an encrypted email still be looked up and kept unique.
 *
 * Keys come from the `PII_KEYS` secret, a list of `{ kid, key }` (key: 32 random bytes, base64url):
 * the first encrypts, every one decrypts, so a key is rotated by putting a new one first, letting the
 * re-encryption job move every row to it, and only then dropping the old one. Each ciphertext names
 * the key that sealed it:
 *
 *     pii1.<kid>.<iv, 12 bytes>.<ciphertext and 16-byte tag>      (base64url parts)
 *
 * Every value is sealed with its own random 96-bit IV and bound to where it lives by the additional
 * authenticated data (`context`, e.g. `users.email`): a ciphertext copied into another column, or
 * another row's column of a different kind, fails to open instead of being shown as something else.
 * (Random IVs keep one key safe for far more values than this platform writes between rotations:
 * NIST SP 800-38D's 2^32 invocations.)
 *
 * The blind index is HMAC-SHA-256 under `PII_INDEX_KEY`, a key of its own that never rotates with the
 * encryption keys (changing it means recomputing every index, a migration of its own). It is computed
 * over the normalised value and a purpose label, so the same email gives unrelated indexes for
 * different purposes and an index reveals nothing without the key.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomBytes,
} from "node:crypto";
import { base64url } from "./crypto";

export interface PiiKey {
  kid: string;
  /** 32 bytes, base64url (or base64). */
  key: string;
}

const PREFIX = "pii1";
const IV_BYTES = 12;
const TAG_BYTES = 16;
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

function fromBase64url(text: string): Uint8Array {
  const normal = text.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(normal + "=".repeat((4 - (normal.length % 4)) % 4));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Why a value could not be opened: never shown to a client, logged with the column it came from. */
export class PiiDecryptError extends Error {
  constructor(
    message: string,
    readonly kid: string | null,
  ) {
    super(message);
    this.name = "PiiDecryptError";
  }
}

/** Whether `value` is one of our ciphertexts (as opposed to a plaintext row not yet migrated). */
export function isSealed(value: string): boolean {
  return value.startsWith(`${PREFIX}.`) && value.split(".").length === 4;
}

/** The key id a ciphertext names; null for a plaintext value. */
export function sealedKid(value: string): string | null {
  return isSealed(value) ? (value.split(".")[1] ?? null) : null;
}

/** A key id: short, printable and free of the separator. */
const KID = /^[A-Za-z0-9_-]{1,32}$/;

/** Checks a key list; returns the problem in words, or null when it is usable. */
export function piiKeysProblem(keys: readonly PiiKey[]): string | null {
  if (keys.length === 0) return "at least one key is required";
  const seen = new Set<string>();
  for (const { kid, key } of keys) {
    if (!KID.test(kid)) return `kid ${JSON.stringify(kid)} must be 1–32 of A–Z a–z 0–9 _ -`;
    if (seen.has(kid)) return `kid ${kid} is listed twice`;
    seen.add(kid);
    let bytes: Uint8Array;
    try {
      bytes = fromBase64url(key);
    } catch {
      return `key ${kid} is not base64`;
    }
    if (bytes.length !== 32) return `key ${kid} must be 32 bytes (AES-256), not ${bytes.length}`;
  }
  return null;
}

/**
 * Seals and opens personal fields; one per isolate and key list (`piiCipher` caches it). Synchronous
 * (node:crypto, which workerd implements natively): the statement builders that write personal
 * fields — the email outbox writer, the registration batch, EventInventory's projection — stay plain
 * functions that return D1 statements.
 */
export class PiiCipher {
  /** Key objects made once: a raw key given to createCipheriv is turned into one on every call. */
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly #index: Buffer;
  /** The key new values are sealed with. */
  readonly currentKid: string;

  constructor(keys: readonly PiiKey[], indexKey: string) {
    const problem = piiKeysProblem(keys);
    if (problem) throw new Error(`PII_KEYS: ${problem}`);
    const index = fromBase64url(indexKey);
    if (index.length < 32) throw new Error("PII_INDEX_KEY must be at least 32 bytes");
    this.currentKid = keys[0]!.kid;
    this.#keys = new Map(keys.map(({ kid, key }) => [kid, createSecretKey(Buffer.from(fromBase64url(key)))]));
    this.#index = Buffer.from(index);
  }

  /** Seals `plaintext` under the current key, bound to `context` (the column it is stored in). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#keys.get(this.currentKid)!, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}.${this.currentKid}.${base64url(iv)}.${base64url(body)}`;
  }

  /** Seals a value that may be absent (null stays null: absence is not personal data). */
  sealOptional(plaintext: string | null | undefined, context: string): string | null {
    return plaintext == null ? null : this.seal(plaintext, context);
  }

  /**
   * Opens a ciphertext sealed for `context`. A value that is not a ciphertext is returned as it is:
   * rows written before encryption stay readable while the migration job works through them.
   */
  open(value: string, context: string): string {
    if (!isSealed(value)) return value;
    const [, kid, iv, body] = value.split(".") as [string, string, string, string];
    const key = this.#keys.get(kid);
    if (!key) throw new PiiDecryptError(`no key ${kid} in PII_KEYS (retired before its rows were re-encrypted?)`, kid);
    try {
      const bytes = Buffer.from(fromBase64url(body));
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(fromBase64url(iv)));
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - TAG_BYTES)), decipher.final()]);
      return decoder.decode(plain);
    } catch {
      throw new PiiDecryptError(`the value does not open under key ${kid} for ${context}`, kid);
    }
  }

  openOptional(value: string | null | undefined, context: string): string | null {
    return value == null ? null : this.open(value, context);
  }

  /** Whether a stored value should be re-sealed: plaintext, or sealed under a key that is not current. */
  needsReseal(value: string): boolean {
    return sealedKid(value) !== this.currentKid;
  }

  /** Opens (plaintext or any listed key) and seals again under the current key. */
  reseal(value: string, context: string): string {
    return this.seal(this.open(value, context), context);
  }

  /** The keyed blind index of an already normalised value for `purpose` (hex, 64 characters). */
  blindIndex(normalised: string, purpose: string): string {
    return createHmac("sha256", this.#index).update(`${purpose}\u0000${normalised}`, "utf8").digest("hex");
  }
}

const ciphers = new Map<string, PiiCipher>();

/** The isolate's cipher for this key list (keys are imported once, not per request). */
export function piiCipher(keys: readonly PiiKey[], indexKey: string): PiiCipher {
  const id = JSON.stringify([keys, indexKey]);
  let cipher = ciphers.get(id);
  if (!cipher) {
    cipher = new PiiCipher(keys, indexKey);
    if (ciphers.size >= 8) ciphers.clear();
    ciphers.set(id, cipher);
  }
  return cipher;
}
