/**
 * The platform-wide wrong-code budget (otp-verify-global): a botnet spread over many addresses must
 * not be able to try sign-in codes at scale either. Once the budget is spent, codes from any address
 * need the Turnstile challenge, or get 429 where no challenge is configured. This file has the
 * platform-wide key to itself (storage is per test file).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { freshIp, problemOf } from "../../helpers";
import { codeOf } from "../../support/db";
import { useFakeTurnstile } from "../../support/turnstile";
import { createUser } from "./helpers";
import { evaluatedFor } from "./otp-audit";

const GOOD_CHALLENGE = "XXXX.DUMMY.TOKEN.XXXX-accepted";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the platform-wide wrong-code budget", () => {
  const limits = JSON.stringify({
    "otp-verify-global": { limit: 3, windowSeconds: 900 },
    "otp-verify-ip": { limit: 1000, windowSeconds: 900 },
  });
  const app = createApp();
  const send = (email: string, code: string, extra: Record<string, unknown> = {}, challenge = true) =>
    app.request(
      "https://gatehouse.test/api/v1/auth/otp/verify",
      {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ email, code, ...extra }),
      },
      { ...env, RATE_LIMITS: limits, ...(challenge ? {} : { TURNSTILE_SECRET: undefined }) } as Env,
    );

  it("once spent, codes from any address are not evaluated: 429 without a challenge configured, else 403 challenge-required until one is passed", async () => {
    const { calls } = useFakeTurnstile([GOOD_CHALLENGE]);
    const users = await Promise.all(Array.from({ length: 7 }, () => createUser()));
    const emails = users.map((u) => u.email);
    const first = await Promise.all(emails.slice(0, 3).map((email) => send(email, "000000")));
    expect(first.map((r) => r.status)).toEqual([401, 401, 401]);
    expect(await evaluatedFor(emails)).toBe(3);

    const noChallenge = await send(emails[3] ?? "", "000000", {}, false);
    expect(noChallenge.status).toBe(429);
    expect(Number(noChallenge.headers.get("Retry-After"))).toBeGreaterThan(0);
    const limited = await problemOf(noChallenge);
    expect(codeOf(limited)).toBe("rate-limited");
    expect(limited.policy).toBe("otp-verify-global");

    const blocked = await send(emails[4] ?? "", "000000");
    expect(blocked.status).toBe(403);
    expect(codeOf(await problemOf(blocked))).toBe("challenge-required");
    const forged = await send(emails[5] ?? "", "000000", { turnstileToken: "forged" });
    expect(forged.status).toBe(403);
    expect(await evaluatedFor(emails)).toBe(3);

    const passed = await send(emails[6] ?? "", "000000", { turnstileToken: GOOD_CHALLENGE });
    expect(passed.status).toBe(401);
    expect(await evaluatedFor(emails)).toBe(4);
    expect(calls.map((c) => c.response)).toEqual(["forged", GOOD_CHALLENGE]);
  });
});
