/**
 * Emailed single-use tokens: verification links (24 h) and password reset links (1 h), their
 * expiry boundaries under controlled time, single use, supersession, the browser link's answers and
 * redirects, and what a reset revokes.
 */
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/lib/crypto";
import { call, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOf, countRows, rows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { Browser } from "../../web/browser";
import {
  auditOf,
  bearer,
  createUser,
  login,
  mailbox,
  PASSWORD,
  postJson,
  tokenFromMail,
  tokensFromMail,
  uniqueEmail,
} from "./helpers";

const T0 = Date.UTC(2032, 0, 10, 9, 0, 0);
const HOUR = 3600 * 1000;
const NEW_PASSWORD = "a-brand-new-passphrase";

async function registerAndGetToken(next?: string) {
  const email = uniqueEmail("verify");
  const res = await postJson("/api/v1/auth/register", { email, password: PASSWORD, name: "Vera", next });
  expect(res.status).toBe(201);
  const { id } = (await res.json()) as { id: string };
  return { email, id, token: await tokenFromMail(email, "verify-email") };
}

function verifiedAt(id: string) {
  return rows<{ email_verified_at: number | null }>("SELECT email_verified_at FROM users WHERE id = ?", id).then(
    (r) => r[0]?.email_verified_at,
  );
}

async function requestReset(email: string) {
  expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
}

async function expectInvalid(res: Response) {
  expect(res.status).toBe(400);
  expect(codeOf(await problemOf(res))).toBe("invalid-or-expired");
}

describe("email verification token", () => {
  it("is valid until 24 h after issue (24 h − 1 ms works, 24 h does not)", async () => {
    freezeClock(T0);
    const early = await registerAndGetToken();
    const late = await registerAndGetToken();
    const [row] = await rows<{ created_at: number; expires_at: number }>(
      "SELECT created_at, expires_at FROM email_tokens WHERE user_id = ? AND purpose = 'verify-email'",
      early.id,
    );
    expect(row).toEqual({ created_at: T0, expires_at: T0 + 24 * HOUR });

    setClock(T0 + 24 * HOUR - 1);
    const ok = await postJson("/api/v1/auth/verify-email", { token: early.token });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: early.id, emailVerified: true });
    expect(await verifiedAt(early.id)).toBe(T0 + 24 * HOUR - 1);

    setClock(T0 + 24 * HOUR);
    const expired = await postJson("/api/v1/auth/verify-email", { token: late.token });
    await expectInvalid(expired);
    expect(await verifiedAt(late.id)).toBeNull();
    expect(await auditOf(expired)).toEqual([
      expect.objectContaining({ action: "auth.verify-email", outcome: "failure" }),
    ]);
  });

  it("is single use: the second use answers 400 invalid-or-expired", async () => {
    const { id, token } = await registerAndGetToken();
    expect((await postJson("/api/v1/auth/verify-email", { token })).status).toBe(200);
    const first = await verifiedAt(id);
    await expectInvalid(await postJson("/api/v1/auth/verify-email", { token }));
    expect(await verifiedAt(id)).toBe(first);
    const [stored] = await rows<{ token_hash: string; used_at: number | null }>(
      "SELECT token_hash, used_at FROM email_tokens WHERE user_id = ?",
      id,
    );
    expect(stored?.token_hash).toBe(await sha256Hex(token));
    expect(stored?.used_at).not.toBeNull();
  });

  it("used by several requests at once, verifies exactly once", async () => {
    const { id, token } = await registerAndGetToken();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => postJson("/api/v1/auth/verify-email", { token })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 400, 400, 400, 400]);
    expect(
      await countRows("audit_log", "user_id = ? AND action = 'auth.verify-email' AND outcome = 'success'", id),
    ).toBe(1);
  });

  it("cannot be used as a password reset token (purpose is bound)", async () => {
    const { email, token } = await registerAndGetToken();
    await expectInvalid(await postJson("/api/v1/auth/reset-password", { token, password: NEW_PASSWORD }));
    // The sign-up password is still the one stored (right password, address not yet confirmed: 403).
    const res = await postJson("/api/v1/auth/login", { email, password: PASSWORD });
    expect(res.status).toBe(403);
    expect(codeOf(await problemOf(res))).toBe("email-not-verified");
  });
});

