import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { ConfigError, getConfig } from "../../src/config";
import { readEmailConfig } from "../../src/config/email";
import { problemOf } from "../helpers";
import { captureLogs } from "../support/logs";

afterEach(() => vi.restoreAllMocks());

/**
 * One request to a production app over `vars`: the response and every console.error line. Keys are
 * matched with arrayContaining: a secret another feature adds to production fails closed in the same
 * line until the test environment provides it, and that must not hide what is asserted here.
 */
async function productionWith(vars: Record<string, unknown>) {
  vi.restoreAllMocks();
  const logs = captureLogs();
  const res = await createApp().request("/health", {}, { ...env, ENVIRONMENT: "production", ...vars });
  return { res, lines: logs.entries(undefined, "error") };
}

describe("email configuration", () => {
  it("production with EMAIL_TRANSPORT=log fails closed: 503 and a log line naming EMAIL_TRANSPORT", async () => {
    const { res, lines } = await productionWith({ EMAIL_TRANSPORT: "log" });
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/unavailable");
    expect(lines).toEqual([
      expect.objectContaining({ level: "error", keys: expect.arrayContaining(["EMAIL_TRANSPORT"]) }),
    ]);
  });

  it("production without RESEND_API_KEY fails closed: 503 and a log line naming the key, never a value", async () => {
    const { RESEND_API_KEY: _omitted, ...rest } = env as unknown as Record<string, unknown>;
    const logs = captureLogs();
    const res = await createApp().request("/health", {}, { ...rest, ENVIRONMENT: "production" });
    expect(res.status).toBe(503);
    const lines = logs.raw("error");
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      level: "error",
      keys: expect.arrayContaining(["RESEND_API_KEY"]),
    });
    expect(lines[0]).not.toContain("re_test_0123456789abcdef");
  });

  it("a key with whitespace (a paste error) or a malformed EMAIL_FROM fails closed naming the variable", async () => {
    const pasted = await productionWith({ RESEND_API_KEY: "re_test_0123456789abcdef\n" });
    expect(pasted.res.status).toBe(503);
    expect(pasted.lines[0]).toMatchObject({ keys: expect.arrayContaining(["RESEND_API_KEY"]) });
    expect(JSON.stringify(pasted.lines)).not.toContain("re_test_0123456789abcdef");
    const from = await productionWith({ EMAIL_FROM: "not an address" });
    expect(from.lines[0]).toMatchObject({ keys: expect.arrayContaining(["EMAIL_FROM"]) });
  });

  it("production defaults to Resend with the configured sender; other environments default to log", () => {
    const vars = { RESEND_API_KEY: "re_test_0123456789abcdef", EMAIL_FROM: "Gatehouse <no-reply@gatehouse.events>" };
    expect(readEmailConfig(vars, true)).toEqual({
      ok: true,
      email: { transport: "resend", apiKey: vars.RESEND_API_KEY, from: vars.EMAIL_FROM },
    });
    expect(readEmailConfig(vars, false)).toEqual({ ok: true, email: { transport: "log" } });
    expect(getConfig({ ...env, ENVIRONMENT: "development" }).email).toEqual({ transport: "log" });
    expect(readEmailConfig({ ...vars, EMAIL_TRANSPORT: "log" }, true)).toEqual({
      ok: false,
      keys: ["EMAIL_TRANSPORT"],
    });
    expect(readEmailConfig({}, true)).toEqual({ ok: false, keys: ["RESEND_API_KEY", "EMAIL_FROM"] });
    expect(readEmailConfig({ ...vars, EMAIL_FROM: "ops@gatehouse.events" }, true).ok).toBe(true);
  });

  it("an unknown transport, or resend without a key in development, is refused (never a silent fallback)", () => {
    expect(() => getConfig({ ...env, EMAIL_TRANSPORT: "smtp" })).toThrow(ConfigError);
    const { RESEND_API_KEY: _omitted, ...rest } = env as unknown as Record<string, unknown>;
    expect(() => getConfig({ ...rest, ENVIRONMENT: "development", EMAIL_TRANSPORT: "resend" })).toThrow(
      expect.objectContaining({ keys: ["RESEND_API_KEY"] }),
    );
  });
});
