/**
 * The account pages' less travelled paths: forms sent with fields missing or out of bounds, links
 * that are dead by the time they are used, a `next` that must not be followed, a signed-in person
 * opening the sign-in or sign-up page, and the limits and challenges a page words for a person. Each
 * refusal is a page that says what to do, and changes nothing.
 */
import { describe, expect, it } from "vitest";
import { CHALLENGE_MESSAGE } from "../../src/web/pages/account/shared";
import {
  countRows,
  createUser,
  login,
  mailbox,
  otpFromMail,
  PASSWORD,
  rows,
  tokenFromMail,
  uniqueEmail,
} from "../features/auth/helpers";
import { emailIndexOf } from "../support/users";
import { Browser, type Page, textOf } from "./browser";

const NEW_PASSWORD = "a-brand-new-passphrase";

function expectHtml(page: Page, status: number) {
  expect(page.status).toBe(status);
  expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
}

function fieldError(html: string, name: string): string | null {
  const match = new RegExp(`<p class="field-error" id="f-${name}-error">([^<]*)</p>`).exec(html);
  return match ? textOf(match[1] as string) : null;
}

async function passwordHash(email: string): Promise<string | null> {
  const [row] = await rows<{ password_hash: string | null }>(
    "SELECT password_hash FROM users WHERE (email_index = ? OR email = ?)",
    emailIndexOf(email),
    email,
  );
  return row?.password_hash ?? null;
}

async function signedInBrowser(email: string): Promise<Browser> {
  const tokens = await login(email, PASSWORD);
  const browser = new Browser();
  browser.cookies.set("__Host-access", tokens.accessToken);
  browser.cookies.set("__Host-refresh", tokens.refreshToken);
  return browser;
}

/** A browser that has asked for a reset link for `email`, and the link's token. */
async function resetToken(email: string): Promise<{ browser: Browser; token: string }> {
  const browser = new Browser();
  await browser.get("/forgot-password");
  expect((await browser.submit("/forgot-password", { email })).status).toBe(303);
  return { browser, token: await tokenFromMail(email, "reset-password") };
}

describe("the forgot-password form", () => {
  it("a missing or malformed address is a 400 with the message next to the field, and no email goes out", async () => {
    const browser = new Browser();
    await browser.get("/forgot-password");
    const missing = await browser.submit("/forgot-password", {});
    expectHtml(missing, 400);
    expect(fieldError(missing.html, "email")).toBe("Enter your email address.");

    const malformed = await browser.submit("/forgot-password", { email: "not-an-address" });
    expectHtml(malformed, 400);
    expect(fieldError(malformed.html, "email")).toBe("Enter an email address like name@example.com.");
    expect(malformed.html).toMatch(/<input[^>]*name="email"[^>]*value="not-an-address"/);
    expect(malformed.html).toMatch(/<input[^>]*name="email"[^>]*aria-invalid="true"/);

    const tooLong = `${"a".repeat(250)}@example.com`;
    const long = await browser.submit("/forgot-password", { email: tooLong });
    expectHtml(long, 400);
    expect(fieldError(long.html, "email")).toBe("Use at most 254 characters.");
    expect(await mailbox(tooLong)).toEqual([]);
  });
});

