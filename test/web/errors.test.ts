/**
 * What a browser sees when a page cannot answer: sign-in and back for a signed-out GET (the query
 * kept), a 401 page with a way to sign in for a form, the reason for a 403, the branded page for a
 * method the path does not take or a body over the limit (an API client keeps its problem document),
 * and for an unexpected failure a 500 page that quotes the request id the error was logged under and
 * nothing of the error itself.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { DomainError } from "../../src/lib/errors";
import { countRows, createUser, login, uniqueEmail } from "../features/auth/helpers";
import { call, freshIp } from "../helpers";
import { emailIndexOf } from "../support/users";
import { Browser, ORIGIN, textOf } from "./browser";

afterEach(() => {
  vi.restoreAllMocks();
});

async function signedIn(email: string): Promise<Browser> {
  const user = await login(email);
  const browser = new Browser();
  browser.cookies.set("__Host-access", user.accessToken);
  browser.cookies.set("__Host-refresh", user.refreshToken);
  return browser;
}

describe("a page that needs an account", () => {
  it("a signed-out GET goes to sign-in with the path and its query as next", async () => {
    const page = await new Browser().get("/host/new-event?from=nav&x=a%26b");
    expect(page.status).toBe(303);
    expect(page.location).toBe(`/login?next=${encodeURIComponent("/host/new-event?from=nav&x=a%26b")}`);
  });

  it("a signed-out form gets a 401 page that offers to sign in and come back; nothing is created", async () => {
    const browser = new Browser();
    await browser.get("/login");
    const res = await browser.submit("/host/new-event", { title: "Signed-out event" });
    expect(res.status).toBe(401);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(textOf(res.html)).toContain("Sign in to manage your events.");
    expect(res.html).toContain(`href="/login?next=${encodeURIComponent("/host/new-event")}"`);
    expect(await countRows("events", "title = ?", "Signed-out event")).toBe(0);
  });

  it("a signed-in person without the role gets a 403 page saying why, without a sign-in link", async () => {
    const user = await createUser({ email: uniqueEmail("web-not-host") });
    const browser = await signedIn(user.email);
    const page = await browser.get("/host/new-event");
    expect(page.status).toBe(403);
    const text = textOf(page.html);
    expect(text).toContain("Not allowed");
    expect(text).toContain("Only hosts can do this: become one at /host.");
    expect(page.html).not.toContain('href="/login?next=');
    expect(text).not.toContain("Reference:");
  });
});

describe("requests a page path does not take", () => {
  it("a form posted to a page that only shows is a branded 405 with Allow; an API client gets the problem", async () => {
    const browser = new Browser();
    await browser.get("/");
    const res = await browser.submit("/", { anything: "1" });
    expect(res.status).toBe(405);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.headers.get("Allow")).toContain("GET");
    expect(textOf(res.html)).toContain("That action is not available here.");
    expect(res.headers.get("Content-Security-Policy")).toContain("'nonce-");

    const api = await call("/", { method: "POST", headers: { Accept: "application/json" } });
    expect(api.status).toBe(405);
    expect(api.headers.get("Content-Type")).toBe("application/problem+json");
    expect(api.headers.get("Allow")).toBe(res.headers.get("Allow"));
  });

  it("a form far over the body limit is a branded 413 page and creates nothing; an API client gets the problem", async () => {
    const browser = new Browser();
    await browser.get("/register");
    const email = uniqueEmail("web-huge");
    const res = await browser.submit("/register", {
      name: "x".repeat(1_100_000),
      email,
      password: "a-long-passphrase",
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(textOf(res.html)).toContain("What you sent is larger than we accept.");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);

    const api = await call("/api/v1/auth/register", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x".repeat(1_100_000), email, password: "a-long-passphrase" }),
    });
    expect(api.status).toBe(413);
    expect(api.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

describe("an unexpected failure on a page", () => {
  it("is a 500 page quoting the request id the error was logged under, and shows nothing of the error", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const brokenDb = {
      prepare() {
        throw new Error("D1_ERROR: database is unavailable");
      },
    };
    // The reset page reads the link's token from D1: with D1 down, no page code expects the failure.
    const res = await createApp().request(
      `${ORIGIN}/reset-password?token=some-token`,
      { headers: { Accept: "text/html", "CF-Connecting-IP": freshIp() } },
      { ...env, DB: brokenDb },
    );
    expect(res.status).toBe(500);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(res.headers.get("Content-Security-Policy")).toContain("'nonce-");
    const requestId = res.headers.get("X-Request-Id") as string;
    expect(requestId).toBeTruthy();
    const text = textOf(await res.text());
    expect(text).toContain("Something went wrong");
    expect(text).toContain(`Reference: ${requestId}`);
    // The reference is random: a "d1" in it is not a leak.
    expect(text.replace(requestId, "")).not.toMatch(/D1|database|stack/i);

    const lines = logged.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
    const entry = lines.find((line) => line.msg === "unhandled error");
    // The reset token in the URL is a credential: the log has the path, never the token.
    expect(entry).toMatchObject({ level: "error", requestId, method: "GET" });
    expect(String(entry?.path)).toMatch(/^\/reset-password\?token=%5Bredacted%5D$/);
    expect(JSON.stringify(entry)).not.toContain("some-token");
    expect(JSON.stringify(entry?.error)).toContain("database is unavailable");
  });

  it("a form body that cannot be read is a 400 page, not an unhandled error", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const browser = new Browser();
    await browser.get("/login");
    // A multipart message cut short (the CSRF token rides in the header, as a page script sends it).
    const res = await browser.request("/login", {
      method: "POST",
      headers: {
        "Content-Type": "multipart/form-data; boundary=cut",
        Origin: ORIGIN,
        "X-CSRF-Token": browser.csrf as string,
      },
      body: '--cut\r\nContent-Disposition: form-data; name="step"\r\n\r\npassword',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(textOf(res.html)).toContain("The form could not be read. Reload the page and send it again.");
    expect(logged.mock.calls.some(([line]) => String(line).includes("unhandled error"))).toBe(false);
  });

  it("a domain error on a page is not logged as unhandled and keeps its own status and words", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const browser = new Browser();
    await browser.get("/login");
    const res = await browser.submit("/host/new-event", { title: "x" });
    expect(res.status).toBe(401);
    expect(logged.mock.calls.some(([line]) => String(line).includes("unhandled error"))).toBe(false);
  });
});

describe("the session on requests that are not page views", () => {
  it("a HEAD (a link checker, a prefetch) does not spend the refresh token; the next GET does", async () => {
    const user = await createUser({ email: uniqueEmail("web-head"), name: "Head Person" });
    const tokens = await login(user.email);
    const browser = new Browser();
    browser.cookies.set("__Host-refresh", tokens.refreshToken);
    const head = await browser.request("/login", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.getSetCookie().join()).not.toContain("__Host-refresh");
    expect(browser.cookies.get("__Host-refresh")).toBe(tokens.refreshToken);

    // Still the live token: a GET renews it (a spent one would be refused as reuse and sign out).
    const page = await browser.get("/no-such-page");
    expect(textOf(page.html)).toContain("Head Person");
    expect(browser.cookies.get("__Host-refresh")).not.toBe(tokens.refreshToken);
  });
});

describe("when the rate limiter cannot be reached", () => {
  const broken = {
    getByName() {
      throw new Error("object unreachable");
    },
  };

  /** Posts a page form straight to an app whose RateLimiter binding is unreachable. */
  async function postBroken(browser: Browser, path: string, fields: Record<string, string>) {
    const body = new URLSearchParams({ ...fields, _csrf: browser.csrf as string });
    return createApp().request(
      `${ORIGIN}${path}`,
      {
        method: "POST",
        headers: {
          Accept: "text/html",
          "Content-Type": "application/x-www-form-urlencoded",
          Origin: ORIGIN,
          Cookie: browser.cookieHeader(),
          "CF-Connecting-IP": browser.ip,
        },
        body,
      },
      { ...env, RATE_LIMITER: broken },
    );
  }

  it("sign-up and sign-in forms answer a 503 page with Retry-After that names nothing internal, and change nothing", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const browser = new Browser();
    await browser.get("/register");
    const email = uniqueEmail("web-limiter-down");
    const signUp = await postBroken(browser, "/register", { name: "Down", email, password: "a-long-passphrase" });
    expect(signUp.status).toBe(503);
    expect(signUp.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(signUp.headers.get("Retry-After")).toBe("5");
    expect(signUp.headers.get("RateLimit")).toBeNull();
    const signUpText = textOf(await signUp.text());
    expect(signUpText).toContain("Back in a moment");
    expect(signUpText).toContain("Try again in about 5 seconds.");
    expect(await countRows("users", "(email_index = ? OR email = ?)", emailIndexOf(email), email)).toBe(0);

    const user = await createUser({ email: uniqueEmail("web-limiter-down-login") });
    const signIn = await postBroken(browser, "/login", { step: "password", email: user.email, password: "whatever-1" });
    expect(signIn.status).toBe(503);
    expect(signIn.headers.get("Retry-After")).toBe("5");
    const signInText = textOf(await signIn.text());
    expect(signInText).toContain("This part of Gatehouse is briefly unavailable. Try again shortly.");
    expect(signInText).toContain(`Reference: ${signIn.headers.get("X-Request-Id")}`);
    expect(signInText).not.toMatch(/unreachable|limiter/i);
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
    // The outage itself is logged by the limiter's client, never as an unhandled page error.
    expect(logged.mock.calls.some(([line]) => String(line).includes("unhandled error"))).toBe(false);
  });
});

