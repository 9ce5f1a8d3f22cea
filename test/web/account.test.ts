/**
 * The account pages as a browser uses them: sign-up through the emailed confirmation page to a
 * signed-in 303, sign-in by password and by emailed code, a forgotten password reset from the emailed
 * link, and what each refusal looks like (a page with the message next to its field, never problem
 * JSON). Every form needs the page's CSRF token and takes the API route's rate limit. Each page keeps
 * the budget (≤ 50 KB with its CSS and JS) and the basics of accessibility.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LOCAL_ORIGIN, linkOrigin } from "../../durable-objects/event-inventory/projection";
import { type EmailTemplate, renderEmail } from "../../src/features/email/templates";
import { CHALLENGE_MESSAGE } from "../../src/web/pages/account/shared";
import {
  bearer,
  countRows,
  createUser,
  login,
  mailbox,
  mailOf,
  otpFromMail,
  PASSWORD,
  rows,
  tokenFromMail,
  uniqueEmail,
} from "../features/auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "../features/events/helpers";
import { call } from "../helpers";
import { emailIndexOf } from "../support/users";
import { Browser, type Page, textOf } from "./browser";

const NEW_PASSWORD = "a-brand-new-passphrase";

async function userRow(email: string) {
  const [row] = await rows<{ id: string; email_verified_at: number | null; password_hash: string | null }>(
    "SELECT id, email_verified_at, password_hash FROM users WHERE (email_index = ? OR email = ?)",
    emailIndexOf(email),
    email,
  );
  return row;
}

/** The signed-in user behind the browser's cookies, as the API sees them (null when signed out). */
async function whoAmI(browser: Browser): Promise<string | null> {
  const me = await browser.request("/api/v1/me", { headers: { Accept: "application/json" } });
  return me.status === 200 ? (JSON.parse(me.html) as { email: string }).email : null;
}

/** The path and query of the first link in the newest `template` email to `to`. */
async function linkFromMail(to: string, template: string): Promise<string> {
  const href = (await mailOf(to, template)).text.match(/https?:\/\/\S+/)?.[0] ?? "";
  const url = new URL(href);
  return `${url.pathname}${url.search}`;
}

function expectHtml(page: Page, status: number) {
  expect(page.status).toBe(status);
  expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
}

/** The field's error as the page shows it next to the input (Field: `f-<name>-error`). */
function fieldError(html: string, name: string): string | null {
  const match = new RegExp(`<p class="field-error" id="f-${name}-error">([^<]*)</p>`).exec(html);
  return match ? textOf(match[1] as string) : null;
}

function inputValue(html: string, name: string): string | null {
  const tag = new RegExp(`<input[^>]*name="${name}"[^>]*>`).exec(html)?.[0];
  if (!tag) return null;
  return /value="([^"]*)"/.exec(tag)?.[1] ?? "";
}

