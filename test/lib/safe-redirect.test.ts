import { describe, expect, it } from "vitest";
import { isSafeRedirect, safeRedirect } from "../../src/lib/safe-redirect";

const options = { selfOrigin: "https://gatehouse.test", allowedOrigins: ["https://app.gatehouse.test"] } as const;
const FALLBACK = "/__fallback__";

// Open-redirect payloads in the style of the public lists, adapted to this deployment's origins.
const payloads: readonly string[] = [
  // Protocol-relative and slash/backslash confusion.
  "//evil.com",
  "///evil.com",
  "////evil.com",
  "/\\evil.com",
  "/\\/evil.com",
  "\\/\\/evil.com",
  "\\\\evil.com",
  "\\evil.com",
  "https://gatehouse.test\\@evil.com",
  "https://evil.com\\@gatehouse.test",
  // Scheme without or with the wrong number of slashes.
  "https:evil.com",
  "http:evil.com",
  "https:/evil.com",
  "https:///evil.com",
  "https:\\\\evil.com",
  // Plain foreign or near-miss origins.
  "http://evil.com",
  "https://evil.com",
  "HTTPS://EVIL.COM",
  "http://gatehouse.test/",
  "https://gatehouse.test:8443/",
  "https://gatehouse.test./",
  "http://169.254.169.254/latest/meta-data/",
  "ftp://evil.com",
  // Percent-encoded structure.
  "//evil%2ecom",
  "//evil%2Ecom/",
  "%2f%2fevil.com",
  "%2F%2Fevil.com",
  "/%2f%2fevil.com",
  "/%2fevil.com",
  "/%5cevil.com",
  "/%5c%5cevil.com",
  "/%252f%252fevil.com",
  "/%25252f%25252fevil.com",
  "%252f%252fevil.com",
  "/%255cevil.com",
  "%68ttps://evil.com",
  "https%3a%2f%2fevil.com",
  "https://app.gatehouse.test%2f@evil.com",
  "https://gatehouse%2etest/",
  // Path normalisation that collapses into "//host".
  "/.//evil.com",
  "/..//evil.com",
  "/a/..//evil.com",
  "/%2e//evil.com",
  "/%2e%2e//evil.com",
  // Dangerous schemes.
  "javascript:alert(1)",
  "JaVaScRiPt:alert(1)",
  "java%0d%0ascript:alert(1)",
  "java\tscript:alert(1)",
  "\tjavascript:alert(1)",
  "\njavascript:alert(1)",
  " javascript:alert(1)",
  "javascript://%0aalert(1)",
  "javascript://gatehouse.test/%0aalert(1)",
  "%6A%61%76%61%73%63%72%69%70%74:alert(1)",
  "javascript&colon;alert(1)",
  "data:text/html,<script>alert(1)</script>",
  "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
  "vbscript:msgbox(1)",
  "file:///etc/passwd",
  // Userinfo and host confusion.
  "https://gatehouse.test@evil.com",
  "https://app.gatehouse.test@evil.com",
  "https://user:pass@gatehouse.test/",
  "https://gatehouse.test%40evil.com",
  "https://gatehouse.test.evil.com",
  "https://app.gatehouse.test.evil.com/",
  "https://evil.com#gatehouse.test",
  "https://evil.com?gatehouse.test",
  "https://evil.com/gatehouse.test",
  "https://evil.com/redirect?url=https://gatehouse.test",
  // Unicode look-alikes.
  "https://evil。com",
  "https://evil．com",
  "https://evil｡com",
  "//evil%E3%80%82com",
  "https://gatehouse。test/",
  "https://ｅｖｉｌ.com",
  "https://ᴇᴠɪʟ.com",
  "/%EF%BC%8Fevil.com",
  "/℁evil.com",
  "〱evil.com",
  "〵evil.com",
  // Control characters and whitespace tricks.
  "/%09/evil.com",
  "/%0a/evil.com",
  "/%0d/evil.com",
  "/\t/evil.com",
  "/\n/evil.com",
  " //evil.com",
  "//evil.com ",
  "/events ",
  "//google%00.com",
  "/%00/evil.com",
  "\u0001//evil.com",
  "/\u0085/evil.com",
  "/\u00a0/evil.com",
  "\u00a0//evil.com",
  "/%C2%A0/evil.com",
  "\u3000//evil.com",
  "\u2028//evil.com",
  "/\u200b/evil.com",
  "/\u200e/evil.com",
  "/\u202e/moc.live",
  "/%E2%80%AE/moc.live",
  "/\u2066/evil.com",
  "/\ufeff/evil.com",
  // Malformed or excessively nested encoding.
  "/%",
  "/%ff",
  "/%E0%A4%A",
  "/a%2525252541",
];

