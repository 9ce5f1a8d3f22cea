/**
 * What Pro unlocks on the public profile: `pro: true` in `GET /api/v1/profiles/:handle` and no
 * "Made with Gatehouse" footer on `/@:handle`, switched by the subscription's webhooks — the cached
 * profile follows each change at once (the `creator:<userId>` cache version moves with it); an event
 * page `/e/:id` shows the footer for a free host only.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { stripeEvent } from "../../support/stripe";
import { type FakeStripeBilling, PRO_PRICE_ID, useFakeStripeBilling } from "../../support/stripe-billing";
import { createEvent, hostWithToken } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { ok, person, send } from "../social/graph-helpers";

let billing: FakeStripeBilling;
beforeEach(() => {
  billing = useFakeStripeBilling();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("Pro on the public profile", () => {
  it("pro: true and no branding footer while subscribed; back to branded once canceled", async () => {
    const h = new PaymentsHarness({ STRIPE_PRO_PRICE_ID: PRO_PRICE_ID });
    const p = await person();
    const handle = `pro${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 30);
    await ok(await send("POST", "/api/v1/me/onboarding", p.token, { name: "Ada", handle }));
    const view = async () => {
      const json = (await (await h.fetch(`/api/v1/profiles/${handle}`)).json()) as { pro: boolean };
      const html = await (await h.fetch(`/@${handle}`, { headers: { Accept: "text/html" } })).text();
      return { pro: json.pro, branded: html.includes("Made with") };
    };
    expect(await view()).toEqual({ pro: false, branded: true });

    const res = await h.fetch("/api/v1/me/subscription/checkout", { method: "POST", token: p.token });
    const { url } = (await res.json()) as { url: string };
    const { subscription } = billing.completeCheckout(url.split("/").pop() as string);
    const now = Math.floor(Date.now() / 1000);
    await h.webhook(stripeEvent("customer.subscription.created", subscription, now - 30));
    await h.drain();
    expect(await view()).toEqual({ pro: true, branded: false });

    const canceled = billing.update(subscription.id, { status: "canceled" });
    await h.webhook(stripeEvent("customer.subscription.deleted", canceled, now - 10));
    await h.drain();
    expect(await view()).toEqual({ pro: false, branded: true });
  });

  it("an event page carries the footer for a free host only", async () => {
    const h = new PaymentsHarness({ STRIPE_PRO_PRICE_ID: PRO_PRICE_ID });
    const [free, pro] = await Promise.all([hostWithToken(), hostWithToken()]);
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO subscriptions (id, user_id, stripe_customer_id, price_id, status, current_period_end,
         cancel_at_period_end, stripe_event_created, version, created_at, updated_at)
       VALUES (?, ?, 'cus_test_event', ?, 'trialing', ?, 0, 1, 1, ?, ?)`,
    )
      .bind(`sub_test_${crypto.randomUUID()}`, pro.id, PRO_PRICE_ID, Math.floor(now / 1000) + 86400, now, now)
      .run();
    const page = async (token: string) => {
      const event = await createEvent(token);
      return (await h.fetch(`/e/${event.id}`, { headers: { Accept: "text/html" } })).text();
    };
    expect(await page(free.token)).toContain("Made with");
    expect(await page(pro.token)).not.toContain("Made with");
  });
});