describe("the reset-password page", () => {
  it("a link without a token, or with one longer than any we issue, is the dead-link page on GET and on POST", async () => {
    const browser = new Browser();
    for (const path of ["/reset-password", `/reset-password?token=${"x".repeat(513)}`]) {
      const page = await browser.get(path);
      expectHtml(page, 400);
      expect(textOf(page.html)).toContain("This link is invalid or has expired");
      expect(page.html).toContain('href="/forgot-password"');
    }
    await browser.get("/forgot-password");
    const noToken = await browser.submit("/reset-password", { password: NEW_PASSWORD });
    expectHtml(noToken, 400);
    expect(textOf(noToken.html)).toContain("This link is invalid or has expired");
    const longToken = await browser.submit("/reset-password", { token: "x".repeat(513), password: NEW_PASSWORD });
    expectHtml(longToken, 400);
    expect(textOf(longToken.html)).toContain("This link is invalid or has expired");
  });

  it("an empty or overlong new password is refused next to the field; the link still works afterwards", async () => {
    const user = await createUser();
    const before = await passwordHash(user.email);
    const { browser, token } = await resetToken(user.email);
    expectHtml(await browser.get(`/reset-password?token=${encodeURIComponent(token)}`), 200);

    const empty = await browser.submit("/reset-password", { token, username: user.email });
    expectHtml(empty, 400);
    expect(fieldError(empty.html, "password")).toBe("Enter your new password.");
    // The form keeps the token and the account's address for the next try.
    expect(empty.html).toMatch(new RegExp(`<input[^>]*name="token"[^>]*value="${token}"`));
    expect(empty.html).toMatch(new RegExp(`<input[^>]*name="username"[^>]*value="${user.email}"`));

    const overlong = await browser.submit("/reset-password", { token, password: "p".repeat(1025) });
    expectHtml(overlong, 400);
    expect(fieldError(overlong.html, "password")).toBe("Use at most 1024 characters.");
    expect(await passwordHash(user.email)).toBe(before);

    const done = await browser.submit("/reset-password", { token, password: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe("/login?reset=1");
    expect(await passwordHash(user.email)).not.toBe(before);
  });

  it("a used link is dead: GET shows the dead-link page, and a POST with it changes nothing", async () => {
    const user = await createUser();
    const { browser, token } = await resetToken(user.email);
    await browser.get(`/reset-password?token=${encodeURIComponent(token)}`);
    expect((await browser.submit("/reset-password", { token, password: NEW_PASSWORD })).status).toBe(303);
    const changed = await passwordHash(user.email);

    const again = await browser.get(`/reset-password?token=${encodeURIComponent(token)}`);
    expectHtml(again, 400);
    expect(textOf(again.html)).toContain("This link is invalid or has expired");
    expect(again.html).not.toContain('name="password"');

    // A form left open in another tab, sent after the link was used.
    const stale = await browser.submit("/reset-password", { token, password: "yet-another-passphrase" });
    expectHtml(stale, 400);
    expect(textOf(stale.html)).toContain("This link is invalid or has expired");
    expect(await passwordHash(user.email)).toBe(changed);
  });

  it("only the newest link works: an older one is dead once a new one is asked for", async () => {
    const user = await createUser();
    const first = await resetToken(user.email);
    const second = await resetToken(user.email);
    expect(second.token).not.toBe(first.token);
    const old = await first.browser.get(`/reset-password?token=${encodeURIComponent(first.token)}`);
    expectHtml(old, 400);
    const fresh = await second.browser.get(`/reset-password?token=${encodeURIComponent(second.token)}`);
    expectHtml(fresh, 200);
    expect(textOf(fresh.html)).toContain("Choose a new password");
  });
});

describe("the sign-in forms with fields missing or malformed", () => {
  it("a password sign-in without an address or password is a 400 naming each field, and opens no session", async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/login");
    const empty = await browser.submit("/login", { step: "password" });
    expectHtml(empty, 400);
    expect(fieldError(empty.html, "email")).toBe("Enter your email address.");
    expect(fieldError(empty.html, "password")).toBe("Enter your password.");

    const malformed = await browser.submit("/login", { step: "password", email: "nobody-at-example", password: "x" });
    expectHtml(malformed, 400);
    expect(fieldError(malformed.html, "email")).toBe("Enter an email address like name@example.com.");
    expect(fieldError(malformed.html, "password")).toBeNull();
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("asking for a code without a valid address re-renders the code form with the message; no code is sent", async () => {
    const browser = new Browser();
    await browser.get("/login?mode=code");
    const missing = await browser.submit("/login", { step: "request-code", next: "/e/kept" });
    expectHtml(missing, 400);
    expect(textOf(missing.html)).toContain("Sign in with an emailed code");
    expect(fieldError(missing.html, "email")).toBe("Enter your email address.");
    expect(missing.html).toMatch(/<input[^>]*name="next"[^>]*value="\/e\/kept"/);

    const malformed = await browser.submit("/login", { step: "request-code", email: "half@" });
    expectHtml(malformed, 400);
    expect(fieldError(malformed.html, "email")).toBe("Enter an email address like name@example.com.");
    expect(await mailbox("half@")).toEqual([]);
  });

  it("a code sent with a broken address goes back to the address form, not the code form", async () => {
    const browser = new Browser();
    await browser.get("/login?mode=code");
    const res = await browser.submit("/login", { step: "code", email: "broken", code: "123456" });
    expectHtml(res, 400);
    expect(fieldError(res.html, "email")).toBe("Enter an email address like name@example.com.");
    expect(res.html).toMatch(/<input type="hidden" name="step" value="request-code"/);
    expect(res.html).not.toContain('name="code"');

    const noEmail = await browser.submit("/login", { step: "code", code: "123456" });
    expectHtml(noEmail, 400);
    expect(fieldError(noEmail.html, "email")).toBe("Enter your email address.");

    const noCode = await browser.submit("/login", { step: "code", email: uniqueEmail("nocode") });
    expectHtml(noCode, 400);
    expect(fieldError(noCode.html, "code")).toBe("Enter your 6-digit code.");
  });
});

describe("where a sign-in goes next", () => {
  it("follows a local path with its query and refuses absolute, protocol-relative and script targets", async () => {
    const user = await createUser();
    const cases: [string, string][] = [
      ["/e/some-event?ticket=2", "/e/some-event?ticket=2"],
      ["//evil.example/steal", "/me/tickets"],
      ["https://evil.example/phish", "/me/tickets"],
      ["/\\evil.example", "/me/tickets"],
      ["javascript:alert(1)", "/me/tickets"],
    ];
    for (const [next, expected] of cases) {
      const browser = new Browser();
      await browser.get("/login");
      const res = await browser.submit("/login", { step: "password", email: user.email, password: PASSWORD, next });
      expect(res.status, next).toBe(303);
      expect(res.location, next).toBe(expected);
    }
  });

  it("a signed-in person opening /login or /register goes straight on, to a safe next only", async () => {
    const user = await createUser();
    const browser = await signedInBrowser(user.email);
    const toEvent = await browser.get("/login?next=%2Fe%2Fan-event");
    expect(toEvent.status).toBe(303);
    expect(toEvent.location).toBe("/e/an-event");
    const unsafe = await browser.get("/login?next=https%3A%2F%2Fevil.example%2F");
    expect(unsafe.location).toBe("/me/tickets");

    const register = await browser.get("/register?next=%2Fe%2Fan-event");
    expect(register.status).toBe(303);
    expect(register.location).toBe("/e/an-event");
    const registerUnsafe = await browser.get("/register?next=%2F%2Fevil.example");
    expect(registerUnsafe.location).toBe("/me/tickets");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(user.email), user.email)).toBe(1);
  });
});

describe("the sign-up form with fields missing or out of bounds", () => {
  it("a form with no fields names all three; an overlong name is refused with its bound; nothing is stored", async () => {
    const browser = new Browser();
    await browser.get("/register");
    const empty = await browser.submit("/register", {});
    expectHtml(empty, 400);
    expect(fieldError(empty.html, "name")).toBe("Enter your name.");
    expect(fieldError(empty.html, "email")).toBe("Enter your email address.");
    expect(fieldError(empty.html, "password")).toBe("Enter your password.");

    const email = uniqueEmail("web-longname");
    const long = await browser.submit("/register", { name: "N".repeat(101), email, password: PASSWORD });
    expectHtml(long, 400);
    expect(fieldError(long.html, "name")).toBe("Use at most 100 characters.");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
  });

  it("after repeated failed sign-ins from the network, sign-up explains the challenge and creates no account", async () => {
    const victim = await createUser();
    const browser = new Browser();
    await browser.get("/login");
    for (let i = 0; i < 3; i++) {
      const res = await browser.submit("/login", { step: "password", email: victim.email, password: `nope-${i}-nope` });
      expect(res.status).toBe(401);
    }
    await browser.get("/register");
    const email = uniqueEmail("web-challenged");
    const res = await browser.submit("/register", { name: "Challenged", email, password: PASSWORD });
    expectHtml(res, 403);
    expect(textOf(res.html)).toContain(CHALLENGE_MESSAGE);
    expect(res.html).toMatch(new RegExp(`<input[^>]*name="email"[^>]*value="${email}"`));
    expect(res.html).not.toContain(PASSWORD);
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
  });
});

describe("the emailed confirmation link", () => {
  async function signUp(email: string, next?: string): Promise<{ browser: Browser; token: string }> {
    const browser = new Browser();
    await browser.get("/register");
    const fields: Record<string, string> = { name: "Confirm Me", email, password: PASSWORD };
    if (next) fields.next = next;
    expect((await browser.submit("/register", fields)).status).toBe(303);
    return { browser, token: await tokenFromMail(email, "verify-email") };
  }

  it("confirmed with the password and no next: on to sign-in, which says the address is confirmed", async () => {
    const email = uniqueEmail("web-confirm-plain");
    const { browser, token } = await signUp(email);
    await browser.get(`/verify-email?token=${encodeURIComponent(token)}`);
    const res = await browser.submit("/verify-email", { token, password: PASSWORD });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/login?verified=1");
    const page = await browser.get(res.location as string);
    expect(textOf(page.html)).toContain("Your email address is confirmed. Sign in to continue.");
    expect(await passwordHash(email)).not.toBeNull();
  });

  it("confirmed without the password keeps a safe next on the code sign-in; an unsafe next is dropped", async () => {
    const email = uniqueEmail("web-confirm-next");
    const { browser, token } = await signUp(email, "/e/after-confirm");
    await browser.get(`/verify-email?token=${encodeURIComponent(token)}&next=%2Fe%2Fafter-confirm`);
    const res = await browser.submit("/verify-email", { token, without_password: "1", next: "/e/after-confirm" });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/login?mode=code&verified=code&next=%2Fe%2Fafter-confirm");

    const other = uniqueEmail("web-confirm-evil");
    const second = await signUp(other);
    await second.browser.get(`/verify-email?token=${encodeURIComponent(second.token)}`);
    const evil = await second.browser.submit("/verify-email", {
      token: second.token,
      without_password: "1",
      next: "https://evil.example/",
    });
    expect(evil.status).toBe(303);
    expect(evil.location).toBe("/login?mode=code&verified=code");
  });

  it("a form sent without a token, or with an unknown option, is the dead-link page and confirms nothing", async () => {
    const email = uniqueEmail("web-confirm-bad");
    const { browser, token } = await signUp(email);
    await browser.get(`/verify-email?token=${encodeURIComponent(token)}`);
    const noToken = await browser.submit("/verify-email", { password: PASSWORD });
    expectHtml(noToken, 400);
    expect(textOf(noToken.html)).toContain("This link is invalid or has expired");
    const odd = await browser.submit("/verify-email", { token, without_password: "yes" });
    expectHtml(odd, 400);
    const [row] = await rows<{ email_verified_at: number | null }>(
      "SELECT email_verified_at FROM users WHERE (email_index = ? OR email = ?)",
      emailIndexOf(email),
      email,
    );
    expect(row?.email_verified_at).toBeNull();
    // The link itself still works.
    expect((await browser.submit("/verify-email", { token, password: PASSWORD })).status).toBe(303);
  });
});

describe("code sign-in under pressure", () => {
  it("wrong codes from one network across many addresses hit the per-address limit: a 429 page with Retry-After", async () => {
    const browser = new Browser();
    await browser.get("/login?mode=code");
    const users = await Promise.all([createUser(), createUser(), createUser()]);
    let tries = 0;
    for (const user of users) {
      for (let i = 0; i < 4 && tries < 10; i++, tries++) {
        const res = await browser.submit("/login", { step: "code", email: user.email, code: "000000" });
        expect(res.status).toBe(401);
      }
    }
    const target = await createUser();
    await browser.submit("/login", { step: "request-code", email: target.email });
    const code = await otpFromMail(target.email);
    const limited = await browser.submit("/login", { step: "code", email: target.email, code });
    expectHtml(limited, 429);
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(textOf(limited.html)).toContain("Slow down a little");
    expect(textOf(limited.html)).toMatch(/Try again in about \d+ seconds/);
    expect(await countRows("sessions", "user_id = ?", target.id)).toBe(0);
    // Another network is not held back by this one's failures.
    const elsewhere = new Browser();
    await elsewhere.get("/login?mode=code");
    const ok = await elsewhere.submit("/login", { step: "code", email: target.email, code });
    expect(ok.status).toBe(303);
  });
});
