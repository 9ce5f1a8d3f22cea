import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { ConfigError, getConfig } from "../../src/config";
import { DEFAULT_RATE_POLICIES, resolveRatePolicies } from "../../src/config/limits";
import { problemOf } from "../helpers";
import { captureLogs } from "../support/logs";

afterEach(() => vi.restoreAllMocks());

/** The tests' bindings as a production deploy has them: PUBLIC_URL is required there (below). */
const PRODUCTION = { ENVIRONMENT: "production", PUBLIC_URL: "https://tickets.example" } as const;

describe("configuration", () => {
  it("production without HASH_PEPPER fails closed: 503 problem and one log line naming the key only", async () => {
    const logs = captureLogs();
    const { HASH_PEPPER: _omitted, ...rest } = env;
    const res = await createApp().request("/health", {}, { ...rest, ...PRODUCTION });
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/unavailable");
    const lines = logs.raw("error");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "error", keys: ["HASH_PEPPER"] });
  });

  it("production with a malformed secret fails closed without logging its value", async () => {
    const logs = captureLogs();
    const res = await createApp().request("/health", {}, { ...env, ...PRODUCTION, HASH_PEPPER: "short-s3cr3t" });
    expect(res.status).toBe(503);
    const logged = logs.raw("error").join("\n");
    expect(logged).toContain("HASH_PEPPER");
    expect(logged).not.toContain("short-s3cr3t");
  });

  const SECRET_VALUES = [env.HASH_PEPPER, env.COOKIE_SECRET, env.TURNSTILE_SECRET, env.JWT_KEYS].map(String);
  const jwtSecrets = (JSON.parse(String(env.JWT_KEYS)) as { secret: string }[]).map((k) => k.secret);

  /** One request to a production app over `vars`: the response and every console.error line. */
  async function productionWith(vars: Record<string, unknown>) {
    const logs = captureLogs();
    const res = await createApp().request("/health", {}, { ...PRODUCTION, ...vars, ENVIRONMENT: "production" });
    const lines = logs.raw("error");
    return { res, lines };
  }

  async function expectFailsClosedNaming(res: Response, lines: string[], key: string, hidden: string[]) {
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/unavailable");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0] as string) as { level: string; keys: string[] };
    expect(line.level).toBe("error");
    expect(line.keys).toContain(key);
    for (const value of hidden) expect(lines[0]).not.toContain(value);
  }

  it.each(["JWT_KEYS", "COOKIE_SECRET", "TURNSTILE_SECRET", "PII_KEYS", "PII_INDEX_KEY"])(
    "production without %s fails closed: 503 and one log line naming the key, not a value",
    async (key) => {
      const { [key]: _omitted, ...rest } = env as unknown as Record<string, unknown>;
      const { res, lines } = await productionWith(rest);
      await expectFailsClosedNaming(res, lines, key, [...SECRET_VALUES, ...jwtSecrets]);
    },
  );

  it.each(["JWT_KEYS", "COOKIE_SECRET", "TURNSTILE_SECRET", "PII_KEYS", "PII_INDEX_KEY"])(
    "production with %s set to an empty string fails closed",
    async (key) => {
      const { res, lines } = await productionWith({ ...env, [key]: "" });
      await expectFailsClosedNaming(res, lines, key, [...SECRET_VALUES, ...jwtSecrets]);
    },
  );

  it.each([
    ["not JSON", '[{"kid":"k1","secret":"truncated-s3cret-0123456789abcdef0123456789"'],
    ["JSON of the wrong shape", '{"kid":"k1","secret":"object-not-array-s3cret-0123456789abcdef"}'],
    ["a key with a short secret", '[{"kid":"k1","secret":"short-s3cret"}]'],
    ["an empty key list", "[]"],
    ["a kid with forbidden characters", '[{"kid":"k 1/..","secret":"kid-s3cret-0123456789abcdef0123456789abc"}]'],
  ])("production with malformed JWT_KEYS (%s) fails closed without logging the value", async (_name, raw) => {
    const { res, lines } = await productionWith({ ...env, JWT_KEYS: raw });
    const secret = /"secret":"([^"]+)"/.exec(raw)?.[1];
    await expectFailsClosedNaming(res, lines, "JWT_KEYS", [...SECRET_VALUES, ...(secret ? [secret] : [])]);
  });

  it.each([
    ["an empty key list", "[]"],
    ["a 16-byte key (AES-128)", '[{"kid":"k1","key":"c2l4dGVlbi1ieXRlcy1rZXk"}]'],
    ["a kid with a dot", '[{"kid":"k.1","key":"cGlpLXRlc3Qta2V5LXR3by0wMTIzNDU2Nzg5YWJjZGU"}]'],
    [
      "a kid listed twice",
      `[${'{"kid":"k1","key":"cGlpLXRlc3Qta2V5LXR3by0wMTIzNDU2Nzg5YWJjZGU"}'.repeat(2).replace("}{", "},{")}]`,
    ],
    ["not JSON", '[{"kid":"k1","key":"cGlpLXRlc3Qta2V5LXR3by0wMTIzNDU2Nzg5YWJjZGU"'],
  ])("production with malformed PII_KEYS (%s) fails closed without logging a key", async (_name, raw) => {
    const { res, lines } = await productionWith({ ...env, PII_KEYS: raw });
    await expectFailsClosedNaming(res, lines, "PII_KEYS", [
      ...SECRET_VALUES,
      "cGlpLXRlc3Qta2V5LXR3by0wMTIzNDU2Nzg5YWJjZGU",
    ]);
  });

  it("production with a PII_INDEX_KEY under 32 bytes fails closed", async () => {
    const { res, lines } = await productionWith({
      ...env,
      PII_INDEX_KEY: "dGhpcnR5LW9uZS1ieXRlcy1pbmRleC1rZXktLS0tLQ",
    });
    await expectFailsClosedNaming(res, lines, "PII_INDEX_KEY", SECRET_VALUES);
  });

  it.each([["ln=17;r=8;p=1"], ["ln=30,r=8,p=1"], ["ln=9,r=8,p=1"], ["ln=17,r=0,p=1"], ["scrypt"]])(
    "PASSWORD_SCRYPT=%s fails closed naming the variable",
    async (raw) => {
      const { res, lines } = await productionWith({ ...env, PASSWORD_SCRYPT: raw });
      await expectFailsClosedNaming(res, lines, "PASSWORD_SCRYPT", SECRET_VALUES);
    },
  );

  it("production with every secret serves normally", async () => {
    const res = await createApp().request("/health", {}, { ...env, ...PRODUCTION });
    expect(res.status).toBe(200);
  });

  it("production without PUBLIC_URL fails closed naming it: links never come from a request's Host or a development default", async () => {
    const { PUBLIC_URL: _none, ...withoutUrl } = { ...(env as unknown as Record<string, unknown>), ...PRODUCTION };
    const logs = captureLogs();
    for (const vars of [withoutUrl, { ...withoutUrl, PUBLIC_URL: "" }]) {
      const before = logs.raw("error").length;
      const res = await createApp().request("/health", {}, vars);
      await expectFailsClosedNaming(res, logs.raw("error").slice(before), "PUBLIC_URL", SECRET_VALUES);
    }
    // Outside production the request's origin still serves (development, tests).
    expect(getConfig({ ...withoutUrl, ENVIRONMENT: "development" }).publicUrl).toBeNull();
  });

  it("development without secrets generates one per isolate, stable across requests", () => {
    const { HASH_PEPPER: _omitted, ...rest } = env;
    const a = getConfig({ ...rest, ENVIRONMENT: "development" });
    const b = getConfig({ ...rest, ENVIRONMENT: "development" });
    expect(a.hashPepper.length).toBeGreaterThanOrEqual(32);
    expect(a.hashPepper).toBe(b.hashPepper);
    expect(a.isProduction).toBe(false);
  });

  it("defaults to production when ENVIRONMENT is missing, and rejects unknown environments", () => {
    const { ENVIRONMENT: _e, HASH_PEPPER: _s, ...rest } = env;
    expect(() => getConfig({ ...rest })).toThrow(ConfigError);
    expect(() => getConfig({ ...env, ENVIRONMENT: "staging" })).toThrow(ConfigError);
  });

  it("rejects a wildcard or non-origin in CORS_ORIGINS", () => {
    expect(() => getConfig({ ...env, CORS_ORIGINS: "*" })).toThrow(ConfigError);
    expect(() => getConfig({ ...env, CORS_ORIGINS: "https://a.example/path" })).toThrow(ConfigError);
    expect(getConfig({ ...env, CORS_ORIGINS: "https://a.example, http://localhost:5173" }).corsOrigins).toEqual([
      "https://a.example",
      "http://localhost:5173",
    ]);
  });
});

