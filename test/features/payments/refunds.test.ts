/**
 * Money going back: a host cancelling a paid event (every paid order refunded once, through the
 * queue), attendee refund requests under the event's policy, refunds and disputes reported by Stripe,
 * and revenue = captured − refunded.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { signTicketToken } from "../../../src/features/gate/token";
import { problemOf } from "../../helpers";
import { codeOfResponse, rows } from "../../support/db";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { createEvent, d1Tickets, hostWithToken } from "../events/helpers";
import { registerDevice, scan, scanBody, testKeyRing } from "../gate/helpers";
import { PaymentsHarness } from "./harness";
import {
  buyer,
  checkout,
  email,
  emailsTo,
  expectStats,
  orderStatus,
  PRICE,
  paid,
  paidEvent,
  paidOrder as paidOrderOf,
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

/** A buyer with a confirmed paid order of `quantity` tickets. */
const paidOrder = (h: PaymentsHarness, eventId: string, quantity = 1) => paidOrderOf(h, stripe, eventId, quantity);

/** A fresh QR token for a ticket, as its holder's app would show it. */
async function qrTokenFor(eventId: string, ticketId: string): Promise<string> {
  const { signer } = await testKeyRing();
  const now = Date.now();
  return signTicketToken(signer, { ticketId, eventId, issuedAt: now, expiresAt: now + 300_000 });
}

async function revenue(h: PaymentsHarness, eventId: string, token: string): Promise<number> {
  const res = await h.fetch(`/api/v1/events/${eventId}/analytics`, { token });
  expect(res.status).toBe(200);
  return ((await res.json()) as { revenue: number }).revenue;
}

describe("a host cancelling a paid event", () => {
  it("refunds every paid order exactly once through the queue, voids the tickets and emails the attendees", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent({ capacity: 10 });
    const orders = [await paidOrder(h, event.id, 2), await paidOrder(h, event.id), await paidOrder(h, event.id)];
    // A buyer still on Stripe's page when the event is cancelled, who pays afterwards.
    const pending = await buyer();
    const late = await checkout(h, stripe, event.id, pending.token);
    expect(await revenue(h, event.id, host.token)).toBe(4 * PRICE);

    const res = await h.fetch(`/api/v1/events/${event.id}/cancel`, { method: "POST", token: host.token });
    expect(res.status).toBe(200);
    const jobs = h.produced.filter((m) => (m as { refundId?: string }).refundId);
    expect(jobs).toHaveLength(3);
    // At-least-once delivery: every refund message arrives twice.
    for (const job of jobs) h.enqueue("gatehouse-webhooks", job);
    await h.webhook(paid(stripe, late.session.id));
    await h.drain();

    const created = stripe.created("/v1/refunds");
    expect(created).toHaveLength(4);
    const pis = [...orders.map((o) => o.pi), stripe.session(late.session.id).payment_intent];
    expect(new Set(created.map((c) => c.params.payment_intent))).toEqual(new Set(pis));
    for (const call of stripe.callsTo("POST", "/v1/refunds")) {
      expect(call.idempotencyKey).toBe(`refund:${call.params.payment_intent}`);
    }
    for (const { who, order } of orders) {
      expect(await orderStatus(order.id)).toBe("refunded");
      expect((await ticketsOf(event.id, order.id)).every((t) => t.status === "void")).toBe(true);
      const address = await email(who.id);
      expect(await emailsTo(address, "event-cancelled")).toHaveLength(1);
      expect(await emailsTo(address, "refund-issued")).toHaveLength(1);
    }
    expect(await orderStatus(late.order.id)).toBe("refunded");
    expect(await emailsTo(await email(pending.id), "refund-issued")).toHaveLength(1);
    expect((await d1Tickets(event.id)).filter((t) => t.status === "active")).toEqual([]);
    expect(await revenue(h, event.id, host.token)).toBe(0);
  });
});

describe("revenue", () => {
  it("is captured minus refunded: a partial refund lowers it, a full one voids the tickets and frees the seats", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent({ capacity: 3 });
    const a = await paidOrder(h, event.id);
    const b = await paidOrder(h, event.id);
    expect(await revenue(h, event.id, host.token)).toBe(2 * PRICE);

    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(a.pi, 500)));
    await h.drain();
    expect(await revenue(h, event.id, host.token)).toBe(2 * PRICE - 500);
    expect(await paymentsOf(a.order.id)).toMatchObject([{ amount_refunded: 500, status: "partially_refunded" }]);
    expect(await orderStatus(a.order.id)).toBe("confirmed");

    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(b.pi, PRICE)));
    await h.drain();
    expect(await revenue(h, event.id, host.token)).toBe(PRICE - 500);
    expect(await orderStatus(b.order.id)).toBe("refunded");
    expect((await ticketsOf(event.id, b.order.id)).map((t) => t.status)).toEqual(["void"]);
    await expectStats(event.id, { sold: 1, held: 0, remaining: 2 });
  });
});

