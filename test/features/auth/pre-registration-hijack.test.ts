/**
 * Pre-registration hijack: one party registers someone else's address with a password of their
 * choosing. Nothing they set up may be usable until they prove they read that mailbox, and whenever
 * the mailbox's owner proves control another way (code, confirming without the password, reset),
 * the registrant's password and every earlier session stop working.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { openSession } from "../../../src/features/auth/sessions";
import { call, freshIp, problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { emailIndexOf } from "../../support/users";
import { auditForUser, bearer, mailbox, otpFromMail, postJson, tokenFromMail, uniqueEmail } from "./helpers";

const ATTACKER_PASSWORD = "attacker-chosen-passphrase";

interface Account {
  id: string;
  password_hash: string | null;
  email_verified_at: number | null;
  session_epoch: number;
}

async function account(email: string): Promise<Account> {
  const [row] = await rows<Account>(
    "SELECT id, password_hash, email_verified_at, session_epoch FROM users WHERE (email_index = ? OR email = ?)",
    emailIndexOf(email),
    email,
  );
  if (!row) throw new Error(`no account for ${email}`);
  return row;
}

/** The attacker registers the victim's address. */
async function preRegister(): Promise<{ email: string; id: string }> {
  const email = uniqueEmail("victim");
  const res = await postJson("/api/v1/auth/register", { email, password: ATTACKER_PASSWORD, name: "Not Victim" });
  expect(res.status).toBe(201);
  return { email, id: ((await res.json()) as { id: string }).id };
}

/** A session as the code before this rule handed out at once to whoever registered (the attack's state). */
async function legacySession(userId: string) {
  const stores = { db: env.DB, sessions: env.RATE_LIMITER };
  const user = { id: userId, sessionEpoch: 0, roles: '["attendee"]', email: "victim@example.test", name: "Not Victim" };
  return openSession(stores, getConfig(env), user, "password", {
    requestId: "legacy",
    ip: null,
    userAgent: null,
  });
}

