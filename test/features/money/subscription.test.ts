/**
 * The Pro subscription end to end: the customer made once, Checkout and the portal, webhooks delivered
 * shuffled and duplicated ending in Stripe's own state, the reconciliation fixing a drift, every
 * status's entitlement, /health's billing check, and STRIPE_API_BASE kept out of production.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type ConfigError, getConfig } from "../../../src/config";
import { readPaymentsConfig } from "../../../src/config/payments";
import { PAST_DUE_GRACE_SECONDS } from "../../../src/config/plans";
import {
  applySubscriptionState,
  entitles,
  isPro,
  type SubscriptionState,
  type SubscriptionStatus,
} from "../../../src/features/money";
import { rows } from "../../support/db";
import { route } from "../../support/fetch-router";
import { stripeEvent } from "../../support/stripe";
import { type FakeStripeBilling, PRO_PRICE_ID, useFakeStripeBilling } from "../../support/stripe-billing";
import { PaymentsHarness } from "../payments/harness";
import { buyer } from "../payments/helpers";

const PRO_ENV = { STRIPE_PRO_PRICE_ID: PRO_PRICE_ID };
const RECONCILE_CRON = "0 * * * *";

let billing: FakeStripeBilling;
beforeEach(() => {
  billing = useFakeStripeBilling();
});
afterEach(() => {
  vi.restoreAllMocks();
});

interface SubRow {
  id: string;
  user_id: string;
  status: string;
  current_period_end: number | null;
  cancel_at_period_end: number;
  stripe_event_created: number;
  version: number;
}

const subRow = async (id: string) => (await rows<SubRow>("SELECT * FROM subscriptions WHERE id = ?", id))[0];
const auditRows = (userId: string) =>
  rows<{ request_id: string; detail: string }>(
    "SELECT request_id, detail FROM audit_log WHERE user_id = ? AND action = 'billing.subscription-changed' ORDER BY at",
    userId,
  );

function post(h: PaymentsHarness, path: string, token: string) {
  return h.fetch(path, { method: "POST", token });
}

/** A signed-in user who went through Checkout and paid: the fake's subscription and the session event. */
async function subscribed(h: PaymentsHarness) {
  const who = await buyer();
  const res = await post(h, "/api/v1/me/subscription/checkout", who.token);
  expect(res.status).toBe(200);
  const { url } = (await res.json()) as { url: string };
  const sessionId = url.split("/").pop() as string;
  const { session, subscription } = billing.completeCheckout(sessionId);
  return { who, session, subscription };
}

function expectMatchesStripe(row: SubRow | undefined, billingSub: ReturnType<FakeStripeBilling["subscription"]>) {
  const item = billingSub.items.data[0];
  expect(row).toMatchObject({
    status: billingSub.status,
    cancel_at_period_end: billingSub.cancel_at_period_end ? 1 : 0,
    current_period_end: item?.current_period_end,
  });
}

/** Deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  let a = seed;
  const random = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe("Pro subscription webhooks", () => {
  for (const seed of [1, 7, 42]) {
    it(`12 events shuffled (seed ${seed}), 4 of them twice, end in the state Stripe holds`, async () => {
      const h = new PaymentsHarness(PRO_ENV);
      const { who, session, subscription } = await subscribed(h);
      const id = subscription.id;
      const base = Math.floor(Date.now() / 1000) - 500;
      const end = (subscription.items.data[0]?.current_period_end ?? 0) + 0;
      const snap = (type: string, at: number, change: Parameters<FakeStripeBilling["update"]>[1]) =>
        stripeEvent(type, billing.update(id, change), base + at);
      const events = [
        stripeEvent("customer.subscription.created", billing.subscription(id), base),
        stripeEvent("checkout.session.completed", session, base + 1),
        stripeEvent("invoice.paid", billing.invoice(id, true), base + 2),
        snap("customer.subscription.updated", 10, { cancelAtPeriodEnd: true }),
        snap("customer.subscription.updated", 20, { cancelAtPeriodEnd: false }),
        stripeEvent("invoice.payment_failed", billing.invoice(id, false), base + 30),
        snap("customer.subscription.updated", 31, { status: "past_due" }),
        snap("customer.subscription.updated", 40, { status: "unpaid" }),
        snap("customer.subscription.paused", 50, { status: "paused" }),
        snap("customer.subscription.resumed", 60, { status: "active" }),
        snap("customer.subscription.updated", 70, { periodEnd: end + 30 * 86400 }),
        snap("customer.subscription.updated", 80, { cancelAtPeriodEnd: true }),
      ];
      expect(events).toHaveLength(12);
      const deliveries = shuffled([...events, ...shuffled(events, seed).slice(0, 4)], seed * 31);
      // Half sent one by one, half at once: the queue then applies them in whatever order it likes.
      for (const event of deliveries.slice(0, 8)) expect((await h.webhook(event)).status).toBe(200);
      await h.drain();
      const answers = await Promise.all(deliveries.slice(8).map((event) => h.webhook(event)));
      expect(answers.every((r) => r.status === 200)).toBe(true);
      await h.drain();

      const row = await subRow(id);
      expectMatchesStripe(row, billing.subscription(id));
      expect(row).toMatchObject({ user_id: who.id, status: "active", cancel_at_period_end: 1 });
      expect(
        await rows(
          `SELECT id FROM stripe_events WHERE id IN (${events.map(() => "?").join(",")})`,
          ...events.map((e) => e.id),
        ),
      ).toHaveLength(12);
      // Every change recorded; the first one is the row's creation.
      const audits = await auditRows(who.id);
      expect(audits.length).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(audits[0]?.detail ?? "{}")).toMatchObject({ subscriptionId: id, from: null });
      expect(await isPro(env.DB, who.id)).toBe(true);
    });
  }

  it("an older snapshot delivered after a newer one changes nothing; the same second fetches Stripe's state", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const { who, subscription } = await subscribed(h);
    const id = subscription.id;
    const now = Math.floor(Date.now() / 1000);
    const canceled = stripeEvent("customer.subscription.deleted", billing.update(id, { status: "canceled" }), now - 10);
    const stale = stripeEvent("customer.subscription.updated", { ...subscription, status: "active" }, now - 20);
    await h.webhook(canceled);
    await h.drain();
    const before = await subRow(id);
    expect(before).toMatchObject({ status: "canceled", stripe_event_created: now - 10 });
    await h.webhook(stale);
    await h.drain();
    expect(await subRow(id)).toEqual(before);
    expect(await isPro(env.DB, who.id)).toBe(false);

    // A snapshot of the same second as the stored state: Stripe (now unpaid) decides, not the snapshot.
    billing.update(id, { status: "unpaid" });
    const tie = stripeEvent("customer.subscription.updated", { ...subscription, status: "active" }, now - 10);
    await h.webhook(tie);
    await h.drain();
    expect((await subRow(id))?.status).toBe("unpaid");
    expect(billing.calls.some((c) => c.method === "GET" && c.path === `/v1/subscriptions/${id}`)).toBe(true);
  });
});

describe("optimistic locking", () => {
  it("30 states applied at once, in random order: the newest stamp wins, and each write that won is audited once", async () => {
    const who = await buyer();
    const id = `sub_test_lock_${crypto.randomUUID()}`;
    const statuses: SubscriptionStatus[] = ["active", "past_due", "unpaid", "paused", "trialing", "canceled"];
    const states = Array.from({ length: 30 }, (_, i) => ({
      stamp: 1_000 + i,
      state: {
        id,
        customer: "cus_test_lock",
        userId: who.id,
        priceId: PRO_PRICE_ID,
        status: statuses[i % statuses.length] as SubscriptionStatus,
        currentPeriodEnd: 2_000_000_000 + i,
        cancelAtPeriodEnd: i % 2 === 1,
      } satisfies SubscriptionState,
    }));
    const config = getConfig(env);
    const results = await Promise.all(
      shuffled(states, 99).map(({ state, stamp }) =>
        applySubscriptionState({ db: env.DB, config }, state, stamp, { authoritative: false, origin: `evt_${stamp}` }),
      ),
    );
    const newest = states.at(-1) as (typeof states)[number];
    expect(await subRow(id)).toMatchObject({
      status: newest.state.status,
      current_period_end: newest.state.currentPeriodEnd,
      cancel_at_period_end: 1,
      stripe_event_created: newest.stamp,
    });
    const applied = results.filter((r) => r === "applied").length;
    const row = await subRow(id);
    // Every applied write moved the version once (the insert is version 1), and wrote one audit row.
    expect(row?.version).toBe(results.filter((r) => r === "applied" || r === "unchanged").length);
    expect(await auditRows(who.id)).toHaveLength(applied);
  });
});

describe("hourly reconciliation", () => {
  it("fixes a drift no webhook reported, audits it, and records its run", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const { who, subscription } = await subscribed(h);
    const id = subscription.id;
    await h.webhook(stripeEvent("customer.subscription.created", subscription, Math.floor(Date.now() / 1000) - 60));
    await h.drain();
    expect((await subRow(id))?.status).toBe("active");
    const version = (await subRow(id))?.version ?? 0;

    // Stripe moves on (the card failed for good), and the webhook is lost.
    billing.update(id, { status: "unpaid" });
    await h.cron(RECONCILE_CRON);

    const row = await subRow(id);
    expectMatchesStripe(row, billing.subscription(id));
    expect(row?.version).toBe(version + 1);
    const audits = await auditRows(who.id);
    expect(audits.at(-1)).toMatchObject({ request_id: "reconcile" });
    expect(JSON.parse(audits.at(-1)?.detail ?? "{}")).toMatchObject({ from: "active", to: "unpaid", pro: false });
    const [run] = await rows<{ finished_at: number; summary: string }>(
      "SELECT * FROM reconciliation_runs WHERE name = 'subscriptions'",
    );
    expect(run?.finished_at).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.parse(run?.summary ?? "{}").fixed).toBeGreaterThanOrEqual(1);
    expect(await isPro(env.DB, who.id)).toBe(false);
  });

  it("finds a subscription whose every webhook went missing (listed by its customer)", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const { who, subscription } = await subscribed(h);
    expect(await subRow(subscription.id)).toBeUndefined();
    await h.cron(RECONCILE_CRON);
    expect(await subRow(subscription.id)).toMatchObject({ user_id: who.id, status: "active" });
    expect(await isPro(env.DB, who.id)).toBe(true);
  });
});

describe("POST /api/v1/me/subscription/checkout and /portal", () => {
  it("two concurrent checkouts make one Stripe customer, stored once", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => post(h, "/api/v1/me/subscription/checkout", who.token)),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(billing.customers.size).toBe(1);
    expect(billing.createdCustomers()).toHaveLength(1);
    const stored = await rows<{ stripe_customer_id: string }>(
      "SELECT stripe_customer_id FROM billing_customers WHERE user_id = ?",
      who.id,
    );
    expect(stored).toEqual([{ stripe_customer_id: [...billing.customers.keys()][0] }]);
    const creates = billing.calls.filter((c) => c.path === "/v1/customers");
    expect(new Set(creates.map((c) => c.idempotencyKey))).toEqual(new Set([`customer:${who.id}`]));
    for (const s of billing.sessions.values())
      expect(s).toMatchObject({ mode: "subscription", customer: stored[0]?.stripe_customer_id });
  });

  it("answers 409 already-subscribed while a subscription entitles, and creates no session", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const { who, subscription } = await subscribed(h);
    await h.webhook(stripeEvent("customer.subscription.created", subscription));
    await h.drain();
    const sessions = billing.sessions.size;
    const res = await post(h, "/api/v1/me/subscription/checkout", who.token);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { type: string }).type).toMatch(/already-subscribed$/);
    expect(billing.sessions.size).toBe(sessions);

    const view = await h.fetch("/api/v1/me/subscription", { token: who.token });
    expect(await view.json()).toEqual({
      plan: "pro",
      status: "active",
      isPro: true,
      currentPeriodEnd: new Date((subscription.items.data[0]?.current_period_end ?? 0) * 1000).toISOString(),
      cancelAtPeriodEnd: false,
    });
    const portal = await post(h, "/api/v1/me/subscription/portal", who.token);
    expect(portal.status).toBe(200);
    expect(((await portal.json()) as { url: string }).url).toMatch(/^https:\/\/billing\.stripe\.com\/p\/session\//);
  });

  it("paid at Stripe before its webhook arrived: upgrading again is 409 already-subscribed, opens nothing, and applies the subscription", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const { who, subscription } = await subscribed(h);
    // Back on /me/billing, no webhook yet: our rows know nothing of the payment.
    expect(await rows("SELECT 1 FROM subscriptions WHERE user_id = ?", who.id)).toEqual([]);
    const sessions = billing.sessions.size;
    const again = await post(h, "/api/v1/me/subscription/checkout", who.token);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { type: string }).type).toMatch(/already-subscribed$/);
    expect(billing.sessions.size).toBe(sessions);
    expect(await subRow(subscription.id)).toMatchObject({ user_id: who.id, status: "active" });
    expect(await (await h.fetch("/api/v1/me/subscription", { token: who.token })).json()).toMatchObject({
      plan: "pro",
      isPro: true,
    });
  });

  it("at most one open Pro checkout: a new one expires the one left open, and a double click opens one session", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const upgrade = async () => {
      const res = await post(h, "/api/v1/me/subscription/checkout", who.token);
      expect(res.status).toBe(200);
      return ((await res.json()) as { url: string }).url.split("/").pop() as string;
    };
    const abandoned = await upgrade();
    const second = await upgrade();
    expect(second).not.toBe(abandoned);
    expect(billing.sessions.get(abandoned)).toMatchObject({ status: "expired" });
    expect(billing.sessions.get(second)).toMatchObject({ status: "open" });

    const [x, y] = await Promise.all([upgrade(), upgrade()]);
    expect(x).toBe(y);
    const open = [...billing.sessions.values()].filter((session) => session.status === "open");
    expect(open.map((session) => session.id)).toEqual([x]);
    expect(billing.sessions.size).toBe(3);
    // The one the double click replaced was expired first: it can no longer be paid.
    expect(billing.sessions.get(second)).toMatchObject({ status: "expired" });
  });

  it("the portal answers 409 no-billing-customer for someone who never upgraded, and nothing is stored", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const res = await post(h, "/api/v1/me/subscription/portal", who.token);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { type: string }).type).toMatch(/no-billing-customer$/);
    expect(await rows("SELECT 1 FROM billing_customers WHERE user_id = ?", who.id)).toEqual([]);
    const view = await h.fetch("/api/v1/me/subscription", { token: who.token });
    expect(await view.json()).toMatchObject({ plan: "free", status: null, isPro: false });
  });

  it("Stripe unreachable: 502 payment-provider-error; the row made first is filled by the retry, one customer", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    route("https://api.stripe.com", () => {
      throw new TypeError("Network connection lost.");
    });
    const failed = await post(h, "/api/v1/me/subscription/checkout", who.token);
    expect(failed.status).toBe(502);
    expect(((await failed.json()) as { type: string }).type).toMatch(/payment-provider-error$/);
    expect(await rows("SELECT stripe_customer_id FROM billing_customers WHERE user_id = ?", who.id)).toEqual([
      { stripe_customer_id: null },
    ]);
    billing.install();
    expect((await post(h, "/api/v1/me/subscription/checkout", who.token)).status).toBe(200);
    expect(billing.customers.size).toBe(1);
  });

  it("without STRIPE_PRO_PRICE_ID the upgrade answers 503 payments-not-configured", async () => {
    const h = new PaymentsHarness();
    const who = await buyer();
    const res = await post(h, "/api/v1/me/subscription/checkout", who.token);
    expect(res.status).toBe(503);
    expect(billing.calls).toEqual([]);
  });
});

describe("entitlements", () => {
  const now = Date.now();
  const periodEnd = Math.floor(now / 1000) + 86400;
  const table: [SubscriptionStatus, boolean][] = [
    ["active", true],
    ["trialing", true],
    ["past_due", true],
    ["unpaid", false],
    ["canceled", false],
    ["incomplete", false],
    ["incomplete_expired", false],
    ["paused", false],
  ];
  it.each(table)("%s → pro: %s", (status, pro) => {
    expect(entitles({ status, currentPeriodEnd: periodEnd }, now)).toBe(pro);
  });
  it("past_due keeps Pro until the period's end plus the grace, not a second longer", () => {
    const ended = Math.floor(now / 1000) - PAST_DUE_GRACE_SECONDS;
    expect(entitles({ status: "past_due", currentPeriodEnd: ended + 1 }, now)).toBe(true);
    expect(entitles({ status: "past_due", currentPeriodEnd: ended }, now)).toBe(false);
    expect(entitles({ status: "past_due", currentPeriodEnd: null }, now)).toBe(false);
    expect(entitles(null, now)).toBe(false);
  });
});

describe("GET /health billing check", () => {
  const setRun = (finishedAt: number) =>
    env.DB.prepare(
      `INSERT INTO reconciliation_runs (name, finished_at, summary) VALUES ('subscriptions', ?, '{}')
       ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at`,
    )
      .bind(finishedAt)
      .run();

  it("ok under 2 hours, failing (503) past 2 hours, skipped without a Pro price", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    await setRun(Date.now() - 2 * 3600 * 1000 + 60_000);
    let res = await h.fetch("/health");
    let body = (await res.json()) as {
      checks: { billing: string };
      billing?: { lastReconciliationSecondsAgo: number };
    };
    expect(res.status).toBe(200);
    expect(body.checks.billing).toBe("ok");
    expect(body.billing?.lastReconciliationSecondsAgo).toBeGreaterThanOrEqual(7140);

    await setRun(Date.now() - 2 * 3600 * 1000 - 1000);
    res = await h.fetch("/health");
    body = (await res.json()) as typeof body;
    expect(res.status).toBe(503);
    expect(body.checks.billing).toBe("fail");

    res = await new PaymentsHarness().fetch("/health");
    body = (await res.json()) as typeof body;
    expect(body.checks.billing).toBe("skipped");
  });
});

describe("STRIPE_API_BASE", () => {
  const keys = {
    STRIPE_SECRET_KEY: "sk_live_gatehouse0123456789",
    STRIPE_WEBHOOK_SECRET: "whsec_test_gatehouse0123456789abcdef",
  };

  it("is refused in production at config load, naming the key", () => {
    const result = readPaymentsConfig({ ...keys, STRIPE_API_BASE: "http://127.0.0.1:12111" }, true);
    expect(result).toEqual({ ok: false, keys: ["STRIPE_API_BASE"] });
    expect(() =>
      getConfig({ ...env, ENVIRONMENT: "production", ...keys, STRIPE_API_BASE: "http://127.0.0.1:12111" }),
    ).toThrowError(
      expect.objectContaining({
        name: "ConfigError",
        message: expect.stringContaining("STRIPE_API_BASE"),
      }) as ConfigError,
    );
  });

  it("in test, points the SDK at the stand-in: checkout is served there and nothing reaches api.stripe.com", async () => {
    const standIn = "http://127.0.0.1:12111";
    route(standIn, (request) => billing.answer(request));
    route("https://api.stripe.com", () => {
      throw new Error("api.stripe.com must not be called");
    });
    const h = new PaymentsHarness({ ...PRO_ENV, STRIPE_API_BASE: standIn });
    const who = await buyer();
    const res = await post(h, "/api/v1/me/subscription/checkout", who.token);
    expect(res.status).toBe(200);
    expect(billing.customers.size).toBe(1);
    expect(readPaymentsConfig({ ...keys, STRIPE_API_BASE: "not a url" }, false)).toEqual({
      ok: false,
      keys: ["STRIPE_API_BASE"],
    });
  });
});
