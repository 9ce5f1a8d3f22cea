/**
 * The web layer's own promises, whatever the page: a strict nonce CSP and the API's security headers,
 * branded error pages instead of problem JSON, static assets with the same headers, forms that need
 * the CSRF token, and a browser kept signed in when its 15-minute access cookie has lapsed.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createUser, login } from "../features/auth/helpers";
import { call } from "../helpers";
import { Browser, textOf } from "./browser";

describe("every page", () => {
  it("answers an unknown path with a branded 404 page for a browser, problem JSON for an API client", async () => {
    const browser = new Browser();
    const page = await browser.get("/no-such-page");
    expect(page.status).toBe(404);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);
    expect(textOf(page.html)).toContain("Page not found");
    expect(page.html).toContain('href="/assets/app.css"');

    const api = await call("/no-such-page");
    expect(api.status).toBe(404);
    expect(api.headers.get("Content-Type")).toBe("application/problem+json");
    const apiUnderBrowser = await call("/api/v1/nothing-here", { headers: { Accept: "text/html" } });
    expect(apiUnderBrowser.headers.get("Content-Type")).toBe("application/problem+json");
  });

  it("carries a strict nonce CSP (no unsafe-inline) and the API's security headers; every script has the nonce", async () => {
    const page = await new Browser().get("/no-such-page");
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    const nonce = /'nonce-([A-Za-z0-9_-]+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).toContain("object-src 'none'");
    for (const tag of page.html.match(/<script[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`);
    expect(page.headers.get("Strict-Transport-Security")).toContain("max-age=31536000");
    expect(page.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(page.headers.get("X-Frame-Options")).toBe("DENY");
    expect(page.headers.get("Permissions-Policy")).toContain("camera=()");
    // A fresh nonce per response.
    const again = await new Browser().get("/no-such-page");
    expect(again.headers.get("Content-Security-Policy")).not.toBe(csp);
  });

  it("serves the stylesheet and scripts from the assets binding with the security headers and a cache lifetime", async () => {
    for (const [path, type] of [
      ["/assets/app.css", /text\/css/],
      ["/assets/session.js", /javascript/],
    ] as const) {
      const response = await call(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("Content-Type")).toMatch(type);
      expect(response.headers.get("Cache-Control")).toContain("max-age=3600");
      expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
      expect((await response.text()).length).toBeGreaterThan(100);
    }
    expect((await call("/assets/missing.js")).status).toBe(404);
  });
});

describe("signing out", () => {
  it("needs the page's CSRF token; with it the session is revoked and the cookies cleared", async () => {
    const user = await createUser({ email: "web-signout@example.com" });
    const tokens = await login(user.email, user.password);
    const browser = new Browser();
    browser.cookies.set("__Host-access", tokens.accessToken);
    browser.cookies.set("__Host-refresh", tokens.refreshToken);
    const home = await browser.get("/no-such-page");
    expect(textOf(home.html)).toContain("Sign out");

    const forged = await browser.submit("/logout", {}, { csrf: "forged.token" });
    expect(forged.status).toBe(403);
    expect(forged.headers.get("Content-Type")).toMatch(/^text\/html/);
    const crossSite = await browser.submit("/logout", {}, { origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    const still = await call("/api/v1/me", { headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    expect(still.status).toBe(200);

    const out = await browser.submit("/logout", {});
    expect(out.status).toBe(303);
    expect(out.location).toBe("/login?signedOut=1");
    expect(browser.cookies.has("__Host-access")).toBe(false);
    const revoked = await call("/api/v1/me", { headers: { Authorization: `Bearer ${tokens.accessToken}` } });
    expect(revoked.status).toBe(401);
  });
});

describe("a lapsed access cookie", () => {
  it("is renewed from the refresh cookie when a page opens, and a dead refresh cookie is forgotten", async () => {
    const user = await createUser({ email: "web-refresh@example.com", name: "Refresh Person" });
    const tokens = await login(user.email, user.password);
    const browser = new Browser();
    browser.cookies.set("__Host-refresh", tokens.refreshToken);
    const page = await browser.get("/no-such-page");
    expect(textOf(page.html)).toContain("Refresh Person");
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    const renewed = browser.cookies.get("__Host-refresh");
    expect(renewed).toBeTruthy();
    expect(renewed).not.toBe(tokens.refreshToken);
    expect(browser.cookies.get("__Host-access")).toBeTruthy();
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL")
      .bind(user.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);

    const stale = new Browser();
    stale.cookies.set("__Host-refresh", "not-a-real-token");
    const signedOut = await stale.get("/no-such-page");
    expect(textOf(signedOut.html)).toContain("Sign in");
    expect(stale.cookies.has("__Host-refresh")).toBe(false);
  });

  it("is renewed for a page form too, once the form passes the CSRF checks (a slow form is not lost)", async () => {
    const user = await createUser({ email: "web-refresh-form@example.com" });
    const tokens = await login(user.email, user.password);
    const browser = new Browser();
    await browser.get("/no-such-page"); // the CSRF cookie and token, before signing in
    browser.cookies.set("__Host-refresh", tokens.refreshToken);

    // A forged form neither renews nor signs anyone out: the refresh token is untouched.
    const forged = await browser.submit("/logout", {}, { csrf: "forged.token" });
    expect(forged.status).toBe(403);
    expect(browser.cookies.get("__Host-refresh")).toBe(tokens.refreshToken);

    // The genuine form runs signed in: signing out revokes the session itself, not just the cookies.
    const out = await browser.submit("/logout", {});
    expect(out.status).toBe(303);
    const open = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL")
      .bind(user.id)
      .first<{ n: number }>();
    expect(open?.n).toBe(0);
  });
});