describe("signing up", () => {
  it("register → the emailed link's page → confirm with the password → sign in with the form → cookies and a 303 to next", async () => {
    const browser = new Browser();
    const email = uniqueEmail("web-signup");
    expectHtml(await browser.get("/register?next=%2Fe%2Fsome-event"), 200);
    const registered = await browser.submit("/register", {
      name: "Ada Web",
      email,
      password: PASSWORD,
      next: "/e/some-event",
    });
    expect(registered.status).toBe(303);
    expect(registered.location).toBe("/register?sent=1");
    expect(textOf((await browser.get(registered.location as string)).html)).toContain("Check your email");

    // The emailed link opens the confirmation page on this origin; opening it confirms nothing.
    const link = await linkFromMail(email, "verify-email");
    expect(link).toMatch(/^\/verify-email\?token=/);
    const confirm = await browser.get(link);
    expectHtml(confirm, 200);
    expect(inputValue(confirm.html, "next")).toBe("/e/some-event");
    expect((await userRow(email))?.email_verified_at).toBeNull();

    const token = new URL(link, "https://x").searchParams.get("token") as string;
    const confirmed = await browser.submit("/verify-email", { token, password: PASSWORD, next: "/e/some-event" });
    expect(confirmed.status).toBe(303);
    expect(confirmed.location).toBe("/e/some-event");
    const verified = await userRow(email);
    expect(verified?.email_verified_at).not.toBeNull();
    expect(verified?.password_hash).not.toBeNull();
    expect(await whoAmI(browser)).toBeNull();

    // Signing in: the page opens, the form posts back, the session cookies come with a 303 to next.
    const form = await browser.get("/login?next=%2Fe%2Fsome-event");
    expectHtml(form, 200);
    expect(inputValue(form.html, "next")).toBe("/e/some-event");
    const signedIn = await browser.submit("/login", {
      step: "password",
      email,
      password: PASSWORD,
      next: "/e/some-event",
    });
    expect(signedIn.status).toBe(303);
    expect(signedIn.location).toBe("/e/some-event");
    const cookies = signedIn.headers.getSetCookie().join("\n");
    expect(cookies).toMatch(/__Host-access=[^;]+;.*HttpOnly/);
    expect(cookies).toMatch(/__Host-refresh=[^;]+;.*HttpOnly/);
    expect(await whoAmI(browser)).toBe(email);
    // Signed in, /login goes straight on.
    const again = await browser.get("/login");
    expect(again.status).toBe(303);
    expect(again.location).toBe("/me/tickets");
  });

  it("an address that already has an account gets the same answer, and its owner an email instead", async () => {
    const owner = await createUser({ name: "Owner" });
    const browser = new Browser();
    await browser.get("/register");
    const res = await browser.submit("/register", { name: "Someone", email: owner.email, password: NEW_PASSWORD });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/register?sent=1");
    const notice = await mailOf(owner.email, "register-existing");
    expect(notice.text).toContain("https://gatehouse.test/login");
    expect(notice.text).toContain("https://gatehouse.test/forgot-password");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(owner.email), owner.email)).toBe(1);
  });

  it("shows each problem next to its field, keeps what was typed except the password, and stores nothing", async () => {
    const browser = new Browser();
    await browser.get("/register");
    const email = uniqueEmail("web-weak");
    const invalid = await browser.submit("/register", { name: "", email: "not-an-email", password: "secret-typed" });
    expectHtml(invalid, 400);
    expect(fieldError(invalid.html, "name")).toBe("Enter your name.");
    expect(fieldError(invalid.html, "email")).toBe("Enter an email address like name@example.com.");
    expect(inputValue(invalid.html, "email")).toBe("not-an-email");
    expect(invalid.html).not.toContain("secret-typed");
    expect(invalid.html).toContain('aria-invalid="true"');

    const weak = await browser.submit("/register", { name: "Weak Person", email, password: "short" });
    expectHtml(weak, 400);
    expect(fieldError(weak.html, "password")).toBe("Use at least 8 characters.");
    expect(inputValue(weak.html, "name")).toBe("Weak Person");
    expect(inputValue(weak.html, "email")).toBe(email);
    expect(inputValue(weak.html, "password")).toBe("");
    const common = await browser.submit("/register", { name: "Weak Person", email, password: "password123" });
    expect(fieldError(common.html, "password")).toBe("This password is too common; choose another.");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
    expect(await mailbox(email)).toEqual([]);
  });

  it("confirming without the password verifies the address, drops the sign-up password and opens the code sign-in", async () => {
    const browser = new Browser();
    const email = uniqueEmail("web-nopw");
    await browser.get("/register");
    await browser.submit("/register", { name: "No Password", email, password: PASSWORD });
    const link = await linkFromMail(email, "verify-email");
    const token = new URL(link, "https://x").searchParams.get("token") as string;
    await browser.get(link);

    const wrong = await browser.submit("/verify-email", { token, password: "not-the-password" });
    expectHtml(wrong, 401);
    expect(textOf(wrong.html)).toContain("That is not the password chosen at sign-up");
    expect((await userRow(email))?.email_verified_at).toBeNull();
    const empty = await browser.submit("/verify-email", { token, password: "" });
    expectHtml(empty, 400);
    expect(textOf(empty.html)).toContain("Enter your password.");

    const res = await browser.submit("/verify-email", { token, without_password: "1" });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/login?mode=code&verified=code");
    const row = await userRow(email);
    expect(row?.email_verified_at).not.toBeNull();
    expect(row?.password_hash).toBeNull();
    expect(textOf((await browser.get(res.location as string)).html)).toContain("Your email address is confirmed");

    const reused = await browser.submit("/verify-email", { token, without_password: "1" });
    expectHtml(reused, 400);
    expect(textOf(reused.html)).toContain("This link is invalid or has expired");
  });
});