async function expectPasswordRefused(email: string, status: 401 | 403, code: string) {
  const res = await postJson("/api/v1/auth/login", { email, password: ATTACKER_PASSWORD });
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

async function ownerSignsInByCode(email: string) {
  expect((await postJson("/api/v1/auth/otp/request", { email })).status).toBe(202);
  const code = await otpFromMail(email);
  const res = await postJson("/api/v1/auth/otp/verify", { email, code });
  expect(res.status).toBe(200);
  return (await res.json()) as { accessToken: string; refreshToken: string; user: { emailVerified: boolean } };
}

describe("an account registered by someone else", () => {
  it("cannot be signed in to with the registrant's password until the address is confirmed (403, no session)", async () => {
    const { email, id } = await preRegister();
    await expectPasswordRefused(email, 403, "email-not-verified");
    expect(await countRows("sessions", "user_id = ?", id)).toBe(0);
    expect((await auditForUser(id, "auth.login")).map((a) => [a.outcome, JSON.parse(a.detail).reason])).toEqual([
      ["denied", "email-not-verified"],
    ]);
  });

  it("one party registers, another signs in by code: the first party's password and tokens are refused afterwards", async () => {
    const { email, id } = await preRegister();
    const attacker = await legacySession(id);
    expect((await call("/api/v1/me", { headers: bearer(attacker.accessToken) })).status).toBe(200);

    const owner = await ownerSignsInByCode(email);
    expect(owner.user.emailVerified).toBe(true);

    await expectPasswordRefused(email, 401, "invalid-credentials");
    expect((await call("/api/v1/me", { headers: bearer(attacker.accessToken) })).status).toBe(401);
    const refreshed = await postJson("/api/v1/auth/refresh", { refreshToken: attacker.refreshToken });
    expect(refreshed.status).toBe(401);

    const stored = await account(email);
    expect(stored.password_hash).toBeNull();
    expect(stored.email_verified_at).not.toBeNull();
    expect(stored.session_epoch).toBe(1);
    const sessions = await rows<{ id: string; revoke_reason: string | null }>(
      "SELECT id, revoke_reason FROM sessions WHERE user_id = ? ORDER BY created_at",
      id,
    );
    expect(sessions.find((s) => s.id === attacker.sessionId)?.revoke_reason).toBe("credentials-cleared");
    // The owner's own session is the one left.
    expect(sessions.filter((s) => s.revoke_reason === null)).toHaveLength(1);
    expect((await call("/api/v1/me", { headers: bearer(owner.accessToken) })).status).toBe(200);
  });

  it("a link scanner fetching the emailed link changes nothing: the account stays unverified and unusable", async () => {
    const { email, id } = await preRegister();
    const token = await tokenFromMail(email, "verify-email");
    const link = (await mailbox(email)).find((m) => m.template === "verify-email")?.text.match(/https?:\/\/\S+/)?.[0];
    const url = new URL(link ?? "");
    expect((await call(`${url.pathname}${url.search}`)).status).toBe(200);
    expect((await call(`/auth/verify?token=${encodeURIComponent(token)}`, { redirect: "manual" })).status).toBe(303);
    expect((await call(`/auth/verify?token=${encodeURIComponent(token)}`, { redirect: "follow" })).status).toBe(200);
    expect((await account(email)).email_verified_at).toBeNull();
    expect(await countRows("email_tokens", "user_id = ? AND used_at IS NULL", id)).toBe(1);
    await expectPasswordRefused(email, 403, "email-not-verified");
  });

  it("the owner confirming the link without the password clears it and revokes every earlier session", async () => {
    const { email, id } = await preRegister();
    const attacker = await legacySession(id);
    const token = await tokenFromMail(email, "verify-email");
    const res = await postJson("/api/v1/auth/verify-email", { token });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, emailVerified: true, passwordKept: false });

    await expectPasswordRefused(email, 401, "invalid-credentials");
    expect((await call("/api/v1/me", { headers: bearer(attacker.accessToken) })).status).toBe(401);
    expect((await postJson("/api/v1/auth/refresh", { refreshToken: attacker.refreshToken })).status).toBe(401);
    expect(await account(email)).toMatchObject({ password_hash: null, session_epoch: 1 });
    expect(await countRows("sessions", "user_id = ? AND revoked_at IS NULL", id)).toBe(0);
    // The owner then signs in by code as usual.
    await ownerSignsInByCode(email);
  });

  it("the owner's password reset replaces the registrant's password and verifies the address", async () => {
    const { email, id } = await preRegister();
    const attacker = await legacySession(id);
    expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
    const token = await tokenFromMail(email, "reset-password");
    const reset = await postJson("/api/v1/auth/reset-password", { token, password: "owners-own-passphrase" });
    expect(reset.status).toBe(200);

    await expectPasswordRefused(email, 401, "invalid-credentials");
    expect((await call("/api/v1/me", { headers: bearer(attacker.accessToken) })).status).toBe(401);
    expect((await account(email)).email_verified_at).not.toBeNull();
    const login = await postJson("/api/v1/auth/login", { email, password: "owners-own-passphrase" });
    expect(login.status).toBe(200);
  });

  it("confirming with a wrong password is 401 and consumes nothing; with the right one the registrant keeps it", async () => {
    const email = uniqueEmail("genuine");
    const ip = freshIp();
    expect(
      (await postJson("/api/v1/auth/register", { email, password: ATTACKER_PASSWORD, name: "Genuine" }, { ip })).status,
    ).toBe(201);
    const token = await tokenFromMail(email, "verify-email");

    const wrong = await postJson("/api/v1/auth/verify-email", { token, password: "not-the-password" }, { ip });
    expect(wrong.status).toBe(401);
    expect(codeOf(await problemOf(wrong))).toBe("invalid-credentials");
    const before = await account(email);
    expect(before.email_verified_at).toBeNull();
    expect(before.password_hash).not.toBeNull();

    const right = await postJson("/api/v1/auth/verify-email", { token, password: ATTACKER_PASSWORD }, { ip });
    expect(right.status).toBe(200);
    expect(await right.json()).toMatchObject({ emailVerified: true, passwordKept: true });
    const after = await account(email);
    expect(after.password_hash).toBe(before.password_hash);
    expect(after.session_epoch).toBe(0);
    expect((await postJson("/api/v1/auth/login", { email, password: ATTACKER_PASSWORD })).status).toBe(200);
  });

  it("signing in by code on a verified account keeps its password and sessions", async () => {
    const email = uniqueEmail("verified");
    expect((await postJson("/api/v1/auth/register", { email, password: ATTACKER_PASSWORD, name: "Mine" })).status).toBe(
      201,
    );
    const token = await tokenFromMail(email, "verify-email");
    expect((await postJson("/api/v1/auth/verify-email", { token, password: ATTACKER_PASSWORD })).status).toBe(200);
    const first = await postJson("/api/v1/auth/login", { email, password: ATTACKER_PASSWORD });
    const tokens = (await first.json()) as { accessToken: string };
    await ownerSignsInByCode(email);
    expect((await call("/api/v1/me", { headers: bearer(tokens.accessToken) })).status).toBe(200);
    expect((await postJson("/api/v1/auth/login", { email, password: ATTACKER_PASSWORD })).status).toBe(200);
  });
});
