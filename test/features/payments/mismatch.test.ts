/**
 * A paid Checkout Session that is not what we sold for its order — another amount, another currency,
 * the other Stripe mode, or not the session we created for the order it names — is never fulfilled:
 * no tickets, its hold released, refunded once at Stripe (however often the capture is re-delivered),
 * and flagged for operators (a `checkout_mismatches` row, an audit entry, a warning).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rows } from "../../support/db";
import { type CapturedLogs, captureLogs } from "../../support/logs";
import { type FakeStripe, type StripeEventJson, stripeEvent, useFakeStripe } from "../../support/stripe";
import { d1Tickets, inventory } from "../events/helpers";
import { PaymentsHarness } from "./harness";
import { buyer, checkout, email, emailsTo, expectStats, orderStatus, PRICE, paidEvent, paymentsOf } from "./helpers";

let stripe: FakeStripe;
let logs: CapturedLogs;
beforeEach(() => {
  stripe = useFakeStripe();
  logs = captureLogs();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const LIVE_KEY = "sk_live_gatehouse0123456789";

type Capture = StripeEventJson | string;

/**
 * Stripe's delivery of a capture, the way it can really arrive: posted twice (the second is a
 * duplicate), its queue message delivered twice, then the same session again under a new event id
 * (`again`), so the whole apply path runs a second time.
 */
async function deliverRepeatedly(h: PaymentsHarness, capture: Capture, again: Capture): Promise<void> {
  const first = await h.webhook(capture);
  expect(first.status).toBe(200);
  expect(await first.json()).toEqual({ received: true, duplicate: false });
  expect(await (await h.webhook(capture)).json()).toEqual({ received: true, duplicate: true });
  const [message] = h.pending.splice(0);
  if (!message) throw new Error("no message");
  await Promise.all([h.deliver([message]), h.deliver([{ ...message, messageId: `${message.messageId}-dup` }])]);
  await h.drain();
  expect((await h.webhook(again)).status).toBe(200);
  await h.drain();
}

/** A completed event for the session as Stripe now has it, optionally with changed fields. */
function completed(sessionId: string, change: Record<string, unknown> = {}): StripeEventJson {
  return stripeEvent("checkout.session.completed", { ...stripe.session(sessionId), ...change });
}

/**
 * The money went back exactly once and the session is flagged: one refunds.create for the payment
 * intent under its idempotency key, the job settled without touching any order, no payment recorded,
 * one flag row, one audit entry, a warning — and Stripe's `charge.refunded` for it is taken in stride.
 */
async function expectRefundedAndFlagged(
  h: PaymentsHarness,
  sessionId: string,
  flag: {
    order_id: string;
    event_id: string;
    ours: number;
    reasons: string[];
    amount: number;
    currency: string;
    livemode: number | null;
    userId: string;
  },
): Promise<void> {
  const pi = stripe.session(sessionId).payment_intent as string;
  const refunds = stripe.callsTo("POST", "/v1/refunds");
  expect(refunds).toHaveLength(1);
  expect(refunds[0]).toMatchObject({ idempotencyKey: `refund:${pi}`, params: { payment_intent: pi }, status: 200 });
  expect(stripe.refunds).toEqual([expect.objectContaining({ payment_intent: pi, amount: flag.amount })]);
  expect(await rows("SELECT reason, order_outcome, status FROM refunds WHERE payment_intent = ?", pi)).toEqual([
    { reason: "checkout-mismatch", order_outcome: "none", status: "succeeded" },
  ]);
  expect(await rows("SELECT 1 FROM payments WHERE payment_intent = ?", pi)).toEqual([]);

  const { userId, reasons, ...row } = flag;
  const flags = await rows<Record<string, unknown>>("SELECT * FROM checkout_mismatches WHERE id = ?", sessionId);
  expect(flags).toHaveLength(1);
  expect(flags[0]).toMatchObject({ ...row, payment_intent: pi });
  expect(JSON.parse(String(flags[0]?.reasons))).toEqual(reasons);
  const audits = await rows<{ user_id: string; outcome: string; detail: string }>(
    "SELECT user_id, outcome, detail FROM audit_log WHERE action = 'payments.checkout-mismatch' AND json_extract(detail, '$.sessionId') = ?",
    sessionId,
  );
  expect(audits).toHaveLength(1);
  expect(audits[0]).toMatchObject({ user_id: userId, outcome: "denied" });
  expect(JSON.parse(audits[0]?.detail ?? "{}")).toMatchObject({ paymentIntent: pi, orderId: flag.order_id, reasons });
  expect(logs.entries("paid checkout session does not match its order: not fulfilled, refunding", "warn")).not.toEqual(
    [],
  );

  // Stripe reports the refund back; a flagged payment has no ledger row to wait for.
  const refunded = stripeEvent("charge.refunded", stripe.chargeObject(pi));
  await h.webhook(refunded);
  await h.drain();
  expect(await rows("SELECT status, attempts FROM stripe_events WHERE id = ?", refunded.id)).toEqual([
    { status: "ignored", attempts: 0 },
  ]);
  expect(stripe.callsTo("POST", "/v1/refunds")).toHaveLength(1);
  expect(h.settled.filter((s) => s.outcome === "retry")).toEqual([]);
}

