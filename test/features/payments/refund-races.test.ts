/**
 * A refund racing the gate, through the real Worker and queue: refund jobs (as an attendee's request
 * stores them) delivered while their tickets are being scanned. The event's inventory decides before
 * Stripe is asked, so each ticket is admitted or refunded, never both; checked in the object's rows,
 * the D1 projection, the refund ledger and the fake Stripe's refund calls.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { signTicketToken } from "../../../src/features/gate/token";
import { queueRefunds } from "../../../src/features/payments/refunds";
import { objectRows, rows } from "../../support/db";
import { route } from "../../support/fetch-router";
import { type FakeStripe, STRIPE_API, useFakeStripe } from "../../support/stripe";
import { buyers, d1Orders, d1Tickets, HOUR, inventory, objectOrders, objectTickets } from "../events/helpers";
import { registerDevice, type ScanBody, scanBody, scanRaised, testKeyRing } from "../gate/helpers";
import { type Delivery, PaymentsHarness } from "./harness";
import { type CheckoutBody, PRICE, paid, paidEvent } from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const N = 50;

/** A paid event whose check-in opened an hour ago, with N confirmed one-ticket orders of N buyers. */
async function soldAtTheGate(h: PaymentsHarness) {
  const start = Date.now() + HOUR;
  const { host, event } = await paidEvent({
    capacity: N,
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(start + 3 * HOUR).toISOString(),
  });
  const people = await buyers(N);
  const created = await Promise.all(people.map((p) => h.order(event.id, p.token, 1)));
  expect(created.map((r) => r.status)).toEqual(Array(N).fill(201));
  const bodies = (await Promise.all(created.map((r) => r.json()))) as CheckoutBody[];
  for (const b of bodies) await h.webhook(paid(stripe, stripe.sessionByUrl(b.checkoutUrl).id));
  await h.drain();

  const { signer } = await testKeyRing();
  const orders = await Promise.all(
    bodies.map(async (b) => {
      const current = await inventory(event.id).getOrder(b.order.id);
      const ticketId = current?.tickets[0]?.id;
      if (current?.order.status !== "confirmed" || !ticketId) throw new Error(`order ${b.order.id} not confirmed`);
      const now = Date.now();
      const token = await signTicketToken(signer, {
        ticketId,
        eventId: event.id,
        issuedAt: now,
        expiresAt: now + 300_000,
      });
      return { orderId: b.order.id, ticketId, pi: current.order.paymentRef as string, token };
    }),
  );
  return { host, event, orders };
}

type Sold = Awaited<ReturnType<typeof soldAtTheGate>>["orders"][number];

/**
 * How a ticket's scan meets its refund job: started together (whichever reaches the object first);
 * while Stripe is being asked for the money (Stripe answers once the scan has); or once the holder is
 * in (the job arrives after the admission).
 */
const MODES = ["together", "during-stripe", "after-admission"] as const;

/**
 * Holds each Stripe refund call of a `during-stripe` ticket until that ticket's scan has answered: the
 * fake Stripe itself still answers, a little later, as a slow network would.
 */
function scanWhileStripeRefunds(
  byPi: Map<string, Sold & { mode: (typeof MODES)[number] }>,
  scan: (o: Sold) => Promise<ScanBody>,
) {
  const fired = new Map<string, Promise<ScanBody>>();
  // Stripe's route, answered by the fake Stripe itself after the hold.
  route(STRIPE_API, async (request) => {
    const url = new URL(request.url);
    if (url.pathname === "/v1/refunds") {
      const body = new TextDecoder().decode(await request.clone().arrayBuffer());
      const pi = new URLSearchParams(body).get("payment_intent") ?? "";
      const o = byPi.get(pi);
      if (o?.mode === "during-stripe" && !fired.has(pi)) {
        const answer = scan(o);
        fired.set(pi, answer);
        await answer;
      }
    }
    return stripe.answer(request);
  });
  return fired;
}

