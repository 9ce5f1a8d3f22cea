/** The key's shape: every minted key passes the format check that refuses made-up ones before any lookup. */
import { describe, expect, it } from "vitest";
import { apiKeyShape, hashApiKey, mintApiKey } from "../../../src/features/api-keys/keys";
import { sha256Hex } from "../../../src/lib/crypto";

describe("minted keys", () => {
  it("2,000 minted keys all pass the shape check, all differ, and their prefix is the first 12 characters", async () => {
    const keys = await Promise.all(Array.from({ length: 2000 }, () => mintApiKey()));
    expect(keys.every((k) => apiKeyShape(k.key))).toBe(true);
    expect(new Set(keys.map((k) => k.key)).size).toBe(2000);
    for (const k of keys.slice(0, 20)) {
      expect(k.prefix).toBe(k.key.slice(0, 12));
      expect(k.hash).toBe(await sha256Hex(k.key));
      expect(await hashApiKey(k.key)).toBe(k.hash);
    }
  });

  it("the shape refuses what could not have been minted", () => {
    const valid = `gh_live_${"A".repeat(43)}`;
    expect(apiKeyShape(valid)).toBe(true);
    for (const bad of [
      "gh_live_",
      `gh_test_${"A".repeat(43)}`,
      `gh_live_${"A".repeat(42)}`,
      `gh_live_${"A".repeat(44)}`,
      `gh_live_${"A".repeat(42)}B`, // the last character carries 4 bits: its 2 low bits are zero
      `gh_live_${"A".repeat(42)}=`,
      ` ${valid}`,
    ]) {
      expect(apiKeyShape(bad), bad).toBe(false);
    }
  });
});
