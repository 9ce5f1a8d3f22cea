import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, freshIp, problemOf } from "../../helpers";
import { outboxEmails } from "../../support/outbox";
import { emailIndexOf } from "../../support/users";
import {
  bearer,
  createUser,
  login,
  mailbox,
  otpFromMail,
  PASSWORD,
  postJson,
  tokenFromMail,
  uniqueEmail,
} from "./helpers";

describe("register → verify → host → sign out (the README walk-through)", () => {
  it("works end to end through the public routes", async () => {
    const email = uniqueEmail("walk");
    const reg = await postJson("/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    expect(reg.status).toBe(201);
    const created = (await reg.json()) as { id: string; emailVerified: boolean; roles: string[] };
    expect(created).toMatchObject({ email, name: "Ada", emailVerified: false, roles: ["attendee"] });

    const stored = await env.DB.prepare("SELECT id, email_verified_at, password_hash FROM users WHERE email_index = ?")
      .bind(emailIndexOf(email))
      .first<{ id: string; email_verified_at: number | null; password_hash: string }>();
    expect(stored?.id).toBe(created.id);
    expect(stored?.email_verified_at).toBeNull();
    expect(stored?.password_hash).toMatch(/^scrypt\$ln=10,r=8,p=1\$/);
    const outbox = {
      results: (await outboxEmails({ to: email })).map(({ template, status }) => ({ template, status })),
    };
    // Handed to the delivery queue at once; the local consumer may already have sent it.
    expect(outbox.results).toEqual([
      { template: "verify-email", status: expect.stringMatching(/^(queued|sending|sent)$/) },
    ]);

    // Not usable before the address is confirmed, even with the right password.
    const early = await postJson("/api/v1/auth/login", { email, password: PASSWORD });
    expect(early.status).toBe(403);
    expect((await problemOf(early)).type).toMatch(/email-not-verified$/);

    const token = await tokenFromMail(email, "verify-email");
    const verify = await postJson("/api/v1/auth/verify-email", { token, password: PASSWORD });
    expect(verify.status).toBe(200);
    expect(await verify.json()).toMatchObject({ id: created.id, emailVerified: true, passwordKept: true });

    const tokens = await login(email);
    const host = await call("/api/v1/me/host", { method: "POST", headers: bearer(tokens.accessToken) });
    expect(host.status).toBe(200);
    expect(((await host.json()) as { roles: string[] }).roles).toEqual(["attendee", "host"]);

    const me = await call("/api/v1/me", { headers: bearer(tokens.accessToken) });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: created.id, email, emailVerified: true, roles: ["attendee", "host"] });

    const out = await call("/api/v1/auth/logout", { method: "POST", headers: bearer(tokens.accessToken) });
    expect(out.status).toBe(204);
    expect((await call("/api/v1/me", { headers: bearer(tokens.accessToken) })).status).toBe(401);
    const refreshed = await postJson("/api/v1/auth/refresh", { refreshToken: tokens.refreshToken });
    expect(refreshed.status).toBe(401);
  });

  it("signs in by emailed code", async () => {
    const { email } = await createUser({ verified: false });
    const ip = freshIp();
    expect((await postJson("/api/v1/auth/otp/request", { email }, { ip })).status).toBe(202);
    const code = await otpFromMail(email);
    const res = await postJson("/api/v1/auth/otp/verify", { email, code }, { ip });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; user: { emailVerified: boolean } };
    expect(body.user.emailVerified).toBe(true);
    expect((await call("/api/v1/me", { headers: bearer(body.accessToken) })).status).toBe(200);
    // Single use.
    const again = await postJson("/api/v1/auth/otp/verify", { email, code }, { ip });
    expect(again.status).toBe(401);
  });

  it("resets a password and revokes every session and access token at once", async () => {
    const { email, id } = await createUser();
    const a = await login(email);
    const b = await login(email);
    expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
    const token = await tokenFromMail(email, "reset-password");
    const res = await postJson("/api/v1/auth/reset-password", { token, password: "a-brand-new-passphrase" });
    expect(res.status).toBe(200);
    for (const t of [a, b]) {
      expect((await call("/api/v1/me", { headers: bearer(t.accessToken) })).status).toBe(401);
      expect((await postJson("/api/v1/auth/refresh", { refreshToken: t.refreshToken })).status).toBe(401);
    }
    const sessions = await env.DB.prepare("SELECT revoke_reason FROM sessions WHERE user_id = ?").bind(id).all();
    expect(sessions.results.map((s) => s.revoke_reason)).toEqual(["password-reset", "password-reset"]);
    expect((await mailbox(email)).map((m) => m.template)).toContain("password-changed");
    await login(email, "a-brand-new-passphrase");
    const old = await postJson("/api/v1/auth/login", { email, password: PASSWORD });
    expect(old.status).toBe(401);
  });
});