/** The order was not fulfilled and its hold is gone: released in its object and in D1, no tickets. */
async function expectReleasedWithoutTickets(eventId: string, orderId: string, buyerId: string): Promise<void> {
  expect((await inventory(eventId).getOrder(orderId))?.order.status).toBe("released");
  expect(await orderStatus(orderId)).toBe("released");
  expect((await inventory(eventId).getOrder(orderId))?.tickets).toEqual([]);
  expect((await d1Tickets(eventId)).filter((t) => t.order_id === orderId)).toEqual([]);
  expect(await paymentsOf(orderId)).toEqual([]);
  expect(await emailsTo(await email(buyerId), "order-confirmed")).toEqual([]);
}

describe("checkout.session.completed that does not match its order", () => {
  it("another amount than the order's: not confirmed, hold released, refunded once, flagged `amount`", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token, 2);
    expect(order).toMatchObject({ amount: 2 * PRICE, currency: "EUR" });
    // Stripe captured less than the order costs (a session changed after we created it).
    stripe.session(session.id).amount_total = 500;
    stripe.pay(session.id);

    await deliverRepeatedly(h, completed(session.id), completed(session.id));

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 3 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["amount"],
      amount: 500,
      currency: "EUR",
      livemode: 0,
      userId: who.id,
    });
    expect(
      await rows("SELECT expected_amount, expected_currency FROM checkout_mismatches WHERE id = ?", session.id),
    ).toEqual([{ expected_amount: 2 * PRICE, expected_currency: "EUR" }]);
  });

  it("another currency (same number, Stripe's lower case): not confirmed, refunded once, flagged `currency`", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    expect(stripe.session(session.id).currency).toBe("eur");
    stripe.session(session.id).currency = "usd";
    stripe.pay(session.id);

    await deliverRepeatedly(h, completed(session.id), completed(session.id));

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["currency"],
      amount: PRICE,
      currency: "USD",
      livemode: 0,
      userId: who.id,
    });
  });

  it("a test-mode payment on a live deployment (sk_live_ key): not confirmed, refunded once, flagged `livemode`", async () => {
    const h = new PaymentsHarness({ STRIPE_SECRET_KEY: LIVE_KEY });
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    stripe.pay(session.id);
    expect(stripe.session(session.id).livemode).toBe(false);

    await deliverRepeatedly(h, completed(session.id), completed(session.id));

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["livemode"],
      amount: PRICE,
      currency: "EUR",
      livemode: 0,
      userId: who.id,
    });
  });

  it.each([
    { name: "a live session and event on a test-mode deployment", session: true, envelope: true, stored: 1 },
    { name: "an event whose mode disagrees with its session's", session: false, envelope: true, stored: null },
  ])("$name: not confirmed, refunded once, flagged `livemode`", async (mode) => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    stripe.pay(session.id);
    // The fixture types pin `livemode: false`; Stripe's JSON is what the endpoint reads.
    const live = () =>
      JSON.stringify({ ...completed(session.id, { livemode: mode.session }), livemode: mode.envelope }, null, 2);

    await deliverRepeatedly(h, live(), live());

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["livemode"],
      amount: PRICE,
      currency: "EUR",
      livemode: mode.stored,
      userId: who.id,
    });
  });

  it.each([
    { name: "client_reference_id names another order", field: "client_reference_id" },
    { name: "metadata.orderId names another order", field: "metadata.orderId" },
  ])(
    "our session whose $name: neither order confirmed, its own hold released, the other untouched, flagged `session-order`",
    async ({ field }) => {
      const h = new PaymentsHarness();
      const { event } = await paidEvent({ capacity: 3 });
      const payer = await buyer();
      const other = await buyer();
      const a = await checkout(h, stripe, event.id, payer.token);
      const b = await checkout(h, stripe, event.id, other.token);
      const s = stripe.session(a.session.id);
      if (field === "client_reference_id") s.client_reference_id = b.order.id;
      else s.metadata = { ...s.metadata, orderId: b.order.id };
      stripe.pay(a.session.id);

      await deliverRepeatedly(h, completed(a.session.id), completed(a.session.id));

      await expectReleasedWithoutTickets(event.id, a.order.id, payer.id);
      // The order it named is still the other buyer's live hold: not confirmed, not released.
      expect((await inventory(event.id).getOrder(b.order.id))?.order.status).toBe("held");
      expect((await inventory(event.id).getOrder(b.order.id))?.tickets).toEqual([]);
      expect(await paymentsOf(b.order.id)).toEqual([]);
      await expectStats(event.id, { sold: 0, held: 1, remaining: 2 });
      await expectRefundedAndFlagged(h, a.session.id, {
        order_id: a.order.id,
        event_id: event.id,
        ours: 1,
        reasons: ["session-order"],
        amount: PRICE,
        currency: "EUR",
        livemode: 0,
        userId: payer.id,
      });
    },
  );

  it("our session whose metadata names another event: not confirmed, hold released, flagged `session-order`", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const { event: elsewhere } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    const s = stripe.session(session.id);
    s.metadata = { ...s.metadata, eventId: elsewhere.id };
    stripe.pay(session.id);

    await deliverRepeatedly(h, completed(session.id), completed(session.id));

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    await expectStats(elsewhere.id, { sold: 0, held: 0, remaining: 2 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["session-order"],
      amount: PRICE,
      currency: "EUR",
      livemode: 0,
      userId: who.id,
    });
  });

  it("a paid session we never created, naming a held order at its exact price: not confirmed, the hold left alone, refunded once, flagged", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const victim = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, victim.token);
    // Same names, amount and currency as the order's own session; only its id is not one of ours.
    const foreign = `cs_test_foreign${crypto.randomUUID().replaceAll("-", "")}`;
    stripe.sessions.set(foreign, { ...stripe.session(session.id), id: foreign });
    stripe.pay(foreign);

    await deliverRepeatedly(h, completed(foreign), completed(foreign));

    // The order's own checkout is untouched: still held, its session still payable.
    expect((await inventory(event.id).getOrder(order.id))?.order.status).toBe("held");
    expect(await orderStatus(order.id)).toBe("held");
    expect(await d1Tickets(event.id)).toEqual([]);
    expect(await paymentsOf(order.id)).toEqual([]);
    expect(await rows("SELECT status FROM checkout_sessions WHERE id = ?", session.id)).toEqual([{ status: "open" }]);
    await expectStats(event.id, { sold: 0, held: 1, remaining: 1 });
    await expectRefundedAndFlagged(h, foreign, {
      order_id: order.id,
      event_id: event.id,
      ours: 0,
      reasons: ["session-order"],
      amount: PRICE,
      currency: "EUR",
      livemode: 0,
      userId: victim.id,
    });
  });

  it("our session stripped of its order names is still checked: not confirmed, hold released, refunded once", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    const s = stripe.session(session.id);
    s.client_reference_id = null;
    s.metadata = {};
    stripe.pay(session.id);

    await deliverRepeatedly(h, completed(session.id), completed(session.id));

    await expectReleasedWithoutTickets(event.id, order.id, who.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    await expectRefundedAndFlagged(h, session.id, {
      order_id: order.id,
      event_id: event.id,
      ours: 1,
      reasons: ["session-order"],
      amount: PRICE,
      currency: "EUR",
      livemode: 0,
      userId: who.id,
    });
  });
});
