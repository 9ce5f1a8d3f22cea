/** Unit tests for src/lib/password-policy.ts and its blocklist, src/lib/common-passwords.ts (+ .txt). */
import { describe, expect, it } from "vitest";
import { commonPasswords } from "../../src/lib/common-passwords";
import { checkPasswordPolicy, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from "../../src/lib/password-policy";

const OK = { ok: true };
const fail = (reason: string) => ({ ok: false, reason });

describe("checkPasswordPolicy: length", () => {
  it("enforces 8 to 128 characters", () => {
    expect(PASSWORD_MIN_LENGTH).toBe(8);
    expect(PASSWORD_MAX_LENGTH).toBe(128);
  });

  it("rejects 7 characters and accepts 8", () => {
    expect(checkPasswordPolicy("Zq7!mPx")).toEqual(fail("too-short"));
    expect(checkPasswordPolicy("Zq7!mPx2")).toEqual(OK);
    expect(checkPasswordPolicy("")).toEqual(fail("too-short"));
  });

  it("accepts 128 characters and rejects 129", () => {
    expect(checkPasswordPolicy("x".repeat(128))).toEqual(OK);
    expect(checkPasswordPolicy("x".repeat(129))).toEqual(fail("too-long"));
    expect(checkPasswordPolicy("x".repeat(100_000))).toEqual(fail("too-long"));
  });

  it("counts characters outside the BMP as one character each, not two UTF-16 units", () => {
    expect(checkPasswordPolicy("\u{1F600}".repeat(7))).toEqual(fail("too-short"));
    expect(checkPasswordPolicy("\u{1F600}".repeat(8))).toEqual(OK);
    expect(checkPasswordPolicy("\u{1F600}".repeat(128))).toEqual(OK);
    expect(checkPasswordPolicy("\u{1F600}".repeat(129))).toEqual(fail("too-long"));
  });

  it("counts multi-byte characters as one character each", () => {
    expect(checkPasswordPolicy("密码密码密码密")).toEqual(fail("too-short"));
    expect(checkPasswordPolicy("密码密码密码密码")).toEqual(OK);
    expect(checkPasswordPolicy("пароль!!")).toEqual(OK);
    expect(checkPasswordPolicy("ä".repeat(128))).toEqual(OK);
    expect(checkPasswordPolicy("ä".repeat(129))).toEqual(fail("too-long"));
  });

  it("counts after NFKC normalisation", () => {
    // "e" + combining acute composes to one "é": seven of them are seven characters, not fourteen.
    expect(checkPasswordPolicy("e\u0301".repeat(7))).toEqual(fail("too-short"));
    expect(checkPasswordPolicy("e\u0301".repeat(8))).toEqual(OK);
    // The "fi" ligature is compatibility-equivalent to two letters.
    expect(checkPasswordPolicy("\ufb01".repeat(4))).toEqual(OK);
  });

  it("allows spaces and any printable or non-ASCII characters", () => {
    expect(checkPasswordPolicy("a b c d e f")).toEqual(OK);
    expect(checkPasswordPolicy("\u00a7\u00b6 \u2603 \u00df\u00f8 !@#$%^&*()")).toEqual(OK);
  });
});

describe("checkPasswordPolicy: common passwords", () => {
  it("rejects a common password in any case", () => {
    for (const password of ["password", "PASSWORD", "PassWord", "iloveyou", "IloveYou", "12345678", "qwertyuiop"]) {
      expect(checkPasswordPolicy(password), password).toEqual(fail("common"));
    }
  });

  it("rejects a full-width spelling of a common password", () => {
    expect(checkPasswordPolicy("\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44")).toEqual(fail("common"));
  });

  it("accepts a password that merely contains a common one", () => {
    expect(checkPasswordPolicy("password-for-gatehouse-7")).toEqual(OK);
  });

  it("ships 10,000 lowercased entries of 8+ characters, most common first", () => {
    expect(commonPasswords().size).toBe(10_000);
    const entries = [...commonPasswords()];
    expect(entries.slice(0, 3)).toEqual(["password", "12345678", "123456789"]);
    expect(entries.every((entry) => entry === entry.toLowerCase() && [...entry].length >= 8)).toBe(true);
  });

  it("loads the data file's entries unchanged: known ones at their places, no blank or padded entry", async () => {
    const entries = [...commonPasswords()];
    expect(entries[9]).toBe("trustno1");
    expect(entries[5000]).toBe("crazyman");
    expect(entries.at(-1)).toBe("18051978");
    expect(entries.some((entry) => entry !== entry.trim() || entry === "")).toBe(false);
    // SHA-256 of the entries joined by "\n" plus a final "\n", taken from the list when it was still
    // TypeScript (and equal to the generator's output from the pinned source): the same 10,000 entries in
    // the same order, whichever way the file is stored or split.
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${entries.join("\n")}\n`));
    const hex = [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
    expect(hex).toBe("16ed51740275b29dbdc255fdea5fd3cb442897c031aee8008e790c1242a45969");
  });

  it("builds the Set once per isolate", () => {
    expect(commonPasswords()).toBe(commonPasswords());
  });
});

describe("checkPasswordPolicy: email", () => {
  const email = "Alice.Example@Example.COM";

  it("rejects the email address itself, in any case", () => {
    expect(checkPasswordPolicy("alice.example@example.com", email)).toEqual(fail("equals-email"));
    expect(checkPasswordPolicy("ALICE.EXAMPLE@EXAMPLE.COM", email)).toEqual(fail("equals-email"));
  });

  it("rejects the email's local part", () => {
    expect(checkPasswordPolicy("alice.example", email)).toEqual(fail("equals-email"));
  });

  it("accepts other passwords, and the same password when no email is given", () => {
    expect(checkPasswordPolicy("alice.example.2", email)).toEqual(OK);
    expect(checkPasswordPolicy("alice.example@example.com")).toEqual(OK);
    expect(checkPasswordPolicy("alice.example@example.com", "")).toEqual(OK);
  });

  it("reports a too-short password as too short even when it equals the local part", () => {
    expect(checkPasswordPolicy("bob", "bob@example.com")).toEqual(fail("too-short"));
  });
});
