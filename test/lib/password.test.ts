/** Unit tests for src/lib/password.ts, run inside workerd (nodejs_compat scrypt). */
import { Buffer } from "node:buffer";
import { describe, expect, it } from "vitest";
import {
  burnHashTime,
  dummyHash,
  hashPassword,
  needsRehash,
  PRODUCTION_SCRYPT,
  type ScryptParams,
  scryptMemoryBytes,
  verifyPassword,
} from "../../src/lib/password";

// Cheap parameters keep the suite fast; one block below runs the production cost.
const FAST: ScryptParams = { logN: 10, r: 8, p: 1 };
const PASSWORD = "correct horse battery staple";
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function segments(stored: string): string[] {
  return stored.split("$");
}

/** Replaces the first character of segment `index` with a different base64url character. */
function alterSegment(stored: string, index: number): string {
  const parts = segments(stored);
  const segment = parts[index] ?? "";
  parts[index] = (segment.startsWith("A") ? "B" : "A") + segment.slice(1);
  return parts.join("$");
}

describe("hashPassword / verifyPassword", () => {
  it("writes the self-describing format and verifies the same password", async () => {
    const stored = await hashPassword(PASSWORD, FAST);
    expect(stored).toMatch(/^scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
  });

  it("rejects a wrong password, including one differing only in case or a trailing space", async () => {
    const stored = await hashPassword(PASSWORD, FAST);
    expect(await verifyPassword("correct horse battery stapler", stored)).toBe(false);
    expect(await verifyPassword("Correct horse battery staple", stored)).toBe(false);
    expect(await verifyPassword(`${PASSWORD} `, stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("uses a fresh salt for every hash", async () => {
    const first = await hashPassword(PASSWORD, FAST);
    const second = await hashPassword(PASSWORD, FAST);
    expect(segments(first)[2]).not.toBe(segments(second)[2]);
    expect(first).not.toBe(second);
    expect(await verifyPassword(PASSWORD, first)).toBe(true);
    expect(await verifyPassword(PASSWORD, second)).toBe(true);
  });

  it("verifies NFKC-equivalent spellings of the same password", async () => {
    const composed = await hashPassword("caf\u00e9 au lait", FAST);
    expect(await verifyPassword("cafe\u0301 au lait", composed)).toBe(true);
    const fullWidth = await hashPassword("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44-\u00e9t\u00e9", FAST);
    expect(await verifyPassword("password-\u00e9t\u00e9", fullWidth)).toBe(true);
  });

  it("matches the RFC 7914 test vector for scrypt(pleaseletmein, SodiumChloride, 2^14, 8, 1)", async () => {
    const salt = Buffer.from("SodiumChloride").toString("base64url");
    const key = Buffer.from(
      "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2" +
        "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
      "hex",
    ).toString("base64url");
    const stored = `scrypt$ln=14,r=8,p=1$${salt}$${key}`;
    expect(await verifyPassword("pleaseletmein", stored)).toBe(true);
    expect(await verifyPassword("pleaseletmeout", stored)).toBe(false);
  });

  it("rejects hashes whose salt, key or parameters were altered", async () => {
    const stored = await hashPassword(PASSWORD, FAST);
    expect(await verifyPassword(PASSWORD, alterSegment(stored, 2))).toBe(false);
    expect(await verifyPassword(PASSWORD, alterSegment(stored, 3))).toBe(false);
    expect(await verifyPassword(PASSWORD, stored.replace("ln=10", "ln=11"))).toBe(false);
    expect(await verifyPassword(PASSWORD, stored.replace("r=8", "r=9"))).toBe(false);
    expect(await verifyPassword(PASSWORD, stored.replace("p=1", "p=2"))).toBe(false);
  });

  it("answers false, without throwing, for malformed stored strings", async () => {
    const stored = await hashPassword(PASSWORD, FAST);
    const [, params, salt, key] = segments(stored);
    // 22 base64url characters carry 132 bits for a 16-byte salt: the last 4 bits are padding and zero,
    // so the next alphabet character decodes to the same bytes and must still be refused.
    const sameBytesSalt = `${salt?.slice(0, -1)}${BASE64URL[BASE64URL.indexOf(salt?.at(-1) ?? "A") + 1]}`;
    const malformed: unknown[] = [
      "",
      "scrypt",
      "scrypt$$$",
      `bcrypt$${params}$${salt}$${key}`,
      `SCRYPT$${params}$${salt}$${key}`,
      `scrypt$${params}$${salt}`,
      `scrypt$${params}$${salt}$${key}$extra`,
      `${stored}\n`,
      ` ${stored}`,
      `${stored}=`,
      `scrypt$${params}$${salt}=$${key}`,
      `scrypt$${params}$${sameBytesSalt}$${key}`,
      `scrypt$${params}$${salt}$${key?.slice(0, 21)}`,
      `scrypt$${params}$${salt?.slice(0, 8)}$${key}`,
      `scrypt$${params}$${salt}$${"A".repeat(100)}`,
      `scrypt$${params}$${salt}$${key?.replace(/.$/, "+")}`,
      `scrypt$ln=010,r=8,p=1$${salt}$${key}`,
      `scrypt$ln=0,r=8,p=1$${salt}$${key}`,
      `scrypt$ln=10,r=0,p=1$${salt}$${key}`,
      `scrypt$ln=10,r=8,p=0$${salt}$${key}`,
      `scrypt$ln=30,r=8,p=1$${salt}$${key}`,
      `scrypt$ln=20,r=32,p=1$${salt}$${key}`,
      `scrypt$ln=17,r=8,p=99$${salt}$${key}`,
      `scrypt$r=8,ln=10,p=1$${salt}$${key}`,
      `scrypt$ln=10,r=8$${salt}$${key}`,
      null,
      undefined,
      42,
    ];
    for (const candidate of malformed) {
      await expect(verifyPassword(PASSWORD, candidate as string), String(candidate)).resolves.toBe(false);
    }
  });

  it("refuses out-of-range parameters when hashing", async () => {
    for (const params of [
      { logN: 0, r: 8, p: 1 },
      { logN: 10.5, r: 8, p: 1 },
      { logN: 21, r: 8, p: 1 },
      { logN: 10, r: 0, p: 1 },
      { logN: 10, r: 8, p: 0 },
      { logN: 10, r: 8, p: 17 },
      { logN: Number.NaN, r: 8, p: 1 },
    ]) {
      await expect(hashPassword(PASSWORD, params), JSON.stringify(params)).rejects.toThrow(RangeError);
    }
  });
});

describe("needsRehash", () => {
  it("is false for the parameters the hash was written with", async () => {
    expect(needsRehash(await hashPassword(PASSWORD, FAST), FAST)).toBe(false);
  });

  it("is true when the current parameters differ in memory or work", async () => {
    const stored = await hashPassword(PASSWORD, FAST);
    expect(needsRehash(stored, { logN: 11, r: 8, p: 1 })).toBe(true);
    expect(needsRehash(stored, { logN: 10, r: 16, p: 1 })).toBe(true);
    expect(needsRehash(stored, { logN: 10, r: 8, p: 2 })).toBe(true);
    expect(needsRehash(stored)).toBe(true);
  });

  it("is true when the stored hash trades memory for parallelism below the current memory cost", async () => {
    const stored = await hashPassword(PASSWORD, { logN: 9, r: 8, p: 2 });
    expect(needsRehash(stored, FAST)).toBe(true);
  });

  it("is true for a stronger hash too, so a move to other parameters migrates every hash on login", async () => {
    const stored = await hashPassword(PASSWORD, { logN: 11, r: 8, p: 2 });
    expect(needsRehash(stored, FAST)).toBe(true);
  });

  it("is true for a salt shorter than the 16 bytes written today, and for unparseable input", () => {
    const shortSalt = Buffer.alloc(8, 1).toString("base64url");
    const key = Buffer.alloc(32, 2).toString("base64url");
    expect(needsRehash(`scrypt$ln=10,r=8,p=1$${shortSalt}$${key}`, FAST)).toBe(true);
    expect(needsRehash("not a hash", FAST)).toBe(true);
  });
});

describe("dummyHash / burnHashTime", () => {
  it("builds a well-formed hash at the requested parameters that the password does not match", async () => {
    const dummy = dummyHash(FAST);
    expect(dummy.startsWith("scrypt$ln=10,r=8,p=1$")).toBe(true);
    // Well-formed at exactly these parameters, so verifying it runs a full scrypt rather than
    // returning early on a parse failure.
    expect(needsRehash(dummy, FAST)).toBe(false);
    expect(await verifyPassword(PASSWORD, dummy)).toBe(false);
  });

  it("resolves to false", async () => {
    expect(await burnHashTime(PASSWORD, FAST)).toBe(false);
    expect(await burnHashTime("", FAST)).toBe(false);
  });
});

describe("production parameters (N=2^17, r=8, p=1)", () => {
  it("are the OWASP values and need 128 MiB plus three blocks", () => {
    expect(PRODUCTION_SCRYPT).toEqual({ logN: 17, r: 8, p: 1 });
    expect(scryptMemoryBytes(PRODUCTION_SCRYPT)).toBe(128 * 1024 * 1024 + 3 * 1024);
  });

  it("hash and verify inside workerd", async () => {
    const stored = await hashPassword(PASSWORD);
    expect(stored.startsWith("scrypt$ln=17,r=8,p=1$")).toBe(true);
    expect(await verifyPassword(PASSWORD, stored)).toBe(true);
    expect(await verifyPassword("Tr0ub4dor&3", stored)).toBe(false);
    expect(needsRehash(stored)).toBe(false);
  });

  it("burnHashTime runs a production-cost scrypt against the dummy hash", async () => {
    expect(needsRehash(dummyHash(), PRODUCTION_SCRYPT)).toBe(false);
    expect(await burnHashTime(PASSWORD)).toBe(false);
  });
});
