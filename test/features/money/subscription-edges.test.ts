/**
 * The Pro subscription's edges: a refusal (not an outage) at Stripe, events about nobody we know or
 * in a status we do not model, the older invoice shape, and a reconciliation whose customer listing
 * fails. Each is answered without writing a subscription row it could not vouch for.
 */
import { env } from "cloudflare:workers";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { stateOf } from "../../../src/features/money";
import { rows } from "../../support/db";
import { route } from "../../support/fetch-router";
import { captureLogs } from "../../support/logs";
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

const inboxStatus = async (eventId: string) =>
  (await rows<{ status: string }>("SELECT status FROM stripe_events WHERE id = ?", eventId))[0]?.status;
const subRows = (id: string) => rows("SELECT * FROM subscriptions WHERE id = ?", id);

async function deliver(h: PaymentsHarness, event: ReturnType<typeof stripeEvent>) {
  expect((await h.webhook(event)).status).toBe(200);
  await h.drain();
  return inboxStatus(event.id);
}

describe("checkout refused by Stripe", () => {
  it("a 400 from Stripe is 502 'refused', without Retry-After, logged as an error", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const logs = captureLogs();
    route("https://api.stripe.com", () =>
      Response.json(
        { error: { type: "invalid_request_error", code: "parameter_invalid", message: "No such price" } },
        { status: 400 },
      ),
    );
    const res = await h.fetch("/api/v1/me/subscription/checkout", { method: "POST", token: who.token });
    expect(res.status).toBe(502);
    expect(res.headers.get("Retry-After")).toBeNull();
    const body = (await res.json()) as { type: string; detail: string };
    expect(body.type).toMatch(/payment-provider-error$/);
    expect(body.detail).toBe("The payment provider refused the request.");
    expect(logs.entries().some((e) => e.level === "error" && /failed at Stripe/.test(String(e.msg)))).toBe(true);
    expect(await rows("SELECT 1 FROM subscriptions WHERE user_id = ?", who.id)).toEqual([]);
  });
});

describe("billing events about nobody we know", () => {
  it("a subscription whose customer and metadata name no user is ignored and stores nothing", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const logs = captureLogs();
    const sub = billing.createSubscription("cus_test_stranger");
    const status = await deliver(h, stripeEvent("customer.subscription.created", sub));
    expect(status).toBe("ignored");
    expect(await subRows(sub.id)).toEqual([]);
    expect(logs.entries("billing event for a customer we do not know", "warn")).toHaveLength(1);
  });

  it("a subscription whose metadata names a user that does not exist is ignored, nothing stored", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const sub = billing.createSubscription("cus_test_ghost", { metadata: { userId: "usr_does_not_exist" } });
    expect(await deliver(h, stripeEvent("customer.subscription.updated", sub))).toBe("ignored");
    expect(await subRows(sub.id)).toEqual([]);
  });

  it("a subscription in a status Gatehouse does not model is ignored", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const sub = billing.createSubscription("cus_test_odd", { metadata: { userId: who.id } });
    const odd = { ...sub, status: "frozen" } as unknown as Stripe.Subscription;
    expect(await deliver(h, stripeEvent("customer.subscription.updated", odd))).toBe("ignored");
    expect(await subRows(sub.id)).toEqual([]);
  });

  it("an invoice that belongs to no subscription is ignored without asking Stripe", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const invoice = { id: "in_test_one_off", object: "invoice", customer: "cus_x", parent: null, status: "paid" };
    expect(await deliver(h, stripeEvent("invoice.paid", invoice))).toBe("ignored");
    expect(billing.calls.filter((c) => c.path.startsWith("/v1/subscriptions"))).toEqual([]);
  });
});

describe("invoices and fetched states", () => {
  it("an invoice in the older shape (subscription at the top level) syncs that subscription", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const sub = billing.createSubscription("cus_test_legacy", { metadata: { userId: who.id } });
    const invoice = { id: "in_test_legacy", object: "invoice", customer: "cus_test_legacy", subscription: sub.id };
    expect(await deliver(h, stripeEvent("invoice.paid", invoice))).toBe("processed");
    expect(await subRows(sub.id)).toMatchObject([{ user_id: who.id, status: "active" }]);
  });

  it("a fetched subscription in a status Gatehouse does not model leaves the stored row as it was", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const sub = billing.createSubscription("cus_test_fetch", { metadata: { userId: who.id } });
    await deliver(h, stripeEvent("customer.subscription.created", sub, Math.floor(Date.now() / 1000) - 60));
    const [before] = await subRows(sub.id);
    expect(before).toMatchObject({ status: "active" });
    billing.update(sub.id, { status: "frozen" as Stripe.Subscription.Status });
    const invoice = billing.invoice(sub.id, false);
    expect(await deliver(h, stripeEvent("invoice.payment_failed", invoice))).toBe("processed");
    expect(await subRows(sub.id)).toEqual([before]);
  });
});

describe("stateOf", () => {
  it("reads an expanded customer, and tolerates a subscription without items or metadata", () => {
    const bare = {
      id: "sub_test_bare",
      status: "incomplete",
      customer: { id: "cus_test_expanded" },
      cancel_at_period_end: false,
    } as unknown as Stripe.Subscription;
    expect(stateOf(bare)).toEqual({
      id: "sub_test_bare",
      customer: "cus_test_expanded",
      userId: null,
      priceId: "",
      status: "incomplete",
      currentPeriodEnd: null,
      cancelAtPeriodEnd: false,
    });
    expect(stateOf({ ...bare, customer: null } as unknown as Stripe.Subscription)?.customer).toBe("");
  });
});

describe("reconciliation when Stripe fails", () => {
  it("a customer whose listing fails is counted as failed; the run is still recorded", async () => {
    const h = new PaymentsHarness(PRO_ENV);
    const who = await buyer();
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO billing_customers (user_id, stripe_customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)",
    )
      .bind(who.id, "cus_test_listing_fails", now, now)
      .run();
    const logs = captureLogs();
    route("https://api.stripe.com", (request) =>
      new URL(request.url).searchParams.get("customer") === "cus_test_listing_fails"
        ? Response.json({ error: { type: "api_error", message: "boom" } }, { status: 500 })
        : billing.answer(request),
    );
    await h.cron(RECONCILE_CRON);
    const [run] = await rows<{ summary: string }>(
      "SELECT summary FROM reconciliation_runs WHERE name = 'subscriptions'",
    );
    expect(JSON.parse(run?.summary ?? "{}").failed).toBeGreaterThanOrEqual(1);
    expect(logs.entries("listing a customer's subscriptions failed", "error")).toHaveLength(1);
  });
});
