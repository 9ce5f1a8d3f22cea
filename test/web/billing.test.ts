/**
 * The billing page `/me/billing`: the plan and its status, Upgrade (a form POST answered with a 303 to
 * Stripe Checkout in subscription mode) and, once subscribed, Manage (a 303 to the customer portal);
 * without a Pro price configured it says billing is off and offers no button.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PaymentsHarness } from "../features/payments/harness";
import { buyer } from "../features/payments/helpers";
import { stripeEvent } from "../support/stripe";
import { type FakeStripeBilling, PRO_PRICE_ID, useFakeStripeBilling } from "../support/stripe-billing";
import { ORIGIN, textOf } from "./browser";

let billing: FakeStripeBilling;
beforeEach(() => {
  billing = useFakeStripeBilling();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** A signed-in browser against the harness's Worker (its env carries the Pro price). */
function browserFor(h: PaymentsHarness, accessToken: string) {
  const cookies = new Map<string, string>([["__Host-access", accessToken]]);
  let csrf: string | undefined;
  const request = async (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set("Accept", "text/html");
    headers.set("Cookie", [...cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    const res = await h.fetch(path, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    const html = await res.text();
    csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? csrf;
    return { status: res.status, html, location: res.headers.get("Location") };
  };
  return {
    get: (path: string) => request(path),
    submit: (path: string) =>
      request(path, {
        method: "POST",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          Origin: ORIGIN,
          "Sec-Fetch-Site": "same-origin",
        },
        body: new URLSearchParams({ _csrf: csrf ?? "" }),
      }),
  };
}

describe("/me/billing", () => {
  it("free → Upgrade redirects to Checkout; subscribed → Pro with Manage redirecting to the portal", async () => {
    const h = new PaymentsHarness({ STRIPE_PRO_PRICE_ID: PRO_PRICE_ID });
    const who = await buyer();
    const browser = browserFor(h, who.token);
    let page = await browser.get("/me/billing");
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain("You are on the free plan");
    expect(page.html).toContain('action="/me/billing/upgrade"');

    const upgrade = await browser.submit("/me/billing/upgrade");
    expect(upgrade.status).toBe(303);
    expect(upgrade.location).toMatch(/^https:\/\/checkout\.stripe\.com\/c\/pay\/cs_/);
    const sessionId = upgrade.location?.split("/").pop() as string;
    expect(billing.sessions.get(sessionId)).toMatchObject({ mode: "subscription" });

    const { subscription } = billing.completeCheckout(sessionId);
    await h.webhook(stripeEvent("customer.subscription.created", subscription));
    await h.drain();
    page = await browser.get("/me/billing?checkout=success");
    expect(textOf(page.html)).toContain("Pro Status: Active");
    expect(page.html).toContain('action="/me/billing/portal"');
    const manage = await browser.submit("/me/billing/portal");
    expect(manage.status).toBe(303);
    expect(manage.location).toMatch(/^https:\/\/billing\.stripe\.com\/p\/session\//);

    // A second upgrade is refused as a page, and Stripe is not asked for another session.
    const again = await browser.submit("/me/billing/upgrade");
    expect(again.status).toBe(409);
    expect(billing.sessions.size).toBe(1);
  });

  it("without a Pro price the page says billing is off and has no button; signed out goes to the login", async () => {
    const h = new PaymentsHarness();
    const who = await buyer();
    const page = await browserFor(h, who.token).get("/me/billing");
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain("Billing is not configured");
    expect(page.html).not.toContain("/me/billing/upgrade");
    const anonymous = await h.fetch("/me/billing", { headers: { Accept: "text/html" }, redirect: "manual" });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get("Location")).toBe("/login?next=%2Fme%2Fbilling");
  });
});