describe("safeRedirect: open-redirect payloads", () => {
  it("has a large list of distinct payloads", () => {
    expect(payloads.length).toBeGreaterThanOrEqual(60);
    expect(new Set(payloads).size).toBe(payloads.length);
  });

  it.each(payloads)("rejects %j", (payload) => {
    expect(safeRedirect(payload, { ...options, fallback: FALLBACK })).toBe(FALLBACK);
    expect(isSafeRedirect(payload, options)).toBe(false);
  });
});

describe("safeRedirect: accepted targets", () => {
  it.each([
    ["/", "/"],
    ["/events/123", "/events/123"],
    ["/events?x=1#y", "/events?x=1#y"],
    ["/?x=1", "/?x=1"],
    ["/events/./123", "/events/123"],
    ["/events/a/../123", "/events/123"],
    ["/events/é", "/events/%C3%A9"],
    ["/events/caf%C3%A9", "/events/caf%C3%A9"],
    ["/search?q=a%20b", "/search?q=a%20b"],
    ["/login?next=%2Fevents%3Fx%3D1", "/login?next=%2Fevents%3Fx%3D1"],
    ["/files/a%252fb", "/files/a%252fb"],
    ["https://app.gatehouse.test/dashboard?tab=1#top", "https://app.gatehouse.test/dashboard?tab=1#top"],
    ["https://app.gatehouse.test", "https://app.gatehouse.test/"],
    ["HTTPS://App.Gatehouse.Test/x", "https://app.gatehouse.test/x"],
    ["https://gatehouse.test/events", "https://gatehouse.test/events"],
    ["https://gatehouse.test", "https://gatehouse.test/"],
  ])("accepts %j as %j", (target, expected) => {
    expect(safeRedirect(target, { ...options, fallback: FALLBACK })).toBe(expected);
    expect(isSafeRedirect(target, options)).toBe(true);
  });
});

describe("safeRedirect: fallback and limits", () => {
  it.each([null, undefined, ""])("returns the default fallback for %j", (target) => {
    expect(safeRedirect(target, options)).toBe("/");
    expect(isSafeRedirect(target, options)).toBe(false);
  });

  it("returns the given fallback", () => {
    expect(safeRedirect("//evil.com", { ...options, fallback: "/home" })).toBe("/home");
  });

  it("accepts 2048 characters and rejects 2049", () => {
    const atLimit = `/${"a".repeat(2047)}`;
    expect(safeRedirect(atLimit, options)).toBe(atLimit);
    expect(safeRedirect(`${atLimit}a`, { ...options, fallback: FALLBACK })).toBe(FALLBACK);
  });

  it("only allows absolute URLs whose origin is configured", () => {
    expect(safeRedirect("https://app.gatehouse.test/x", { ...options, allowedOrigins: [] })).toBe("/");
  });

  it("throws on a misconfigured origin rather than allowing nothing silently", () => {
    expect(() => safeRedirect("/", { selfOrigin: "gatehouse.test", allowedOrigins: [] })).toThrow(TypeError);
    expect(() => safeRedirect("/", { ...options, allowedOrigins: ["javascript:alert(1)"] })).toThrow(TypeError);
  });
});