/** Opens the confirmation page as a browser does (its CSRF cookie and token), then posts its form. */
async function form(token: string, fields: Record<string, string>, options: { origin?: string } = {}) {
  const browser = new Browser();
  expect((await browser.get(`/verify-email?token=${encodeURIComponent(token)}`)).status).toBe(200);
  return browser.submit("/verify-email", { token, ...fields }, options);
}

describe("the emailed link opens /verify-email, where only a POST confirms", () => {
  it("the emailed link points at /verify-email and carries the `next` given at registration", async () => {
    const { email } = await registerAndGetToken("/events/7");
    const link = (await mailbox(email))[0]?.text.match(/https?:\/\/\S+/)?.[0] ?? "";
    expect(new URL(link).pathname).toBe("/verify-email");
    expect(new URL(link).searchParams.get("next")).toBe("/events/7");
  });

  it("GET /verify-email and the old GET /auth/verify link change nothing (a mail scanner fetching them verifies no one)", async () => {
    const { id, token } = await registerAndGetToken();
    const page = await call(`/verify-email?token=${encodeURIComponent(token)}`);
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9_-]+'/);
    expect(csp).not.toContain("unsafe-inline");
    const html = await page.text();
    expect(html).toContain('<form method="post" action="/verify-email">');
    expect(html).toContain('autocomplete="current-password"');
    const legacy = await call(`/auth/verify?token=${encodeURIComponent(token)}&next=%2Fevents`, { redirect: "manual" });
    expect(legacy.status).toBe(303);
    expect(legacy.headers.get("Location")).toBe(`/verify-email?token=${encodeURIComponent(token)}&next=%2Fevents`);
    expect(await verifiedAt(id)).toBeNull();
    expect(await countRows("email_tokens", "user_id = ? AND used_at IS NULL", id)).toBe(1);
  });

  it("an invalid token posted from the page answers a 400 HTML page", async () => {
    const res = await form("not-a-real-token", { without_password: "1" });
    expect(res.status).toBe(400);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.html).toContain("invalid or has expired");
  });

  it("a cross-site form post is refused and verifies nothing", async () => {
    const { id, token } = await registerAndGetToken();
    const res = await form(token, { password: PASSWORD }, { origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(await verifiedAt(id)).toBeNull();
  });

  it.each([
    ["//evil.com", "/"],
    ["https://evil.example/x", "/"],
    ["/events/1", "/events/1"],
    ["https://app.gatehouse.test/x", "https://app.gatehouse.test/x"],
  ])("confirming with the password verifies and redirects next=%s to %s with 303", async (next, location) => {
    const { id, token } = await registerAndGetToken();
    const res = await form(token, { password: PASSWORD, next });
    expect(res.status).toBe(303);
    expect(res.location).toBe(location);
    expect(await verifiedAt(id)).not.toBeNull();
  });
});

