/**
 * Password policy at the routes that set a password (register, reset): 8–128 characters, not a
 * common password, not the account's email. A rejected password stores nothing.
 */
import { describe, expect, it } from "vitest";
import { problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { emailIndexOf } from "../../support/users";
import { createUser, mailbox, PASSWORD, postJson, tokensFromMail, uniqueEmail } from "./helpers";

const EIGHT = "zq8#Lk2m";
const SEVEN = EIGHT.slice(0, 7);
const LONG = "Tr0ub4dor&3-horse-".repeat(8); // 144 characters
const MAX = LONG.slice(0, 128);
const OVER = LONG.slice(0, 129);

async function nothingStoredFor(email: string) {
  expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
  expect((await outboxEmails({ to: email })).length).toBe(0);
  expect(await countRows("dev_mailbox", '"to" = ?', email)).toBe(0);
}

describe("register enforces the password policy", () => {
  it.each([
    ["7 characters", () => SEVEN, "too-short"],
    ["129 characters", () => OVER, "too-long"],
    ["a common password", () => "baseball", "common"],
    ["the email address itself", (email: string) => email, "equals-email"],
    ["the email address in other case", (email: string) => email.toUpperCase(), "equals-email"],
  ])("rejects %s with 400 weak-password and stores nothing", async (_name, password, reason) => {
    const email = uniqueEmail("weak");
    const res = await postJson("/api/v1/auth/register", { email, password: password(email), name: "Weak" });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.type).toMatch(/\/weak-password$/);
    expect(problem.reason).toBe(reason);
    await nothingStoredFor(email);
  });

  it.each([
    ["exactly 8 characters", EIGHT],
    ["exactly 128 characters", MAX],
  ])("accepts %s and creates the account", async (_name, password) => {
    const email = uniqueEmail("ok");
    const res = await postJson("/api/v1/auth/register", { email, password, name: "Fine" });
    expect(res.status).toBe(201);
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(1);
    expect((await outboxEmails({ to: email, template: "verify-email" })).length).toBe(1);
  });
});

describe("reset-password enforces the password policy", () => {
  async function resetToken() {
    const user = await createUser();
    expect((await postJson("/api/v1/auth/forgot-password", { email: user.email })).status).toBe(202);
    const [token] = await tokensFromMail(user.email, "reset-password");
    if (!token) throw new Error("no reset token");
    const before = await rows<{ password_hash: string }>("SELECT password_hash FROM users WHERE id = ?", user.id);
    return { ...user, token, hashBefore: before[0]?.password_hash };
  }

  it.each([
    ["7 characters", () => SEVEN, "too-short"],
    ["129 characters", () => OVER, "too-long"],
    ["a common password", () => "baseball", "common"],
    ["the email address itself", (email: string) => email, "equals-email"],
  ])("rejects %s with 400 weak-password without consuming the token", async (_name, password, reason) => {
    const user = await resetToken();
    const res = await postJson("/api/v1/auth/reset-password", { token: user.token, password: password(user.email) });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(codeOf(problem)).toBe("weak-password");
    expect(problem.reason).toBe(reason);

    const [stored] = await rows<{ password_hash: string; session_epoch: number }>(
      "SELECT password_hash, session_epoch FROM users WHERE id = ?",
      user.id,
    );
    expect(stored).toEqual({ password_hash: user.hashBefore, session_epoch: 0 });
    const [token] = await rows<{ used_at: number | null }>(
      "SELECT used_at FROM email_tokens WHERE user_id = ? AND purpose = 'reset-password'",
      user.id,
    );
    expect(token?.used_at).toBeNull();
    expect((await mailbox(user.email)).map((m) => m.template)).not.toContain("password-changed");

    // The token still works for a policy-compliant password.
    const ok = await postJson("/api/v1/auth/reset-password", { token: user.token, password: MAX });
    expect(ok.status).toBe(200);
    const login = await postJson("/api/v1/auth/login", { email: user.email, password: MAX });
    expect(login.status).toBe(200);
  });

  it("accepts exactly 8 characters", async () => {
    const user = await resetToken();
    const res = await postJson("/api/v1/auth/reset-password", { token: user.token, password: EIGHT });
    expect(res.status).toBe(200);
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: EIGHT })).status).toBe(200);
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD })).status).toBe(401);
  });
});