describe("POST /api/v1/orders/:id/refund", () => {
  it("within the policy (default: until 48 h before the start) takes the tickets out of the gate's reach at once and refunds through the queue", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent({ capacity: 2 });
    const { who, order, pi } = await paidOrder(h, event.id, 2);

    const res = await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      order: { status: string };
      tickets: { id: string; status: string }[];
      refund: { status: string; amount: number };
    };
    expect(body).toMatchObject({
      order: { status: "confirmed" },
      tickets: [{ status: "refunding" }, { status: "refunding" }],
      refund: { status: "pending", amount: 2 * PRICE },
    });
    // Until the money is on its way back the seats stay sold, and a scan is refused as refund_pending.
    await expectStats(event.id, { sold: 2, held: 0, remaining: 0 });
    const device = await registerDevice(event.id, host.token);
    const token = await qrTokenFor(event.id, body.tickets[0]?.id as string);
    expect(await scanBody(await scan(device.token, token))).toMatchObject({
      result: "refund_pending",
      ticket: { status: "refunding" },
    });

    await h.drain();
    expect(stripe.created("/v1/refunds").map((c) => c.params.payment_intent)).toEqual([pi]);
    expect(await orderStatus(order.id)).toBe("refunded");
    expect((await ticketsOf(event.id, order.id)).map((t) => t.status)).toEqual(["void", "void"]);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });
    expect((await scanBody(await scan(device.token, token))).result).toBe("not_active");
    expect(await paymentsOf(order.id)).toMatchObject([{ amount_refunded: 2 * PRICE, status: "refunded" }]);
    expect(await emailsTo(await email(who.id), "refund-issued")).toHaveLength(1);
    expect(await revenue(h, event.id, host.token)).toBe(0);

    // Asking again answers the same, and asks Stripe for nothing more.
    const again = await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token });
    expect(again.status).toBe(202);
    expect(((await again.json()) as { refund: { status: string } }).refund.status).toBe("succeeded");
    await h.drain();
    expect(stripe.callsTo("POST", "/v1/refunds")).toHaveLength(1);
  });

  it("is refused inside the cut-off, when the host's policy says no, for someone else's order and for free orders", async () => {
    const h = new PaymentsHarness();
    const soon = new Date(Date.now() + 47 * 3600 * 1000);
    const { event: close } = await paidEvent({
      startsAt: soon.toISOString(),
      endsAt: new Date(soon.getTime() + 3600 * 1000).toISOString(),
    });
    const tooLate = await paidOrder(h, close.id);
    const res = await h.fetch(`/api/v1/orders/${tooLate.order.id}/refund`, {
      method: "POST",
      token: tooLate.who.token,
    });
    expect(res.status).toBe(422);
    expect(await codeOfResponse(res)).toBe("refund-not-allowed");

    const { host, event } = await paidEvent();
    const policy = await h.fetch(`/api/v1/events/${event.id}/refund-policy`, {
      method: "PUT",
      token: host.token,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refundable: false, cutoffHours: 0 }),
    });
    expect(policy.status).toBe(200);
    expect(await (await h.fetch(`/api/v1/events/${event.id}/refund-policy`)).json()).toEqual({
      refundable: false,
      cutoffHours: 0,
      custom: true,
    });
    const mine = await paidOrder(h, event.id);
    const refused = await h.fetch(`/api/v1/orders/${mine.order.id}/refund`, { method: "POST", token: mine.who.token });
    expect(refused.status).toBe(422);
    const stranger = await buyer();
    const foreign = await h.fetch(`/api/v1/orders/${mine.order.id}/refund`, { method: "POST", token: stranger.token });
    expect(foreign.status).toBe(404);
    const notHost = await h.fetch(`/api/v1/events/${event.id}/refund-policy`, {
      method: "PUT",
      token: stranger.token,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refundable: true, cutoffHours: 1 }),
    });
    expect(notHost.status).toBe(403);

    const freeHost = await hostWithToken();
    const free = await createEvent(freeHost.token, { capacity: 5 });
    const claim = await h.order(free.id, stranger.token, 1);
    const freeOrder = ((await claim.json()) as { order: { id: string } }).order;
    const freeRefund = await h.fetch(`/api/v1/orders/${freeOrder.id}/refund`, {
      method: "POST",
      token: stranger.token,
    });
    expect(freeRefund.status).toBe(409);

    expect(stripe.callsTo("POST", "/v1/refunds")).toHaveLength(0);
    expect(await orderStatus(tooLate.order.id)).toBe("confirmed");
    expect(await orderStatus(mine.order.id)).toBe("confirmed");
  });
});

