/**
 * The webhook inbox end to end: signature checks on the raw body, one row per Stripe event id however
 * often and however concurrently it is delivered, per-object ordering, and the consumer applying each
 * event exactly once.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { freshIp, problemOf } from "../../helpers";
import { rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { type FakeStripe, signature, stripeEvent, useFakeStripe } from "../../support/stripe";
import { PaymentsHarness } from "./harness";
import {
  buyer,
  checkout,
  email,
  emailsTo,
  expectStats,
  orderStatus,
  paid,
  paidEvent,
  paymentsOf,
  ticketsOf,
} from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const inboxRow = (id: string) =>
  rows<{ id: string; status: string; attempts: number; object_id: string }>(
    "SELECT * FROM stripe_events WHERE id = ?",
    id,
  ).then((r) => r[0]);

describe("POST /api/v1/webhooks/stripe", () => {
  it("the same completed event 5 times at once, after an older expired one: one confirmation, one payment row, one email", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 5 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token, 2);
    expect(order).toMatchObject({ status: "held", quantity: 2, amount: 3000, currency: "EUR" });

    const now = Math.floor(Date.now() / 1000);
    const completed = paid(stripe, session.id, now);
    // An `expired` snapshot of the same session, older than the payment, delivered (and applied) first.
    const expired = stripeEvent(
      "checkout.session.expired",
      { ...session, status: "expired", payment_status: "unpaid" },
      now - 5,
    );
    expect((await h.webhook(expired)).status).toBe(200);
    await h.drain();
    expect(await orderStatus(order.id)).toBe("released");

    const answers = await Promise.all(Array.from({ length: 5 }, () => h.webhook(completed)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const receipts = (await Promise.all(answers.map((r) => r.json()))) as { duplicate: boolean }[];
    expect(receipts.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(h.produced).toEqual([{ eventId: expired.id }, { eventId: completed.id }]);

    // Queues may deliver the one message twice, even concurrently.
    const [message] = h.pending.splice(0);
    if (!message) throw new Error("no message");
    await Promise.all([h.deliver([message]), h.deliver([{ ...message, messageId: `${message.messageId}-dup` }])]);

    expect(await orderStatus(order.id)).toBe("confirmed");
    expect(await ticketsOf(event.id, order.id)).toHaveLength(2);
    const payments = await paymentsOf(order.id);
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({ payment_intent: session.payment_intent, amount: 3000, amount_refunded: 0 });
    expect(await emailsTo(await email(who.id), "order-confirmed")).toHaveLength(1);
    expect(await rows("SELECT id FROM stripe_events WHERE id IN (?, ?)", expired.id, completed.id)).toHaveLength(2);
    expect((await inboxRow(completed.id))?.status).toBe("processed");
    await expectStats(event.id, { sold: 2, held: 0, remaining: 3 });
  });

  it("refuses a stale signature (> 300 s) and a re-serialised body with 400 invalid-signature, storing nothing", async () => {
    const h = new PaymentsHarness();
    const logs = captureLogs();
    const event = stripeEvent("checkout.session.expired", {
      id: `cs_test_${crypto.randomUUID()}`,
      object: "checkout.session",
    });
    const payload = JSON.stringify(event, null, 2);
    const now = Math.floor(Date.now() / 1000);

    const stale = await h.webhook(payload, { header: await signature(payload, { timestamp: now - 301 }) });
    expect(stale.status).toBe(400);
    expect((await problemOf(stale)).type).toBe("https://gatehouse.events/problems/invalid-signature");

    // Same JSON, different bytes: the signature covers the raw body, not its meaning.
    const reserialised = await h.webhook(JSON.stringify(JSON.parse(payload)), { header: await signature(payload) });
    expect(reserialised.status).toBe(400);
    const unsigned = await h.fetch("/api/v1/webhooks/stripe", { method: "POST", body: payload });
    expect(unsigned.status).toBe(400);
    const otherSecret = await h.webhook(payload, {
      header: await signature(payload, { secret: "whsec_someone_elses_secret_0123456789" }),
    });
    expect(otherSecret.status).toBe(400);
    // The client learns nothing about why (the log does).
    expect((await problemOf(otherSecret)).detail).toBe("The webhook signature could not be verified.");

    expect(await inboxRow(event.id)).toBeUndefined();
    expect(h.produced).toEqual([]);
    const refused = logs.entries("stripe webhook refused", "warn");
    expect(refused).toHaveLength(4);
    expect(refused.some((e) => String(e.reason).includes("Timestamp outside the tolerance zone"))).toBe(true);

    // Inside the tolerance it is accepted: the boundary is Stripe's 300 s.
    const fresh = await h.webhook(payload, { header: await signature(payload, { timestamp: now - 290 }) });
    expect(fresh.status).toBe(200);
    expect(await inboxRow(event.id)).toMatchObject({
      status: "received",
      object_id: event.data.object && (event.data.object as { id: string }).id,
    });
  });

  it("accepts a header with several v1 signatures while a secret is rolled, and a second configured secret", async () => {
    const next = "whsec_test_rolled0123456789abcdef";
    const h = new PaymentsHarness({ STRIPE_WEBHOOK_SECRET: `${next}, whsec_test_gatehouse0123456789abcdef` });
    const event = stripeEvent("customer.created", { id: `cus_${crypto.randomUUID()}`, object: "customer" });
    const payload = JSON.stringify(event);
    const t = Math.floor(Date.now() / 1000);
    const unknown = await signature(payload, { timestamp: t, secret: "whsec_test_retired0123456789abcdef" });
    const current = await signature(payload, { timestamp: t, secret: next });
    const both = `${unknown},${current.split(",").find((p) => p.startsWith("v1="))}`;
    expect(both.match(/v1=/g)).toHaveLength(2);
    expect((await h.webhook(payload, { header: both })).status).toBe(200);

    const older = stripeEvent("customer.created", { id: `cus_${crypto.randomUUID()}`, object: "customer" });
    expect((await h.webhook(older)).status).toBe(200);
    await h.drain();
    // Not an event Gatehouse acts on: recorded as ignored.
    expect((await inboxRow(event.id))?.status).toBe("ignored");
  });

  it("applies events per Stripe object in order: an older snapshot after a newer one is recorded and skipped", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    const t = Math.floor(Date.now() / 1000);
    const completed = paid(stripe, session.id, t);
    await h.webhook(completed);
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");

    const stale = stripeEvent(
      "checkout.session.expired",
      { ...session, status: "expired", payment_status: "unpaid" },
      t - 60,
    );
    await h.webhook(stale);
    await h.drain();
    expect((await inboxRow(stale.id))?.status).toBe("skipped");
    expect(await orderStatus(order.id)).toBe("confirmed");
    expect(await rows("SELECT last_event_id FROM stripe_object_cursors WHERE object_id = ?", session.id)).toEqual([
      { last_event_id: completed.id },
    ]);

    // Partial refunds of one charge, delivered newest first: the older snapshot cannot lower the total.
    const pi = session.payment_intent as string;
    const newer = stripeEvent("charge.refunded", stripe.refundInDashboard(pi, 1000), t + 20);
    const older = stripeEvent(
      "charge.refunded",
      { ...stripe.chargeObject(pi), amount_refunded: 400, refunded: false },
      t + 10,
    );
    await h.webhook(newer);
    await h.drain();
    await h.webhook(older);
    await h.drain();
    expect((await inboxRow(older.id))?.status).toBe("skipped");
    expect(await paymentsOf(order.id)).toMatchObject([{ amount_refunded: 1000, status: "partially_refunded" }]);
    // Partial: the tickets stay.
    expect((await ticketsOf(event.id, order.id)).map((t) => t.status)).toEqual(["active"]);
  });

  it("answers 503 payments-not-configured in development without Stripe keys", async () => {
    const { STRIPE_SECRET_KEY: _k, STRIPE_WEBHOOK_SECRET: _s, ...rest } = env;
    const h = new PaymentsHarness({
      ...rest,
      ENVIRONMENT: "development",
      STRIPE_SECRET_KEY: "",
      STRIPE_WEBHOOK_SECRET: "",
    });
    const res = await h.webhook(stripeEvent("customer.created", { id: "cus_x", object: "customer" }));
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toMatch(/payments-not-configured$/);
  });

  it("is limited per address by its own policy, not the per-browser `api` one (Stripe sends from a few addresses)", async () => {
    const h = new PaymentsHarness({
      RATE_LIMITS: '{"api":{"limit":3,"windowSeconds":60},"stripe-webhook":{"limit":6,"windowSeconds":60}}',
    });
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const payload = JSON.stringify(stripeEvent("customer.created", { id: `cus_${i}`, object: "customer" }));
      const res = await h.fetch("/api/v1/webhooks/stripe", {
        method: "POST",
        headers: { "Stripe-Signature": await signature(payload), "CF-Connecting-IP": ip },
        body: payload,
      });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
    const api = [];
    for (let i = 0; i < 4; i++)
      api.push((await h.fetch("/api/v1/events", { headers: { "CF-Connecting-IP": ip } })).status);
    expect(api).toEqual([200, 200, 200, 429]);
  });

  it("is documented in the OpenAPI document with the payments routes", async () => {
    const doc = (await (await new PaymentsHarness().fetch("/openapi.json")).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/webhooks/stripe",
        "/api/v1/orders/{id}/checkout",
        "/api/v1/orders/{id}/refund",
        "/api/v1/events/{id}/refund-policy",
      ]),
    );
  });

  it("delayed payment methods: completed-but-unpaid keeps the hold; async success confirms, async failure releases", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const good = await checkout(h, stripe, event.id, (await buyer()).token);
    const bad = await checkout(h, stripe, event.id, (await buyer()).token);
    for (const { session } of [good, bad]) {
      const s = stripe.session(session.id);
      s.status = "complete";
      await h.webhook(stripeEvent("checkout.session.completed", { ...s, payment_status: "unpaid" }));
    }
    await h.drain();
    expect([await orderStatus(good.order.id), await orderStatus(bad.order.id)]).toEqual(["held", "held"]);

    const settled = stripe.pay(good.session.id);
    await h.webhook(stripeEvent("checkout.session.async_payment_succeeded", settled));
    await h.webhook(
      stripeEvent("checkout.session.async_payment_failed", {
        ...stripe.session(bad.session.id),
        payment_status: "unpaid",
      }),
    );
    await h.drain();
    expect(await orderStatus(good.order.id)).toBe("confirmed");
    expect(await paymentsOf(good.order.id)).toHaveLength(1);
    expect(await orderStatus(bad.order.id)).toBe("released");
    await expectStats(event.id, { sold: 1, held: 0, remaining: 1 });
  });
});
