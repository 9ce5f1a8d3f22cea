/**
 * The rate policies attached to the auth routes: auth-register (3/h per address), auth-login
 * (5 failures / 15 min per address and email), auth-verify-email (5/h per address) and auth-reset
 * (3/h per address and per email). Each 429 carries Retry-After.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, freshIp, problemOf } from "../../helpers";
import { codeOf, countRows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { useFakeTurnstile } from "../../support/turnstile";
import { emailIndexOf } from "../../support/users";
import { auditOf, createUser, mailbox, PASSWORD, postJson, uniqueEmail } from "./helpers";

const GOOD = "XXXX.DUMMY.TOKEN.XXXX-accepted";

afterEach(() => {
  vi.restoreAllMocks();
});

async function expectLimited(res: Response, policy: string) {
  expect(res.status).toBe(429);
  const retryAfter = Number(res.headers.get("Retry-After"));
  expect(retryAfter).toBeGreaterThan(0);
  const problem = await problemOf(res);
  expect(codeOf(problem)).toBe("rate-limited");
  expect(problem.policy).toBe(policy);
  expect(problem.retryAfter).toBe(retryAfter);
  return retryAfter;
}

describe("auth-register: 3 per hour per address", () => {
  it("the 4th registration from one address is 429 with Retry-After and the policy header, and stores nothing", async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) {
      const res = await postJson(
        "/api/v1/auth/register",
        { email: uniqueEmail("burst"), password: PASSWORD, name: "Burst" },
        { ip },
      );
      expect(res.status).toBe(201);
      expect(res.headers.get("RateLimit-Policy")).toContain('"auth-register";q=3;w=3600');
    }
    const email = uniqueEmail("burst");
    const res = await postJson("/api/v1/auth/register", { email, password: PASSWORD, name: "Burst" }, { ip });
    const retryAfter = await expectLimited(res, "auth-register");
    expect(retryAfter).toBeLessThanOrEqual(1200);
    expect(res.headers.get("RateLimit-Policy")).toContain('"auth-register";q=3;w=3600');
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
    expect((await outboxEmails({ to: email })).length).toBe(0);

    // Another address still registers.
    expect(
      (await postJson("/api/v1/auth/register", { email, password: PASSWORD, name: "Burst" }, { ip: freshIp() })).status,
    ).toBe(201);
  });
});

describe("auth-login: 5 failures per 15 minutes per address and email", () => {
  it("after 5 failures the 6th attempt is 429 even with the right password, and opens no session", async () => {
    // From the 4th attempt on, the human challenge applies as well: pass it, so only the limit decides.
    useFakeTurnstile([GOOD]);
    const user = await createUser();
    const ip = freshIp();
    for (let i = 1; i <= 5; i++) {
      const res = await postJson(
        "/api/v1/auth/login",
        { email: user.email, password: `wrong-passphrase-${i}`, turnstileToken: GOOD },
        { ip },
      );
      expect(res.status).toBe(401);
    }
    const sixth = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD, turnstileToken: GOOD },
      { ip },
    );
    await expectLimited(sixth, "auth-login");
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
    expect(await auditOf(sixth)).toEqual([
      expect.objectContaining({ action: "auth.login", outcome: "denied", detail: '{"reason":"rate-limited"}' }),
    ]);

    // The budget is per (address, email): the same account from another address still signs in.
    const elsewhere = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD, turnstileToken: GOOD },
      { ip: freshIp() },
    );
    expect(elsewhere.status).toBe(200);
  });

  it("a burst of 20 concurrent wrong passwords gets at most 5 checked; the rest are refused unchecked", async () => {
    const user = await createUser();
    const ip = freshIp();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        postJson("/api/v1/auth/login", { email: user.email, password: `wrong-passphrase-${i}` }, { ip }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    // The rest never reach the password check: rate-limited, or challenged once failures are counted.
    expect(statuses.filter((s) => s !== 401).every((s) => s === 429 || s === 403)).toBe(true);
    expect(
      await countRows("audit_log", "user_id = ? AND action = 'auth.login' AND outcome = 'failure'", user.id),
    ).toBeLessThanOrEqual(5);
    const right = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip });
    expect([429, 403]).toContain(right.status);
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("a successful sign-in forgives earlier failures", async () => {
    const user = await createUser();
    const ip = freshIp();
    for (let i = 0; i < 2; i++) {
      expect(
        (await postJson("/api/v1/auth/login", { email: user.email, password: "nope-nope-nope" }, { ip })).status,
      ).toBe(401);
    }
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD }, { ip })).status).toBe(200);
  });
});

describe("auth-verify-email: 5 per hour per address", () => {
  it("the 6th verification attempt from one address is 429, for the API route and the confirmation form alike", async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await postJson("/api/v1/auth/verify-email", { token: `guess-${i}` }, { ip });
      expect(res.status).toBe(400);
    }
    const sixth = await postJson("/api/v1/auth/verify-email", { token: "guess-6" }, { ip });
    await expectLimited(sixth, "auth-verify-email");
    expect(sixth.headers.get("RateLimit-Policy")).toBe('"auth-verify-email";q=5;w=3600');
    const formPost = await call("/verify-email", {
      ip,
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: "https://gatehouse.test" },
      body: "token=guess-7&without_password=1",
    });
    await expectLimited(formPost, "auth-verify-email");
  });
});

describe("auth-reset: 3 per hour per address and per email", () => {
  it("the 4th forgot-password from one address is 429 and mails nothing", async () => {
    const ip = freshIp();
    for (let i = 0; i < 3; i++) {
      expect((await postJson("/api/v1/auth/forgot-password", { email: uniqueEmail() }, { ip })).status).toBe(202);
    }
    const user = await createUser();
    await expectLimited(await postJson("/api/v1/auth/forgot-password", { email: user.email }, { ip }), "auth-reset");
    expect(await mailbox(user.email)).toEqual([]);
  });

  it("the 4th forgot-password for one email (from different addresses) is 429 and mails nothing more", async () => {
    const user = await createUser();
    for (let i = 0; i < 3; i++) {
      expect((await postJson("/api/v1/auth/forgot-password", { email: user.email })).status).toBe(202);
    }
    await expectLimited(await postJson("/api/v1/auth/forgot-password", { email: user.email }), "auth-reset");
    expect((await outboxEmails({ to: user.email, template: "reset-password" })).length).toBe(3);
  });

  it("the per-email budget answers the same for an unknown email (no oracle)", async () => {
    const email = uniqueEmail("ghost");
    for (let i = 0; i < 3; i++) {
      expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
    }
    await expectLimited(await postJson("/api/v1/auth/forgot-password", { email }), "auth-reset");
  });
});