describe("refunds close when check-in opens", () => {
  const json = (token: string, method: string, body: unknown) => ({
    method,
    token,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  /** The problem's code and field errors (one read of the body). */
  const refusal = async (res: Response) => {
    const body = (await problemOf(res)) as { type: string; errors?: { path: string; message: string }[] };
    return { status: res.status, code: body.type.split("/").pop(), errors: body.errors };
  };

  it("a host's policy that would keep refunds open after check-in opens is refused, and so is moving the doors or the start past it", async () => {
    const h = new PaymentsHarness();
    const start = Date.now() + 7 * 24 * 3600 * 1000;
    const { host, event } = await paidEvent({
      startsAt: new Date(start).toISOString(),
      endsAt: new Date(start + 3 * 3600 * 1000).toISOString(),
    });
    const policyPath = `/api/v1/events/${event.id}/refund-policy`;

    // Doors open 2 h before the start (the default): refunds until 1 h before would outlive them.
    const late = await h.fetch(policyPath, json(host.token, "PUT", { refundable: true, cutoffHours: 1 }));
    expect(await refusal(late)).toEqual({
      status: 400,
      code: "validation-failed",
      errors: [{ path: "cutoffHours", message: expect.stringMatching(/^must be at least 2: refunds must close/) }],
    });
    expect(await (await h.fetch(policyPath)).json()).toEqual({ refundable: true, cutoffHours: 48, custom: false });

    expect((await h.fetch(policyPath, json(host.token, "PUT", { refundable: true, cutoffHours: 2 }))).status).toBe(200);
    expect((await h.fetch(policyPath, json(host.token, "PUT", { refundable: false, cutoffHours: 0 }))).status).toBe(
      200,
    );
    expect((await h.fetch(policyPath, json(host.token, "PUT", { refundable: true, cutoffHours: 2 }))).status).toBe(200);

    const edit = (body: Record<string, unknown>) =>
      h.fetch(`/api/v1/events/${event.id}`, json(host.token, "PATCH", { version: event.version, ...body }));
    const earlierDoors = await edit({ checkInOpensAt: new Date(start - 3 * 3600 * 1000).toISOString() });
    expect(await refusal(earlierDoors)).toMatchObject({
      status: 400,
      code: "validation-failed",
      errors: [{ path: "checkInOpensAt" }],
    });
    const laterStart = await edit({ startsAt: new Date(start + 3600 * 1000).toISOString() });
    expect(await refusal(laterStart)).toMatchObject({
      status: 400,
      code: "validation-failed",
      errors: [{ path: "startsAt" }],
    });
    const [stored] = await rows<{ starts_at: number; check_in_opens_at: number; version: number }>(
      "SELECT starts_at, check_in_opens_at, version FROM events WHERE id = ?",
      event.id,
    );
    expect(stored).toEqual({ starts_at: start, check_in_opens_at: start - 2 * 3600 * 1000, version: event.version });
    // Moving both together keeps the rule: accepted.
    const both = await edit({
      startsAt: new Date(start + 3600 * 1000).toISOString(),
      endsAt: new Date(start + 4 * 3600 * 1000).toISOString(),
      checkInOpensAt: new Date(start - 3600 * 1000).toISOString(),
    });
    expect(both.status).toBe(200);
  });

  it("the default policy ends when check-in opens, even when the host opens the doors earlier than its 48 h", async () => {
    const h = new PaymentsHarness();
    const start = Date.now() + 60 * 3600 * 1000;
    const opens = start - 72 * 3600 * 1000;
    const { event } = await paidEvent({
      startsAt: new Date(start).toISOString(),
      endsAt: new Date(start + 3600 * 1000).toISOString(),
      checkInOpensAt: new Date(opens).toISOString(),
    });
    const { who, order } = await paidOrder(h, event.id);

    const res = await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.type).toMatch(/\/refund-not-allowed$/);
    expect(problem.refundableUntil).toBe(new Date(opens).toISOString());
    await h.drain();
    expect(stripe.callsTo("POST", "/v1/refunds")).toHaveLength(0);
    expect(await rows("SELECT id FROM refunds WHERE order_id = ?", order.id)).toEqual([]);
    expect((await ticketsOf(event.id, order.id)).map((t) => t.status)).toEqual(["active"]);
  });
});

describe("refund jobs that fail", () => {
  it("a transient Stripe error is retried on the schedule; a permanent one is dead-lettered at once", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const a = await paidOrder(h, event.id);
    const b = await paidOrder(h, event.id);

    stripe.script = (call) =>
      call.path === "/v1/refunds" && call.params.payment_intent === a.pi
        ? { status: 500, type: "api_error", message: "Something went wrong on Stripe's end." }
        : call.path === "/v1/refunds" && call.params.payment_intent === b.pi
          ? {
              status: 400,
              type: "invalid_request_error",
              code: "amount_too_large",
              message: "Refund amount is greater than the charge.",
            }
          : undefined;
    for (const o of [a, b]) {
      expect(
        (await h.fetch(`/api/v1/orders/${o.order.id}/refund`, { method: "POST", token: o.who.token })).status,
      ).toBe(202);
    }
    await h.drain();

    const retried = h.settled.filter((s) => s.outcome === "retry");
    expect(retried).toHaveLength(1);
    expect(retried[0]?.delaySeconds).toBeGreaterThanOrEqual(60);
    expect(retried[0]?.delaySeconds).toBeLessThanOrEqual(66);
    const jobs = await rows<{ payment_intent: string; status: string; attempts: number; last_error: string }>(
      "SELECT payment_intent, status, attempts, last_error FROM refunds WHERE payment_intent IN (?, ?)",
      a.pi,
      b.pi,
    );
    expect(jobs.find((j) => j.payment_intent === a.pi)).toMatchObject({ status: "pending", attempts: 1 });
    expect(jobs.find((j) => j.payment_intent === b.pi)).toMatchObject({ status: "dead_letter" });
    // The transient failure may have refunded: its ticket stays out of reach. Stripe's refusal gives b's back.
    expect((await ticketsOf(event.id, a.order.id)).map((t) => t.status)).toEqual(["refunding"]);
    expect((await ticketsOf(event.id, b.order.id)).map((t) => t.status)).toEqual(["active"]);
    expect(await orderStatus(b.order.id)).toBe("confirmed");
    await expectStats(event.id, { sold: 2, held: 0, remaining: 1 });
    // Asking again cannot change Stripe's answer, and must not reserve for a job nobody works.
    const again = await h.fetch(`/api/v1/orders/${b.order.id}/refund`, { method: "POST", token: b.who.token });
    expect(again.status).toBe(409);
    expect(await codeOfResponse(again)).toBe("conflict");
    expect((await ticketsOf(event.id, b.order.id)).map((t) => t.status)).toEqual(["active"]);
    const [letter] = await rows<{ source: string; ref_id: string; reason: string }>(
      "SELECT source, ref_id, reason FROM dead_letters WHERE reason LIKE ? AND ref_id LIKE 'refund:%' ORDER BY created_at DESC",
      "%amount_too_large%",
    );
    expect(letter).toMatchObject({ source: "stripe-webhook" });
  });
});

describe("charge.dispute.created", () => {
  it("flags the order and emails the host once, however often it is delivered", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent();
    const { order, pi } = await paidOrder(h, event.id);
    const dispute = {
      id: `dp_${crypto.randomUUID()}`,
      object: "dispute",
      amount: PRICE,
      currency: "eur",
      charge: stripe.chargeObject(pi).id,
      payment_intent: pi,
      metadata: {},
      reason: "fraudulent",
      status: "needs_response",
    };
    await h.webhook(stripeEvent("charge.dispute.created", dispute));
    await h.webhook(stripeEvent("charge.dispute.created", dispute));
    await h.drain();
    expect((await paymentsOf(order.id))[0]?.disputed_at).toEqual(expect.any(Number));
    expect(await rows("SELECT reason, status FROM payment_disputes WHERE id = ?", dispute.id)).toEqual([
      { reason: "fraudulent", status: "needs_response" },
    ]);
    const mails = await emailsTo(host.email, "payment-disputed");
    expect(mails).toHaveLength(1);
    expect(mails[0]?.text).toContain(order.id);
  });
});