describe("password reset token", () => {
  it("is valid until 1 h after issue (1 h − 1 ms works, 1 h does not)", async () => {
    freezeClock(T0);
    const early = await createUser();
    const late = await createUser();
    await requestReset(early.email);
    await requestReset(late.email);
    const earlyToken = await tokenFromMail(early.email, "reset-password");
    const lateToken = await tokenFromMail(late.email, "reset-password");

    setClock(T0 + HOUR - 1);
    expect((await postJson("/api/v1/auth/reset-password", { token: earlyToken, password: NEW_PASSWORD })).status).toBe(
      200,
    );
    setClock(T0 + HOUR);
    await expectInvalid(await postJson("/api/v1/auth/reset-password", { token: lateToken, password: NEW_PASSWORD }));
    // The expired link changed nothing.
    expect((await postJson("/api/v1/auth/login", { email: late.email, password: PASSWORD })).status).toBe(200);
    expect((await outboxEmails({ to: late.email, template: "password-changed" })).length).toBe(0);
  });

  it("is single use", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const token = await tokenFromMail(user.email, "reset-password");
    expect((await postJson("/api/v1/auth/reset-password", { token, password: NEW_PASSWORD })).status).toBe(200);
    await expectInvalid(await postJson("/api/v1/auth/reset-password", { token, password: "yet-another-passphrase" }));
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: NEW_PASSWORD })).status).toBe(200);
  });

  it("used twice at the same time, exactly one reset wins and its password is the one stored", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const token = await tokenFromMail(user.email, "reset-password");
    const passwords = ["first-racing-passphrase", "second-racing-passphrase"];
    const results = await Promise.all(
      passwords.map((password) => postJson("/api/v1/auth/reset-password", { token, password })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    const winner = passwords[results.findIndex((r) => r.status === 200)] as string;
    const loser = passwords.find((p) => p !== winner) as string;
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: winner })).status).toBe(200);
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: loser })).status).toBe(401);
    expect((await outboxEmails({ to: user.email, template: "password-changed" })).length).toBe(1);
    const [row] = await rows<{ session_epoch: number }>("SELECT session_epoch FROM users WHERE id = ?", user.id);
    expect(row?.session_epoch).toBe(1);
  });

  it("is superseded by a newer one: only the newest link works", async () => {
    const user = await createUser();
    await requestReset(user.email);
    const [first] = await tokensFromMail(user.email, "reset-password");
    await requestReset(user.email);
    const second = (await tokensFromMail(user.email, "reset-password")).find((t) => t !== first);
    if (!first || !second) throw new Error("expected two reset tokens");

    const stored = await rows<{ token_hash: string; used_at: number | null }>(
      "SELECT token_hash, used_at FROM email_tokens WHERE user_id = ? AND purpose = 'reset-password'",
      user.id,
    );
    expect(stored).toHaveLength(2);
    expect(stored.find((r) => r.token_hash === first)).toBeUndefined();
    const byHash = new Map(stored.map((r) => [r.token_hash, r.used_at]));
    expect(byHash.get(await sha256Hex(first))).not.toBeNull();
    expect(byHash.get(await sha256Hex(second))).toBeNull();

    await expectInvalid(await postJson("/api/v1/auth/reset-password", { token: first, password: NEW_PASSWORD }));
    expect((await postJson("/api/v1/auth/reset-password", { token: second, password: NEW_PASSWORD })).status).toBe(200);
  });

  it("cannot be used to verify an email (purpose is bound)", async () => {
    const user = await createUser({ verified: false });
    await requestReset(user.email);
    const token = await tokenFromMail(user.email, "reset-password");
    await expectInvalid(await postJson("/api/v1/auth/verify-email", { token }));
    expect(await verifiedAt(user.id)).toBeNull();
  });
});

describe("a password reset", () => {
  it("revokes every session and refresh token, kills access tokens at once, mails and audits", async () => {
    const user = await createUser();
    const a = await login(user.email);
    const b = await login(user.email);
    for (const t of [a, b]) expect((await call("/api/v1/me", { headers: bearer(t.accessToken) })).status).toBe(200);

    await requestReset(user.email);
    const token = await tokenFromMail(user.email, "reset-password");
    const res = await postJson("/api/v1/auth/reset-password", { token, password: NEW_PASSWORD });
    expect(res.status).toBe(200);

    for (const t of [a, b]) {
      const me = await call("/api/v1/me", { headers: bearer(t.accessToken) });
      expect(me.status).toBe(401);
      expect(codeOf(await problemOf(me))).toBe("unauthorized");
      expect((await postJson("/api/v1/auth/refresh", { refreshToken: t.refreshToken })).status).toBe(401);
    }
    const sessions = await rows<{ revoked_at: number | null; revoke_reason: string | null }>(
      "SELECT revoked_at, revoke_reason FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(sessions).toHaveLength(2);
    for (const s of sessions) {
      expect(s.revoked_at).not.toBeNull();
      // Refresh failing above was the first failure for these sessions: they were revoked by the reset.
      expect(s.revoke_reason).toBe("password-reset");
    }
    const [stored] = await rows<{ session_epoch: number; password_hash: string }>(
      "SELECT session_epoch, password_hash FROM users WHERE id = ?",
      user.id,
    );
    expect(stored?.session_epoch).toBe(1);
    expect(stored?.password_hash).not.toContain(NEW_PASSWORD);

    expect((await outboxEmails({ to: user.email, template: "password-changed" })).length).toBe(1);
    expect(await auditOf(res)).toEqual([
      expect.objectContaining({ action: "auth.reset-password", outcome: "success", user_id: user.id }),
    ]);
    expect(
      await countRows("audit_log", "user_id = ? AND action = 'auth.reset-request' AND outcome = 'success'", user.id),
    ).toBe(1);

    // A sign-in after the reset works with the new password only.
    const fresh = await login(user.email, NEW_PASSWORD);
    expect((await call("/api/v1/me", { headers: bearer(fresh.accessToken) })).status).toBe(200);
  });
});
