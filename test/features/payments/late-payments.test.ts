/**
 * A payment that lands after its hold lapsed: the seats are taken again if they are free; if not, the
 * money goes back automatically — one refund at Stripe under its own idempotency key, the order marked
 * `refunded_sold_out`, the buyer emailed. Never an oversell, never a silent charge. Also: a second
 * payment for an already confirmed order is refunded as a duplicate.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rows } from "../../support/db";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { inventory, objectOrders } from "../events/helpers";
import { PaymentsHarness } from "./harness";
import {
  buyer,
  checkout,
  email,
  emailsTo,
  expectStats,
  lapseHold,
  orderStatus,
  PRICE,
  paid,
  paidEvent,
  paidOrder,
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

/**
 * A second Checkout Session of the same order, still open at Stripe (two tabs before the retry expired
 * it), recorded as retryCheckout records a new attempt: only sessions we created can pay for an order.
 */
async function twinSession(sessionId: string, orderId: string) {
  const twin = {
    ...stripe.session(sessionId),
    id: `${sessionId}_twin`,
    status: "open" as const,
    payment_intent: null,
  };
  stripe.sessions.set(twin.id, twin);
  await rows(
    `INSERT INTO checkout_sessions (id, order_id, attempt, event_id, user_id, amount, currency, url, idempotency_key,
       status, payment_status, expires_at, created_at, updated_at)
     SELECT ?, order_id, attempt + 1, event_id, user_id, amount, currency, NULL, ?, 'open', 'unpaid', expires_at,
       created_at, updated_at
     FROM checkout_sessions WHERE id = ?`,
    twin.id,
    `checkout:${orderId}:${PRICE}:EUR:2`,
    sessionId,
  );
  return twin;
}