describe("rate policies", () => {
  it("ship the documented defaults", () => {
    const p = resolveRatePolicies(undefined);
    expect(p.api).toMatchObject({ limit: 100, windowSeconds: 60, onUnavailable: "open" });
    expect(p["auth-login"]).toMatchObject({ limit: 5, windowSeconds: 900, onUnavailable: "closed" });
    expect(p["auth-register"]).toMatchObject({ limit: 3, windowSeconds: 3600 });
    expect(p["otp-verify"]).toMatchObject({ limit: 5, windowSeconds: 900 });
    expect(p.scanner).toMatchObject({ limit: 20, windowSeconds: 1 });
  });

  it("RATE_LIMITS overrides named policies; `orders` sets both order policies", () => {
    const p = resolveRatePolicies(
      '{"auth-register":{"limit":1000,"windowSeconds":60},"orders":{"limit":50,"windowSeconds":60}}',
    );
    expect(p["auth-register"]).toMatchObject({ limit: 1000, windowSeconds: 60, onUnavailable: "closed" });
    expect(p["orders-user"].limit).toBe(50);
    expect(p["orders-ip"].limit).toBe(50);
    expect(p.api).toEqual(DEFAULT_RATE_POLICIES.api);
  });

  it.each([
    ['{"nope":{"limit":1,"windowSeconds":1}}'],
    ['{"api":{"limit":0,"windowSeconds":60}}'],
    ['{"api":{"limit":1.5,"windowSeconds":60}}'],
    ['{"api":{"limit":10}}'],
    ['{"api":{"limit":10,"windowSeconds":60,"extra":1}}'],
    ["not json"],
  ])("rejects the malformed override %s", (raw) => {
    expect(() => resolveRatePolicies(raw)).toThrow();
  });
});