describe("signing in with a password", () => {
  it("a wrong password or an unknown address is a 401 page with one generic message; the email stays typed", async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/login");
    const wrong = await browser.submit("/login", { step: "password", email: user.email, password: "wrong-password" });
    expectHtml(wrong, 401);
    expect(textOf(wrong.html)).toContain("Email or password is incorrect.");
    expect(inputValue(wrong.html, "email")).toBe(user.email);
    expect(wrong.html).not.toContain("wrong-password");
    expect(wrong.headers.getSetCookie().join()).not.toContain("__Host-access");

    const unknown = await browser.submit("/login", {
      step: "password",
      email: uniqueEmail("nobody"),
      password: "wrong-password",
    });
    expectHtml(unknown, 401);
    expect(textOf(unknown.html)).toBe(textOf(wrong.html));
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("an unverified account's right password explains how to confirm the address; no session", async () => {
    const user = await createUser({ verified: false });
    const browser = new Browser();
    await browser.get("/login");
    const res = await browser.submit("/login", { step: "password", email: user.email, password: PASSWORD });
    expectHtml(res, 403);
    const text = textOf(res.html);
    expect(text).toContain("Confirm your email address first");
    expect(text).toContain("Sign in with an emailed code instead: it confirms your address too.");
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("after repeated failures the Turnstile challenge is explained on the page (no widget), and no password is checked", async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/login");
    for (let i = 0; i < 3; i++) {
      const res = await browser.submit("/login", { step: "password", email: user.email, password: `wrong-${i}-pass` });
      expect(res.status).toBe(401);
    }
    const challenged = await browser.submit("/login", { step: "password", email: user.email, password: PASSWORD });
    expectHtml(challenged, 403);
    expect(textOf(challenged.html)).toContain(CHALLENGE_MESSAGE);
    expect(challenged.html).not.toContain("challenges.cloudflare.com");
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("an unsafe next is not followed: the sign-in goes to /me/tickets", async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/login");
    const res = await browser.submit("/login", {
      step: "password",
      email: user.email,
      password: PASSWORD,
      next: "//evil.example/steal",
    });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/me/tickets");
  });

  it("explains a sign-out for inactivity and a sign-out by choice", async () => {
    const browser = new Browser();
    const expired = await browser.get("/login?expired=1&next=%2Fme%2Ftickets");
    expect(textOf(expired.html)).toContain("You were signed out after 30 minutes without activity");
    expect(inputValue(expired.html, "next")).toBe("/me/tickets");
    expect(textOf((await browser.get("/login?signedOut=1")).html)).toContain("You are signed out.");
    expect(textOf((await browser.get("/login")).html)).not.toContain("signed out");
  });
});

describe("signing in with an emailed code", () => {
  it("request a code → the code page → the mailed code signs in with a 303 to next; a wrong code is a generic 401", async () => {
    const user = await createUser();
    const browser = new Browser();
    const start = await browser.get("/login?mode=code&next=%2Fe%2Fevent-7");
    expectHtml(start, 200);
    const sent = await browser.submit("/login", { step: "request-code", email: user.email, next: "/e/event-7" });
    expectHtml(sent, 200);
    expect(sent.html).toMatch(/<input[^>]*name="code"[^>]*autocomplete="one-time-code"/);
    expect(sent.html).toMatch(/<input[^>]*name="code"[^>]*inputmode="numeric"/);
    expect(inputValue(sent.html, "email")).toBe(user.email);
    const code = await otpFromMail(user.email);

    const wrongCode = code === "000000" ? "111111" : "000000";
    const wrong = await browser.submit("/login", {
      step: "code",
      email: user.email,
      code: wrongCode,
      next: "/e/event-7",
    });
    expectHtml(wrong, 401);
    expect(fieldError(wrong.html, "code")).toContain("That code is incorrect or has expired.");
    const malformed = await browser.submit("/login", { step: "code", email: user.email, code: "12ab" });
    expectHtml(malformed, 400);
    expect(fieldError(malformed.html, "code")).toBe("Check your 6-digit code.");

    const res = await browser.submit("/login", { step: "code", email: user.email, code, next: "/e/event-7" });
    expect(res.status).toBe(303);
    expect(res.location).toBe("/e/event-7");
    expect(await whoAmI(browser)).toBe(user.email);
    // Single use: the same code again is refused.
    const other = new Browser();
    await other.get("/login?mode=code");
    const reused = await other.submit("/login", { step: "code", email: user.email, code });
    expect(reused.status).toBe(401);
  });

  it("five wrong codes lock code sign-in for the address: then even the right code is a 429 page with Retry-After", async () => {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/login?mode=code");
    await browser.submit("/login", { step: "request-code", email: user.email });
    const code = await otpFromMail(user.email);
    const wrongCode = code === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) {
      expect((await browser.submit("/login", { step: "code", email: user.email, code: wrongCode })).status).toBe(401);
    }
    const locked = await browser.submit("/login", { step: "code", email: user.email, code });
    expectHtml(locked, 429);
    expect(Number(locked.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(textOf(locked.html)).toContain("code sign-in is paused");
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
  });

  it("an unknown address gets the same code page and no email", async () => {
    const email = uniqueEmail("no-account");
    const browser = new Browser();
    await browser.get("/login?mode=code");
    const res = await browser.submit("/login", { step: "request-code", email });
    expectHtml(res, 200);
    expect(textOf(res.html)).toContain(`If ${email} has an account, a 6-digit code is on its way.`);
    expect(await mailbox(email)).toEqual([]);
  });

  it("signing in by code confirms an unverified address", async () => {
    const user = await createUser({ verified: false });
    const browser = new Browser();
    await browser.get("/login?mode=code");
    await browser.submit("/login", { step: "request-code", email: user.email });
    const code = await otpFromMail(user.email);
    const res = await browser.submit("/login", { step: "code", email: user.email, code });
    expect(res.status).toBe(303);
    expect((await userRow(user.email))?.email_verified_at).not.toBeNull();
  });
});

describe("a forgotten password", () => {
  it("forgot → the same answer for any address → the emailed link → a new password; old sessions die, the new password works", async () => {
    const user = await createUser();
    const before = await login(user.email);
    const browser = new Browser();
    expectHtml(await browser.get("/forgot-password"), 200);
    const asked = await browser.submit("/forgot-password", { email: user.email });
    expect(asked.status).toBe(303);
    expect(asked.location).toBe("/forgot-password?sent=1");
    expect(textOf((await browser.get("/forgot-password?sent=1")).html)).toContain(
      "If an account exists for that address, an email with a link to choose a new password is on its way.",
    );
    const stranger = new Browser();
    await stranger.get("/forgot-password");
    const unknown = await stranger.submit("/forgot-password", { email: uniqueEmail("nobody") });
    expect(unknown.status).toBe(303);
    expect(unknown.location).toBe("/forgot-password?sent=1");

    const link = await linkFromMail(user.email, "reset-password");
    expect(link).toMatch(/^\/reset-password\?token=/);
    const token = await tokenFromMail(user.email, "reset-password");
    const form = await browser.get(link);
    expectHtml(form, 200);
    expect(inputValue(form.html, "token")).toBe(token);

    const weak = await browser.submit("/reset-password", { token, password: "short" });
    expectHtml(weak, 400);
    expect(fieldError(weak.html, "password")).toBe("Use at least 8 characters.");
    expect(inputValue(weak.html, "token")).toBe(token);

    const done = await browser.submit("/reset-password", { token, password: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe("/login?reset=1");
    expect(textOf((await browser.get("/login?reset=1")).html)).toContain("Your password was changed");

    // Every earlier session is gone: its access token at once, its refresh token too.
    expect((await call("/api/v1/me", { headers: bearer(before.accessToken) })).status).toBe(401);
    expect(await countRows("sessions", "user_id = ? AND revoked_at IS NULL", user.id)).toBe(0);
    const signIn = await browser.submit("/login", { step: "password", email: user.email, password: NEW_PASSWORD });
    expect(signIn.status).toBe(303);
    const old = await browser.submit("/login", { step: "password", email: user.email, password: PASSWORD });
    expect(old.status).toBe(401);

    // The link worked once.
    const reused = await new Browser().get(link);
    expectHtml(reused, 400);
    expect(textOf(reused.html)).toContain("This link is invalid or has expired");
    expect(reused.html).toContain('href="/forgot-password"');
  });

  it("a made-up reset link is a friendly page that offers a new one", async () => {
    const page = await new Browser().get("/reset-password?token=made-up");
    expectHtml(page, 400);
    expect(textOf(page.html)).toContain("Ask for a new link");
    expectHtml(await new Browser().get("/reset-password"), 400);
  });
});

describe("every form needs the page's CSRF token", () => {
  it("without it each form answers a 403 page and changes nothing", async () => {
    const user = await createUser();
    const unverified = await createUser({ verified: false });
    const browser = new Browser();
    await browser.get("/login");

    const email = uniqueEmail("web-csrf");
    const register = await browser.submit("/register", { name: "X", email, password: PASSWORD }, { csrf: null });
    expectHtml(register, 403);
    expect(textOf(register.html)).toContain("Not allowed");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);

    const signIn = await browser.submit(
      "/login",
      { step: "password", email: user.email, password: PASSWORD },
      { csrf: null },
    );
    expectHtml(signIn, 403);
    expect(browser.cookies.has("__Host-access")).toBe(false);
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);

    const forgot = await browser.submit("/forgot-password", { email: user.email }, { csrf: "forged.token" });
    expectHtml(forgot, 403);

    // A real, unused reset token: posted without the CSRF token it stays unused.
    await browser.get("/forgot-password");
    await browser.submit("/forgot-password", { email: unverified.email });
    const resetToken = await tokenFromMail(unverified.email, "reset-password");
    const reset = await browser.submit(
      "/reset-password",
      { token: resetToken, password: NEW_PASSWORD },
      { csrf: null },
    );
    expectHtml(reset, 403);
    expect(await countRows("email_tokens", "user_id = ? AND used_at IS NULL", unverified.id)).toBe(1);
    expect(await mailbox(user.email)).toEqual([]);
  });
});

describe("rate limits", () => {
  it("the 4th sign-up from one address within the hour is a 429 page with Retry-After, and stores nothing", async () => {
    const browser = new Browser();
    await browser.get("/register");
    for (let i = 0; i < 3; i++) {
      const res = await browser.submit("/register", { name: "R", email: uniqueEmail("web-rl"), password: PASSWORD });
      expect(res.status).toBe(303);
    }
    const email = uniqueEmail("web-rl-4th");
    const limited = await browser.submit("/register", { name: "R", email, password: PASSWORD });
    expectHtml(limited, 429);
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(limited.headers.get("RateLimit-Policy")).toBe('"auth-register";q=3;w=3600');
    expect(textOf(limited.html)).toContain("Slow down a little");
    expect(textOf(limited.html)).toMatch(/Try again in about \d+ seconds/);
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);
  });

  it("the 4th forgot-password from one address is a 429 page; the 6th verification attempt too", async () => {
    const browser = new Browser();
    await browser.get("/forgot-password");
    for (let i = 0; i < 3; i++) {
      expect((await browser.submit("/forgot-password", { email: uniqueEmail("web-rl") })).status).toBe(303);
    }
    const limited = await browser.submit("/forgot-password", { email: uniqueEmail("web-rl") });
    expectHtml(limited, 429);
    expect(Number(limited.headers.get("Retry-After"))).toBeGreaterThan(0);

    const verifier = new Browser();
    await verifier.get("/verify-email?token=guess");
    for (let i = 0; i < 5; i++) {
      expect((await verifier.submit("/verify-email", { token: `guess-${i}`, without_password: "1" })).status).toBe(400);
    }
    const sixth = await verifier.submit("/verify-email", { token: "guess-6", without_password: "1" });
    expectHtml(sixth, 429);
    expect(Number(sixth.headers.get("Retry-After"))).toBeGreaterThan(0);
  });
});

describe("every account page", () => {
  async function pages(): Promise<[string, Page][]> {
    const user = await createUser();
    const browser = new Browser();
    await browser.get("/forgot-password");
    await browser.submit("/forgot-password", { email: user.email });
    const resetLink = await linkFromMail(user.email, "reset-password");
    const out: [string, Page][] = [];
    for (const path of [
      "/login",
      "/login?mode=code",
      "/login?expired=1",
      "/register",
      "/register?sent=1",
      "/verify-email?token=some-token",
      "/verify-email",
      "/forgot-password",
      "/forgot-password?sent=1",
      resetLink,
      "/reset-password?token=dead",
    ]) {
      out.push([path, await new Browser().get(path)]);
    }
    const codeBrowser = new Browser();
    await codeBrowser.get("/login?mode=code");
    out.push(["the code page", await codeBrowser.submit("/login", { step: "request-code", email: user.email })]);
    out.push(["a re-rendered form", await codeBrowser.submit("/register", { name: "", email: "x", password: "" })]);
    return out;
  }

  it("stays within 50 KB with its stylesheet and scripts, has one h1, a label for every input, lang, and no inline script or style", async () => {
    for (const [name, page] of await pages()) {
      expect(page.headers.get("Content-Type"), name).toMatch(/^text\/html/);
      const html = page.html;
      let bytes = new TextEncoder().encode(html).length;
      const assets = [...html.matchAll(/(?:href|src)="(\/assets\/[^"]+\.(?:css|js))"/g)].map((m) => m[1] as string);
      for (const asset of assets) bytes += (await (await call(asset)).arrayBuffer()).byteLength;
      expect(bytes, name).toBeLessThanOrEqual(50 * 1024);

      expect(html.match(/<h1[\s>]/g) ?? [], name).toHaveLength(1);
      expect(html.startsWith('<!doctype html><html lang="en"'), name).toBe(true);
      expect(html, name).not.toMatch(/\sstyle="/);
      expect(html, name).not.toMatch(/\son[a-z]+="/);
      expect(html, name).not.toMatch(/<style/);
      for (const script of html.match(/<script[^>]*>/g) ?? []) expect(script, name).toMatch(/\ssrc="/);
      for (const input of html.match(/<(input|select|textarea)\b[^>]*>/g) ?? []) {
        if (/type="hidden"/.test(input)) continue;
        const id = /\sid="([^"]+)"/.exec(input)?.[1];
        expect(id, `${name}: ${input}`).toBeTruthy();
        expect(html, `${name}: ${input}`).toContain(`<label for="${id}">`);
      }
    }
  });
});

describe("links in emails", () => {
  /** Every URL an email carries: in its text, and every href of its HTML. */
  function linksOf(mail: { text: string; html: string }): string[] {
    const inText = mail.text.match(/https?:\/\/\S+/g) ?? [];
    const inHtml = [...mail.html.matchAll(/href="([^"]*)"/g)].map((m) => (m[1] as string).replace(/&amp;/g, "&"));
    expect(new Set(inHtml)).toEqual(new Set(inText));
    return inText;
  }

  it("every template's links are absolute, on PUBLIC_URL or the request's origin, and open a page that exists", async () => {
    const user = await createUser({ name: "Linked" });
    const browser = new Browser();
    // register-existing: someone signs up with a taken address.
    await browser.get("/register");
    await browser.submit("/register", { name: "Again", email: user.email, password: NEW_PASSWORD });
    const newcomer = uniqueEmail("web-links");
    await browser.submit("/register", { name: "New", email: newcomer, password: PASSWORD });
    const asker = new Browser();
    await asker.get("/forgot-password");
    await asker.submit("/forgot-password", { email: user.email });
    // order-confirmed: written by the event's inventory object, which answers no page request.
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    const { accessToken, refreshToken } = await login(user.email);
    const claimed = await order(event.id, accessToken, 1, { "Idempotency-Key": crypto.randomUUID() });
    expect(claimed.status).toBe(201);
    // waitlist-offer: also the object's; the user waits for a sold-out event whose one ticket is given back.
    const sold = await createEvent(host.token, { capacity: 1, perUserLimit: 1 });
    const [holder] = await buyers(1);
    const held = await order(sold.id, holder?.token ?? "");
    const heldOrder = ((await held.json()) as { order: { id: string } }).order.id;
    const waiting = { Authorization: `Bearer ${accessToken}` };
    expect((await call(`/api/v1/events/${sold.id}/waitlist`, { method: "POST", headers: waiting })).status).toBe(201);
    const givenBack = await call(`/api/v1/orders/${heldOrder}/cancel`, {
      method: "POST",
      headers: { Authorization: `Bearer ${holder?.token}` },
    });
    expect(givenBack.status).toBe(200);

    const REQUEST_ORIGIN = "https://gatehouse.test";
    // Exhaustive over the templates: a new one must say where its links come from, or that it has none.
    // A download (not a page) names the template under `download`: its route is proven where it is served.
    const sources: Record<
      EmailTemplate["template"],
      { to: string; origin: string } | EmailTemplate | { download: EmailTemplate }
    > = {
      "verify-email": { to: newcomer, origin: REQUEST_ORIGIN },
      "register-existing": { to: user.email, origin: REQUEST_ORIGIN },
      "reset-password": { to: user.email, origin: REQUEST_ORIGIN },
      "order-confirmed": { to: user.email, origin: linkOrigin(env) },
      "waitlist-offer": { to: user.email, origin: linkOrigin(env) },
      "password-changed": { template: "password-changed", name: "A" },
      "otp-code": { template: "otp-code", code: "123456", minutes: 10 },
      "event-cancelled": { template: "event-cancelled", name: "A", eventTitle: "T", paid: true },
      "refund-issued": { template: "refund-issued", name: "A", eventTitle: "T", amount: 1250, currency: "EUR" },
      "payment-disputed": {
        template: "payment-disputed",
        name: "A",
        eventTitle: "T",
        orderId: "o1",
        amount: 1250,
        currency: "EUR",
        reason: "fraudulent",
      },
      "tip-receipt": { template: "tip-receipt", creatorName: "C", amount: 500, currency: "USD", tipId: "t1" },
      // The signed archive download, served by src/features/privacy (test/features/privacy/export.test.ts).
      "data-export-ready": {
        download: {
          template: "data-export-ready",
          name: "A",
          link: `${REQUEST_ORIGIN}/exports/x1?exp=1&kid=k&sig=s`,
          expiresAt: "2026-01-08T00:00:00.000Z",
        },
      },
      "webhook-endpoint-disabled": {
        template: "webhook-endpoint-disabled",
        name: "H",
        endpointId: "ep_1",
        endpointHost: "hooks.example.com",
        failingSince: "2026-01-01T00:00:00.000Z",
      },
      "api-key-created": {
        template: "api-key-created",
        name: "H",
        keyName: "CRM sync",
        prefix: "gh_live_ab12",
        scopes: ["events:read"],
      },
    };
    // Without PUBLIC_URL (as here) the object's links use the development server's origin.
    expect(linkOrigin(env)).toBe(LOCAL_ORIGIN);
    expect(linkOrigin({ PUBLIC_URL: "https://tickets.example/ignored/path" })).toBe("https://tickets.example");

    const reader = new Browser();
    reader.cookies.set("__Host-access", accessToken);
    reader.cookies.set("__Host-refresh", refreshToken);
    const opened: string[] = [];
    for (const [template, source] of Object.entries(sources)) {
      if ("download" in source) {
        for (const link of linksOf(renderEmail(source.download)))
          expect(new URL(link).pathname).toMatch(/^\/exports\//);
        continue;
      }
      if ("template" in source) {
        const rendered = renderEmail(source);
        expect(`${rendered.text}${rendered.html}`, template).not.toMatch(/https?:|href=/);
        continue;
      }
      // The dev mailbox answers each email's HTML too (src/features/dev/service.ts).
      const mail = (await mailOf(source.to, template)) as Awaited<ReturnType<typeof mailOf>> & { html: string };
      const links = linksOf(mail);
      expect(links.length, template).toBeGreaterThan(0);
      for (const link of links) {
        const url = new URL(link);
        expect(url.origin, `${template}: ${link}`).toBe(source.origin);
        // The wallet is opened signed in; the account pages as the signed-out reader they are for.
        const opener = url.pathname.startsWith("/me/") ? reader : new Browser();
        const page = await opener.get(`${url.pathname}${url.search}`);
        expect(page.status, `${template}: ${url.pathname}`).toBe(200);
        expect(page.headers.get("Content-Type"), url.pathname).toMatch(/^text\/html/);
        opened.push(url.pathname);
      }
    }
    expect(new Set(opened)).toEqual(
      new Set(["/verify-email", "/login", "/forgot-password", "/reset-password", "/me/tickets", `/e/${sold.id}`]),
    );
  });
});