describe("late payment after the hold expired", () => {
  it("with capacity left: the order is confirmed with its tickets", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token, 2);
    await lapseHold(event.id, order.id);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });

    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");
    expect(await ticketsOf(event.id, order.id)).toHaveLength(2);
    expect(stripe.callsTo("POST", "/v1/refunds")).toHaveLength(0);
    await expectStats(event.id, { sold: 2, held: 0, remaining: 0 });
  });

  it("with no capacity left: refunded once (one refunds.create with its idempotency key), refunded_sold_out, buyer emailed", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const late = await buyer();
    const first = await checkout(h, stripe, event.id, late.token);
    await lapseHold(event.id, first.order.id);
    // Someone else takes the freed seat and pays in time.
    const other = await buyer();
    const second = await checkout(h, stripe, event.id, other.token);
    await h.webhook(paid(stripe, second.session.id));
    await h.drain();
    expect(await orderStatus(second.order.id)).toBe("confirmed");

    // Now the first buyer's payment lands.
    const completed = paid(stripe, first.session.id);
    const pi = stripe.session(first.session.id).payment_intent as string;
    await h.webhook(completed);
    await h.drain();
    // A duplicate delivery of the refund job (Queues is at-least-once), and the same event again.
    const [job] = await rows<{ id: string; reason: string; idempotency_key: string; status: string }>(
      "SELECT * FROM refunds WHERE payment_intent = ?",
      pi,
    );
    expect(job).toMatchObject({ reason: "sold-out", idempotency_key: `refund:${pi}`, status: "succeeded" });
    h.enqueue("gatehouse-webhooks", { refundId: job?.id });
    h.enqueue("gatehouse-webhooks", { refundId: job?.id });
    expect((await h.webhook(completed)).status).toBe(200);
    await h.drain();

    const refundCalls = stripe.callsTo("POST", "/v1/refunds");
    expect(refundCalls).toHaveLength(1);
    expect(refundCalls[0]).toMatchObject({ idempotencyKey: `refund:${pi}`, params: { payment_intent: pi } });
    expect(stripe.refunds).toEqual([expect.objectContaining({ payment_intent: pi, amount: PRICE })]);

    expect(await orderStatus(first.order.id)).toBe("refunded_sold_out");
    expect((await objectOrders(event.id)).find((o) => o.id === first.order.id)?.status).toBe("refunded_sold_out");
    expect(await ticketsOf(event.id, first.order.id)).toEqual([]);
    expect(await paymentsOf(first.order.id)).toMatchObject([
      { amount: PRICE, amount_refunded: PRICE, status: "refunded" },
    ]);
    const mails = await emailsTo(await email(late.id), "refund-issued");
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toContain("€15.00");
    await expectStats(event.id, { sold: 1, held: 0, remaining: 0 });

    // Even once a seat frees up again, a refunded order can never be confirmed by a stray payment event.
    const otherPi = stripe.session(second.session.id).payment_intent as string;
    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(otherPi, PRICE)));
    await h.drain();
    await expectStats(event.id, { sold: 0, held: 0, remaining: 1 });
    const stray = await inventory(event.id).confirm({ orderId: first.order.id, paymentRef: pi });
    expect(stray).toMatchObject({ ok: false, code: "invalid-transition" });
    expect(await ticketsOf(event.id, first.order.id)).toEqual([]);
  });

  it("a second payment for an order another payment already confirmed is refunded as a duplicate; the tickets stay", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const { order, session } = await paidOrder(h, stripe, event.id);
    // A second session of the same order was paid too (e.g. two tabs before the retry expired it).
    const twin = await twinSession(session.id, order.id);
    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(twin.id)));
    await h.drain();

    const twinPi = stripe.session(twin.id).payment_intent as string;
    expect(stripe.callsTo("POST", "/v1/refunds").map((c) => [c.params.payment_intent, c.params.reason])).toEqual([
      [twinPi, "duplicate"],
    ]);
    expect(await orderStatus(order.id)).toBe("confirmed");
    expect((await ticketsOf(event.id, order.id)).map((t) => t.status)).toEqual(["active"]);
    const payments = await paymentsOf(order.id);
    expect(payments).toHaveLength(2);
    expect(payments.find((p) => p.payment_intent === twinPi)).toMatchObject({ amount_refunded: PRICE });
  });
  it("a late payment's sold-out refund that runs after another payment confirmed the order refunds that payment only: the order and its tickets stay", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const late = await buyer();
    const first = await checkout(h, stripe, event.id, late.token);
    const twin = await twinSession(first.session.id, first.order.id);
    await lapseHold(event.id, first.order.id);
    const other = await paidOrder(h, stripe, event.id);

    // The twin is paid while the event is sold out: a sold-out refund is queued, and waits (Stripe busy).
    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(twin.id)));
    await h.deliver(h.takeDue());
    const twinPi = stripe.session(twin.id).payment_intent as string;
    const [job] = await rows<{ id: string; reason: string }>("SELECT * FROM refunds WHERE payment_intent = ?", twinPi);
    expect(job).toMatchObject({ reason: "sold-out" });
    expect(h.pending.splice(0)).toHaveLength(1);

    // Meanwhile a seat frees and the first session's payment confirms the order.
    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(other.pi, PRICE)));
    await h.drain();
    await h.webhook(paid(stripe, first.session.id));
    await h.drain();
    const firstPi = stripe.session(first.session.id).payment_intent as string;
    expect(await orderStatus(first.order.id)).toBe("confirmed");

    // The waiting refund runs: the twin's money goes back, the order stands on the first payment.
    h.enqueue("gatehouse-webhooks", { refundId: job?.id });
    await h.drain();
    expect(stripe.refunds.map((r) => r.payment_intent)).toEqual([twinPi]);
    expect(await orderStatus(first.order.id)).toBe("confirmed");
    expect((await ticketsOf(event.id, first.order.id)).map((t) => t.status)).toEqual(["active"]);
    expect((await inventory(event.id).getOrder(first.order.id))?.order.paymentRef).toBe(firstPi);
    expect((await paymentsOf(first.order.id)).map((p) => [p.payment_intent, p.amount_refunded]).sort()).toEqual(
      [
        [firstPi, 0],
        [twinPi, PRICE],
      ].sort(),
    );
    await expectStats(event.id, { sold: 1, held: 0, remaining: 0 });
  });

  it("a second session paid after the order was refunded: its payment is refunded too; the order stays refunded, no ticket comes back", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const { who, order, session, pi } = await paidOrder(h, stripe, event.id);
    const twin = await twinSession(session.id, order.id);
    expect((await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token })).status).toBe(202);
    await h.drain();
    expect(await orderStatus(order.id)).toBe("refunded");

    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(twin.id)));
    await h.drain();
    const twinPi = stripe.session(twin.id).payment_intent as string;
    expect(stripe.callsTo("POST", "/v1/refunds").map((c) => c.params.payment_intent)).toEqual([pi, twinPi]);
    const [job] = await rows<{ reason: string; order_outcome: string; status: string }>(
      "SELECT reason, order_outcome, status FROM refunds WHERE payment_intent = ?",
      twinPi,
    );
    expect(job).toEqual({ reason: "order-cancelled", order_outcome: "refunded", status: "succeeded" });
    expect(await orderStatus(order.id)).toBe("refunded");
    expect((await ticketsOf(event.id, order.id)).map((t) => t.status)).toEqual(["void"]);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 3 });
    expect(await paymentsOf(order.id)).toEqual(
      expect.arrayContaining([expect.objectContaining({ payment_intent: twinPi, amount_refunded: PRICE })]),
    );
  });
});