describe("a refusal the error page has no words of its own for", () => {
  it("keeps its status and its detail (a 422 is not a 500), with no reference to quote", async () => {
    const app = createApp();
    app.get("/test-event-started", () => {
      throw new DomainError("event-started", "This event has already started: tickets are no longer sold.");
    });
    app.get("/test-provider-down", () => {
      throw new DomainError("payment-provider-error", "Stripe answered 502 for pi_secret_123.");
    });
    const headers = { Accept: "text/html", "CF-Connecting-IP": freshIp() };
    const refused = await app.request(`${ORIGIN}/test-event-started`, { headers }, env);
    expect(refused.status).toBe(422);
    const text = textOf(await refused.text());
    expect(text).toContain("This event has already started: tickets are no longer sold.");
    expect(text).not.toContain("It is not your fault");
    expect(text).not.toContain("Reference:");

    // A fault on our side stays a 5xx, and its internal detail is not shown.
    const fault = await app.request(`${ORIGIN}/test-provider-down`, { headers }, env);
    expect(fault.status).toBe(500);
    const faultText = textOf(await fault.text());
    expect(faultText).toContain("Something went wrong");
    expect(faultText).not.toContain("pi_secret_123");
    expect(faultText).toContain(`Reference: ${fault.headers.get("X-Request-Id")}`);
  });
});

