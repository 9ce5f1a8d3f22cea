/**
 * No account enumeration: register, forgot-password and otp/request answer a known email exactly
 * as they answer an unknown one; only the mailbox of a real account learns anything.
 */
import { describe, expect, it } from "vitest";
import { countRows, rows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { emailIndexOf } from "../../support/users";
import { createUser, mailbox, PASSWORD, postJson, uniqueEmail } from "./helpers";

async function answer(res: Response) {
  return { status: res.status, contentType: res.headers.get("Content-Type"), body: await res.json() };
}

describe("register with an email that already has an account", () => {
  it("answers 201 with the same shape as a new account and reveals nothing about the existing one", async () => {
    const existing = await createUser({ roles: ["attendee", "host"], name: "Original Owner" });
    const fresh = uniqueEmail("fresh");
    const newOne = await answer(
      await postJson("/api/v1/auth/register", { email: fresh, password: "another-long-passphrase", name: "Mallory" }),
    );
    const taken = await answer(
      await postJson("/api/v1/auth/register", {
        email: existing.email,
        password: "another-long-passphrase",
        name: "Mallory",
      }),
    );

    expect(taken.status).toBe(201);
    expect(newOne.status).toBe(201);
    expect(taken.contentType).toBe(newOne.contentType);
    const a = newOne.body as Record<string, unknown>;
    const b = taken.body as Record<string, unknown>;
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    // The existing account is verified and a host; the answer must not say so.
    expect(b).toMatchObject({ email: existing.email, name: "Mallory", emailVerified: false, roles: ["attendee"] });
    expect(a).toMatchObject({ email: fresh, name: "Mallory", emailVerified: false, roles: ["attendee"] });
    expect(b.id).not.toBe(existing.id);
    for (const body of [a, b]) {
      expect(typeof body.id).toBe("string");
      expect(Number.isNaN(Date.parse(String(body.createdAt)))).toBe(false);
    }
  });

  it("mails the owner a register-existing notice, creates no second user and leaves the account alone", async () => {
    const existing = await createUser({ name: "Original Owner" });
    const res = await postJson("/api/v1/auth/register", {
      email: `  ${existing.email.toUpperCase()} `,
      password: "another-long-passphrase",
      name: "Mallory",
    });
    expect(res.status).toBe(201);
    const claimed = ((await res.json()) as { id: string }).id;

    expect(
      await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(existing.email), existing.email),
    ).toBe(1);
    expect(await countRows("users", "id = ?", claimed)).toBe(0);
    expect(await countRows("email_tokens", "user_id IN (?, ?)", claimed, existing.id)).toBe(0);
    const [owner] = await rows<{ name: string }>("SELECT name FROM users WHERE id = ?", existing.id);
    expect(owner?.name).toBe("Original Owner");

    const mails = await mailbox(existing.email);
    expect(mails.map((m) => m.template)).toEqual(["register-existing"]);
    expect(mails[0]?.text).toContain("Original Owner");
    expect((await outboxEmails({ to: existing.email, template: "register-existing" })).length).toBe(1);
    expect(
      await countRows("audit_log", "user_id = ? AND action = 'auth.register' AND outcome = 'denied'", existing.id),
    ).toBe(1);

    // The original password still signs in; the attempted one does not.
    expect((await postJson("/api/v1/auth/login", { email: existing.email, password: PASSWORD })).status).toBe(200);
    const hijack = await postJson("/api/v1/auth/login", {
      email: existing.email,
      password: "another-long-passphrase",
    });
    expect(hijack.status).toBe(401);
  });
});

describe("forgot-password", () => {
  it("answers the same 202 body for a known and an unknown email; only the known one gets a mail", async () => {
    const known = await createUser();
    const unknown = uniqueEmail("ghost");
    const a = await answer(await postJson("/api/v1/auth/forgot-password", { email: known.email }));
    const b = await answer(await postJson("/api/v1/auth/forgot-password", { email: unknown }));
    expect(a.status).toBe(202);
    expect(b).toEqual(a);

    expect((await mailbox(known.email)).map((m) => m.template)).toEqual(["reset-password"]);
    expect(await mailbox(unknown)).toEqual([]);
    expect((await outboxEmails({ to: unknown })).length).toBe(0);
    expect(await countRows("email_tokens", "user_id = ? AND purpose = 'reset-password'", known.id)).toBe(1);
  });
});

describe("otp/request", () => {
  it("answers the same 202 body for a known and an unknown email; only the known one gets a code", async () => {
    const known = await createUser();
    const unknown = uniqueEmail("ghost");
    const a = await answer(await postJson("/api/v1/auth/otp/request", { email: known.email }));
    const b = await answer(await postJson("/api/v1/auth/otp/request", { email: unknown }));
    expect(a.status).toBe(202);
    expect(b).toEqual(a);

    expect((await mailbox(known.email)).map((m) => m.template)).toEqual(["otp-code"]);
    expect(await mailbox(unknown)).toEqual([]);
    expect(await countRows("otp_codes", "email = ?", emailIndexOf(known.email))).toBe(1);
    expect(await countRows("otp_codes", "email = ?", emailIndexOf(unknown))).toBe(0);
  });
});
