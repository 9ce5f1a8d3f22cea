/**
 * What Pro unlocks on the public profile: `pro: true` in `GET /api/v1/profiles/:handle` and no
 * "Made with Gatehouse" footer on `/@:handle`, switched by the subscription's webhooks — the cached
 * profile follows each change at once (the `creator:<userId>` cache version moves with it).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { stripeEvent } from "../../support/stripe";
import { type FakeStripeBilling, PRO_PRICE_ID, useFakeStripeBilling } from "../../support/stripe-billing";
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
});