describe("a refund racing a scan of the same ticket", () => {
  it("50 tickets, each scanned while its refund job is worked: admitted or refunded, never both", async () => {
    const h = new PaymentsHarness({ RATE_LIMITS: '{"orders":{"limit":1000,"windowSeconds":60}}' });
    const { host, event, orders } = await soldAtTheGate(h);
    const device = await registerDevice(event.id, host.token);
    // Warm: the device and the key ring are cached, as they are at a gate already scanning.
    expect((await scanBody(await scanRaised(device.token, "x.y.z"))).result).toBe("invalid");
    const tickets = orders.map((o, i) => ({ ...o, mode: MODES[i % MODES.length] as (typeof MODES)[number] }));
    const scan = (o: Sold) => scanRaised(device.token, o.token).then(scanBody);
    const fired = scanWhileStripeRefunds(new Map(tickets.map((t) => [t.pi, t])), scan);

    // The jobs as the attendees' requests store them (the request itself may die before the object hears of it).
    const ids = await queueRefunds(
      { db: env.DB, webhookQueue: h.env.WEBHOOK_QUEUE },
      tickets.map((o) => ({
        paymentIntent: o.pi,
        orderId: o.orderId,
        eventId: event.id,
        reason: "requested",
        outcome: "refunded",
      })),
    );
    expect(ids).toHaveLength(N);
    const jobs = new Map(
      (
        await rows<{ id: string; order_id: string }>("SELECT id, order_id FROM refunds WHERE event_id = ?", event.id)
      ).map((j) => [j.id, j.order_id]),
    );
    const deliveryOf = new Map<string, Delivery>();
    for (let batch = h.takeDue(); batch.length > 0; batch = h.takeDue()) {
      for (const d of batch) deliveryOf.set(jobs.get((d.body as { refundId: string }).refundId) as string, d);
    }
    expect(deliveryOf.size).toBe(N);

    const outcomes = await Promise.all(
      tickets.map(async (o) => {
        const refund = () => h.deliver([deliveryOf.get(o.orderId) as Delivery]);
        let answer: ScanBody;
        if (o.mode === "together") [answer] = await Promise.all([scan(o), refund()]);
        else if (o.mode === "after-admission") {
          answer = await scan(o);
          await refund();
        } else {
          await refund();
          const during = fired.get(o.pi);
          if (!during) throw new Error(`Stripe was never asked to refund ${o.pi}`);
          answer = await during;
        }
        return { ...o, answer };
      }),
    );
    await h.drain();
    expect(h.settled.filter((s) => s.outcome !== "ack")).toEqual([]);

    const admitted = outcomes.filter((o) => o.answer.result === "admitted");
    const refunded = outcomes.filter((o) => o.answer.result !== "admitted");
    for (const o of refunded) expect(["refund_pending", "not_active"], o.ticketId).toContain(o.answer.result);
    // A scan while Stripe refunds is refused; a job after the admission is refused.
    expect(outcomes.filter((o) => o.mode === "during-stripe").map((o) => o.answer.result)).toEqual(
      Array(17).fill("refund_pending"),
    );
    expect(outcomes.filter((o) => o.mode === "after-admission").map((o) => o.answer.result)).toEqual(
      Array(16).fill("admitted"),
    );

    // Stripe: exactly one refund for each ticket that was not admitted, none for the others.
    const refundedPis = refunded.map((o) => o.pi).sort();
    expect(
      stripe
        .created("/v1/refunds")
        .map((c) => c.params.payment_intent)
        .sort(),
    ).toEqual(refundedPis);
    expect(stripe.refunds.map((r) => r.payment_intent).sort()).toEqual(refundedPis);

    // The object.
    const ticketRows = new Map((await objectTickets(event.id)).map((t) => [t.id, t.status]));
    const orderRows = new Map((await objectOrders(event.id)).map((r) => [r.id, r.status]));
    const redemptions = new Set(
      (await objectRows<{ ticket_id: string }>(event.id, "SELECT ticket_id FROM gate_redemptions")).map(
        (r) => r.ticket_id,
      ),
    );
    for (const o of outcomes) {
      expect([ticketRows.get(o.ticketId), orderRows.get(o.orderId), redemptions.has(o.ticketId)], o.mode).toEqual(
        o.answer.result === "admitted" ? ["redeemed", "confirmed", true] : ["void", "refunded", false],
      );
    }
    expect(await inventory(event.id).stats()).toMatchObject({ sold: admitted.length, checkedIn: admitted.length });

    // The ledger: a refused job is gone (nothing was asked of Stripe); the others settled.
    const ledger = await rows<{ payment_intent: string; amount_refunded: number; job: string | null }>(
      `SELECT p.payment_intent, p.amount_refunded, r.status AS job FROM payments p
       LEFT JOIN refunds r ON r.payment_intent = p.payment_intent WHERE p.event_id = ?`,
      event.id,
    );
    const byPi = new Map(ledger.map((l) => [l.payment_intent, l]));
    for (const o of outcomes) {
      expect(byPi.get(o.pi)).toEqual(
        o.answer.result === "admitted"
          ? { payment_intent: o.pi, amount_refunded: 0, job: null }
          : { payment_intent: o.pi, amount_refunded: PRICE, job: "succeeded" },
      );
    }

    // The D1 read model follows the object.
    expect(await inventory(event.id).sync()).toEqual({ pending: 0 });
    expect(new Map((await d1Tickets(event.id)).map((t) => [t.id, t.status]))).toEqual(ticketRows);
    expect(new Map((await d1Orders(event.id)).map((r) => [r.id, r.status]))).toEqual(orderRows);
  }, 120_000);
});
