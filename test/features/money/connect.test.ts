/**
 * Payouts with Stripe Connect: the connected account is created once per user even when Stripe's
 * answer is lost, `account.updated` keeps the flags in order, a host who can take charges is paid by
 * destination charges carrying the platform fee, refunds take the transfer and the fee back, and paid
 * tickets wait for a payout account.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { TIP_FEE_MAX_SHARE_BPS } from "../../../src/config/fees";
import { TIP_BOUNDS } from "../../../src/config/tips";
import { platformFee } from "../../../src/features/money";
import { freshIp } from "../../helpers";
import { rows } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { signedIn } from "../../web/host-helpers";
import { bearer, createUser, login } from "../auth/helpers";
import { createEvent, hostWithToken } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { buyer, checkout, orderStatus, PRICE, paid, paidEvent } from "../payments/helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

function payoutRow(userId: string) {
  return rows<{
    stripe_account_id: string | null;
    charges_enabled: number;
    payouts_enabled: number;
    stripe_event_created: number;
  }>("SELECT * FROM payout_accounts WHERE user_id = ?", userId);
}

async function startOnboarding(h: PaymentsHarness, token: string) {
  return h.fetch("/api/v1/me/payouts/account", { method: "POST", token });
}

async function summary(h: PaymentsHarness, token: string) {
  const res = await h.fetch("/api/v1/me/payouts", { token });
  expect(res.status).toBe(200);
  return (await res.json()) as { status: string; chargesEnabled: boolean; payoutsEnabled: boolean };
}

describe("POST /api/v1/me/payouts/account", () => {
  it("creates the Express account once: Stripe's answer lost, the retry gets the same account by its idempotency key", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    // First request: Stripe creates the account but no answer ever arrives (nor for the SDK's own retries).
    let phase: "lost" | "normal" = "lost";
    let seen = 0;
    stripe.script = (call) => {
      if (phase !== "lost" || call.path !== "/v1/accounts") return undefined;
      seen += 1;
      return seen === 1 ? "accept-then-drop" : "network-error";
    };
    const lost = await startOnboarding(h, host.token);
    expect(lost.status).toBeGreaterThanOrEqual(500);
    expect(stripe.accounts.size).toBe(1);
    expect(await payoutRow(host.id)).toMatchObject([{ stripe_account_id: null }]);

    phase = "normal";
    const retry = await startOnboarding(h, host.token);
    expect(retry.status).toBe(200);
    const { onboardingUrl } = (await retry.json()) as { onboardingUrl: string };
    const [account] = [...stripe.accounts.values()];
    expect(stripe.accounts.size).toBe(1);
    expect(onboardingUrl).toContain(account?.id);
    expect(await payoutRow(host.id)).toMatchObject([{ stripe_account_id: account?.id }]);
    const creates = stripe.callsTo("POST", "/v1/accounts");
    expect(creates.every((c) => c.idempotencyKey === `connect-account:${host.id}`)).toBe(true);
    expect(creates.some((c) => c.replayed)).toBe(true);
    const link = stripe.callsTo("POST", "/v1/account_links").at(-1);
    expect(link?.params).toMatchObject({
      account: account?.id,
      type: "account_onboarding",
      refresh_url: "https://gatehouse.test/host?payouts=refresh",
      return_url: "https://gatehouse.test/host?payouts=done",
    });

    // Once filled, later calls never ask Stripe for an account again, however many arrive at once.
    const again = await Promise.all(Array.from({ length: 8 }, () => startOnboarding(h, host.token)));
    expect(again.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(stripe.accounts.size).toBe(1);
  });

  it("many concurrent first requests make one account and one row", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    const all = await Promise.all(Array.from({ length: 10 }, () => startOnboarding(h, host.token)));
    expect(all.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(stripe.accounts.size).toBe(1);
    expect(await payoutRow(host.id)).toMatchObject([{ stripe_account_id: [...stripe.accounts.keys()][0] }]);
  });

  it("is for hosts and creators: anyone else gets 403 and no account", async () => {
    const h = new PaymentsHarness();
    const user = await createUser();
    const { accessToken } = await login(user.email);
    const res = await startOnboarding(h, accessToken);
    expect(res.status).toBe(403);
    expect(stripe.calls).toHaveLength(0);
    expect(await payoutRow(user.id)).toEqual([]);
  });
});

describe("account.updated", () => {
  it("keeps the flags in D1; an older event arriving after a newer one is ignored", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    expect(await summary(h, host.token)).toMatchObject({ status: "none", chargesEnabled: false });
    expect((await startOnboarding(h, host.token)).status).toBe(200);
    expect(await summary(h, host.token)).toMatchObject({ status: "onboarding", chargesEnabled: false });
    const id = [...stripe.accounts.keys()][0] as string;
    const t = Math.floor(Date.now() / 1000);
    const before = structuredClone(stripe.accounts.get(id));
    const after = stripe.updateAccount(id, {
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      requirements: { currently_due: [], past_due: [], eventually_due: [], disabled_reason: null },
    });

    expect((await h.webhook({ ...stripeEvent("account.updated", after, t + 10), account: id })).status).toBe(200);
    await h.drain();
    expect(await summary(h, host.token)).toEqual({
      status: "active",
      chargesEnabled: true,
      payoutsEnabled: true,
      requirements: { currentlyDue: [], pastDue: [], disabledReason: null },
    });
    // The onboarding-time snapshot, delivered late.
    expect((await h.webhook({ ...stripeEvent("account.updated", before, t + 5), account: id })).status).toBe(200);
    await h.drain();
    expect(await summary(h, host.token)).toMatchObject({ status: "active", chargesEnabled: true });
    expect(await payoutRow(host.id)).toMatchObject([{ charges_enabled: 1, stripe_event_created: t + 10 }]);

    // A newer restriction applies.
    const restricted = stripe.updateAccount(id, {
      charges_enabled: false,
      requirements: {
        currently_due: ["individual.verification.document"],
        past_due: [],
        eventually_due: [],
        disabled_reason: "requirements.past_due",
      },
    });
    await h.webhook({ ...stripeEvent("account.updated", restricted, t + 20), account: id });
    await h.drain();
    expect(await summary(h, host.token)).toMatchObject({
      status: "restricted",
      chargesEnabled: false,
      requirements: { currentlyDue: ["individual.verification.document"], disabledReason: "requirements.past_due" },
    });
  });
});

describe("destination charges", () => {
  it("a host whose account can take charges is paid through it: the session carries application_fee_amount and transfer_data.destination", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent();
    const [row] = await payoutRow(host.id);
    const who = await buyer();
    await checkout(h, stripe, event.id, who.token, 2);
    const [call] = stripe.created("/v1/checkout/sessions");
    expect(call?.params["payment_intent_data[transfer_data][destination]"]).toBe(row?.stripe_account_id);
    expect(call?.params["payment_intent_data[application_fee_amount]"]).toBe(String(platformFee(2 * PRICE, "EUR")));
    expect(platformFee(2 * PRICE, "EUR")).toBe(150);
  });

  it("a Pro host's sale carries the Pro share of the fee", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent();
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO subscriptions (id, user_id, stripe_customer_id, price_id, status, current_period_end,
         cancel_at_period_end, stripe_event_created, version, created_at, updated_at)
       VALUES (?, ?, 'cus_test_connect', 'price_test_gatehouse_pro', 'active', ?, 0, 1, 1, ?, ?)`,
    )
      .bind(`sub_test_${crypto.randomUUID()}`, host.id, Math.floor(now / 1000) + 86400, now, now)
      .run();
    const who = await buyer();
    await checkout(h, stripe, event.id, who.token, 2);
    const [call] = stripe.created("/v1/checkout/sessions");
    expect(platformFee(2 * PRICE, "EUR", { pro: true })).toBeLessThan(platformFee(2 * PRICE, "EUR"));
    expect(call?.params["payment_intent_data[application_fee_amount]"]).toBe(
      String(platformFee(2 * PRICE, "EUR", { pro: true })),
    );
  });

  it("a refund reverses the transfer and refunds the application fee", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");

    const res = await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token });
    expect(res.status).toBe(202);
    await h.drain();
    const [refund] = stripe.created("/v1/refunds");
    expect(refund?.params).toMatchObject({ reverse_transfer: "true", refund_application_fee: "true" });
    expect(stripe.refunds).toMatchObject([{ reverse_transfer: true, refund_application_fee: true, amount: PRICE }]);
  });

  it("the fee is the bps share, at least the currency's minimum, at most the amount; Pro pays less", () => {
    expect(platformFee(10_000, "USD")).toBe(500);
    expect(platformFee(10_000, "USD", { pro: true })).toBe(250);
    expect(platformFee(100, "USD")).toBe(30);
    expect(platformFee(20, "USD")).toBe(20);
    expect(platformFee(1_001, "eur")).toBe(50);
    expect(platformFee(0, "USD")).toBe(0);
  });

  it("a tip's fee takes at most half of it: the smallest tip in every currency leaves the creator at least half", () => {
    expect(platformFee(TIP_BOUNDS.INR?.min ?? 0, "INR")).toBe(TIP_BOUNDS.INR?.min);
    expect(platformFee(2490, "INR", { maxShareBps: TIP_FEE_MAX_SHARE_BPS })).toBe(1245);
    expect(platformFee(51, "USD", { maxShareBps: TIP_FEE_MAX_SHARE_BPS })).toBe(25);
    expect(platformFee(10_000, "USD", { maxShareBps: TIP_FEE_MAX_SHARE_BPS })).toBe(500);
    for (const [currency, { min }] of Object.entries(TIP_BOUNDS)) {
      const fee = platformFee(min, currency, { maxShareBps: TIP_FEE_MAX_SHARE_BPS });
      expect(min - fee, currency).toBeGreaterThanOrEqual(Math.ceil(min / 2));
    }
  });
});

describe("paid tickets wait for the payout account", () => {
  async function draft(token: string, overrides: Record<string, unknown>) {
    return createEvent(token, overrides, false);
  }

  it("publishing a paid event without an account that can take charges is 409 payouts-not-ready and changes nothing", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    const event = await draft(host.token, { price: 1500 });
    const refused = await h.fetch(`/api/v1/events/${event.id}/publish`, { method: "POST", token: host.token });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { type: string; detail: string }).type).toContain("payouts-not-ready");
    expect(await rows("SELECT status, version FROM events WHERE id = ?", event.id)).toEqual([
      { status: "draft", version: event.version },
    ]);

    // An account Stripe does not let take charges yet is not enough either.
    await givePayoutAccount(host.id, { chargesEnabled: false });
    expect((await h.fetch(`/api/v1/events/${event.id}/publish`, { method: "POST", token: host.token })).status).toBe(
      409,
    );
    await givePayoutAccount(host.id);
    expect((await h.fetch(`/api/v1/events/${event.id}/publish`, { method: "POST", token: host.token })).status).toBe(
      200,
    );
  });

  it("a free event publishes without one; editing it to paid once published is refused the same way", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: 0 });
    const res = await h.fetch(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      token: host.token,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ price: 1500, version: event.version }),
    });
    expect(res.status).toBe(409);
    expect(await rows("SELECT price, version FROM events WHERE id = ?", event.id)).toEqual([
      { price: 0, version: event.version },
    ]);
  });
});

describe("without Stripe keys", () => {
  it("both routes answer 503 payments-not-configured", async () => {
    const host = await hostWithToken();
    const { STRIPE_SECRET_KEY: _key, STRIPE_WEBHOOK_SECRET: _secret, ...rest } = env;
    const bindings = { ...rest, ENVIRONMENT: "development" } as unknown as Env;
    for (const [method, path] of [
      ["POST", "/api/v1/me/payouts/account"],
      ["GET", "/api/v1/me/payouts"],
    ] as const) {
      const res = await createApp().request(
        path,
        { method, headers: { ...bearer(host.token), "CF-Connecting-IP": freshIp() } },
        bindings,
      );
      expect(res.status).toBe(503);
      expect(((await res.json()) as { type: string }).type).toContain("payments-not-configured");
    }
    expect(stripe.calls).toHaveLength(0);
    expect(await payoutRow(host.id)).toEqual([]);
  });
});

describe("the payouts block on /host", () => {
  it("shows the status and a Set up payouts form that sends the host to Stripe's onboarding", async () => {
    const { browser, user } = await signedIn();
    const home = await browser.get("/host");
    expect(home.status).toBe(200);
    expect(home.html).toContain("Not set up");
    expect(home.html).toContain('action="/host/payouts"');
    const sent = await browser.submit("/host/payouts", {});
    expect(sent.status).toBe(303);
    const [account] = [...stripe.accounts.values()];
    expect(sent.location).toContain(`https://connect.stripe.com/setup/e/${account?.id}/`);
    expect(await payoutRow(user.id)).toMatchObject([{ stripe_account_id: account?.id }]);
    const back = await browser.get("/host?payouts=done");
    expect(back.html).toContain("Onboarding not finished");
    expect(back.html).toContain("Welcome back from Stripe");
  });
});
