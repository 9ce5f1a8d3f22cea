import { describe, expect, it } from "vitest";
import { base64url } from "../../src/lib/crypto";
import { isSealed, PiiCipher, PiiDecryptError, piiKeysProblem, sealedKid } from "../../src/lib/pii";

const key = (fill: number) => base64url(new Uint8Array(32).fill(fill));
const indexKey = key(9);
const k1 = { kid: "k1", key: key(1) };
const k2 = { kid: "k2", key: key(2) };

describe("PII field encryption", () => {
  it("seals under the first key with a fresh IV each time and opens only in the same context", () => {
    const cipher = new PiiCipher([k1], indexKey);
    const a = cipher.seal("ana@example.com", "users.email");
    const b = cipher.seal("ana@example.com", "users.email");
    expect(a).not.toBe(b);
    expect(a).not.toContain("ana");
    expect(isSealed(a)).toBe(true);
    expect(sealedKid(a)).toBe("k1");
    expect(cipher.open(a, "users.email")).toBe("ana@example.com");
    // The column is authenticated: the same ciphertext pasted into another column does not open.
    expect(() => cipher.open(a, "users.name")).toThrow(PiiDecryptError);
  });

  it("refuses a tampered ciphertext", () => {
    const cipher = new PiiCipher([k1], indexKey);
    const sealed = cipher.seal("+44 20 7946 0000", "orders.phone");
    const parts = sealed.split(".");
    const body = parts[3] as string;
    parts[3] = (body[0] === "A" ? "B" : "A") + body.slice(1);
    expect(() => cipher.open(parts.join("."), "orders.phone")).toThrow(/does not open/);
  });

  it("rotates: a new first key seals, old ciphertexts still open, reseal moves them, a retired key is named", () => {
    const old = new PiiCipher([k1], indexKey);
    const sealedOld = old.seal("Ana Lima", "users.name");
    const rotated = new PiiCipher([k2, k1], indexKey);
    expect(rotated.open(sealedOld, "users.name")).toBe("Ana Lima");
    expect(rotated.needsReseal(sealedOld)).toBe(true);
    const moved = rotated.reseal(sealedOld, "users.name");
    expect(sealedKid(moved)).toBe("k2");
    expect(rotated.needsReseal(moved)).toBe(false);
    const retired = new PiiCipher([k2], indexKey);
    expect(retired.open(moved, "users.name")).toBe("Ana Lima");
    expect(() => retired.open(sealedOld, "users.name")).toThrow(/no key k1/);
  });

  it("passes plaintext rows through (not yet migrated) and marks them for resealing; null stays null", () => {
    const cipher = new PiiCipher([k1], indexKey);
    expect(cipher.open("legacy@example.com", "users.email")).toBe("legacy@example.com");
    expect(cipher.needsReseal("legacy@example.com")).toBe(true);
    expect(cipher.sealOptional(null, "tips.message")).toBeNull();
    expect(cipher.openOptional(null, "tips.message")).toBeNull();
  });

  it("gives a stable blind index per purpose that changes with the index key, never with the encryption keys", () => {
    const a = new PiiCipher([k1], indexKey);
    const b = new PiiCipher([k2, k1], indexKey);
    const email = "ana@example.com";
    expect(a.blindIndex(email, "email")).toBe(b.blindIndex(email, "email"));
    expect(a.blindIndex(email, "email")).toMatch(/^[0-9a-f]{64}$/);
    expect(a.blindIndex(email, "email")).not.toBe(a.blindIndex(email, "guest-email"));
    expect(new PiiCipher([k1], key(8)).blindIndex(email, "email")).not.toBe(a.blindIndex(email, "email"));
  });

  it("validates the key list", () => {
    expect(piiKeysProblem([])).toMatch(/at least one/);
    expect(piiKeysProblem([{ kid: "a.b", key: key(1) }])).toMatch(/kid/);
    expect(piiKeysProblem([k1, { kid: "k1", key: key(2) }])).toMatch(/twice/);
    expect(piiKeysProblem([{ kid: "short", key: base64url(new Uint8Array(16)) }])).toMatch(/32 bytes/);
    expect(piiKeysProblem([k1, k2])).toBeNull();
    expect(() => new PiiCipher([k1], base64url(new Uint8Array(16)))).toThrow(/PII_INDEX_KEY/);
  });
});