describe("an outage while a lapsed session is renewed", () => {
  it("is a 500 page that keeps the refresh cookie: our outage does not sign the browser out", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await createUser({ email: uniqueEmail("web-refresh-outage"), name: "Outage Person" });
    const tokens = await login(user.email);
    const brokenDb = {
      prepare() {
        throw new Error("D1_ERROR: database is unavailable");
      },
      batch() {
        throw new Error("D1_ERROR: database is unavailable");
      },
    };
    const res = await createApp().request(
      `${ORIGIN}/no-such-page`,
      {
        headers: {
          Accept: "text/html",
          Cookie: `__Host-refresh=${tokens.refreshToken}`,
          "CF-Connecting-IP": freshIp(),
        },
      },
      { ...env, DB: brokenDb },
    );
    expect(res.status).toBe(500);
    expect(textOf(await res.text())).toContain(`Reference: ${res.headers.get("X-Request-Id")}`);
    expect(res.headers.getSetCookie().join("\n")).not.toContain("__Host-refresh");
    expect(logged.mock.calls.some(([line]) => String(line).includes("unhandled error"))).toBe(true);

    // Once the database is back, the same refresh cookie still renews the session.
    const browser = new Browser();
    browser.cookies.set("__Host-refresh", tokens.refreshToken);
    const page = await browser.get("/no-such-page");
    expect(textOf(page.html)).toContain("Outage Person");
  });
});
