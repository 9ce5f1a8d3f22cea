/**
 * A paid event's waitlist: a released checkout hold is offered to the first in line, and accepting
 * goes through the ordinary paid path (the offer's hold becomes a checkout hold as long as its Stripe
 * Checkout Session, the fake Stripe of test/support at the HTTP boundary); paying confirms it. Without
 * Stripe configured, accepting is 503 and the offer stays open.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { codeOfResponse } from "../../support/db";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { checkedStats, objectOrders } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import {
  buyer,
  type CheckoutBody,
  checkout,
  orderStatus,
  PRICE,
  paid,
  paidEvent,
  ticketsOf,
} from "../payments/helpers";
import { objectLine } from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("accepting a paid offer", () => {
  it("opens a Checkout Session for the offer's hold (201 { order, checkoutUrl, holdExpiresAt }); paying confirms it", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const holder = await buyer();
    const held = await checkout(h, stripe, event.id, holder.token);
    const waiting = await buyer();
    // Sold out by an unpaid hold: joining is allowed (the hold may lapse).
    const joined = await h.fetch(`/api/v1/events/${event.id}/waitlist`, { method: "POST", token: waiting.token });
    expect(joined.status).toBe(201);
    expect(await joined.json()).toEqual({ position: 1 });

    // The holder gives up: their session is closed at Stripe and the seat goes to the line.
    expect(
      (await h.fetch(`/api/v1/orders/${held.order.id}/cancel`, { method: "POST", token: holder.token })).status,
    ).toBe(200);
    const [entry] = await objectLine(event.id);
    expect(entry?.status).toBe("offered");
    const offerId = entry?.offer_id as string;
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 1, remaining: 0 });

    const res = await h.fetch(`/api/v1/waitlist/offers/${offerId}/accept`, {
      method: "POST",
      token: waiting.token,
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({}),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const body = (await res.json()) as CheckoutBody;
    expect(body.order).toMatchObject({ id: offerId, status: "held", quantity: 1, amount: PRICE, currency: "EUR" });
    const session = stripe.sessionByUrl(body.checkoutUrl);
    const [create] = stripe.callsTo("POST", "/v1/checkout/sessions").slice(-1);
    expect(create?.params).toMatchObject({
      client_reference_id: offerId,
      "line_items[0][quantity]": "1",
      "line_items[0][price_data][unit_amount]": String(PRICE),
    });
    // The hold now lasts as long as the session, as for any paid order.
    const hold = (await objectOrders(event.id)).find((o) => o.id === offerId);
    expect(hold?.hold_expires_at).toBe(Date.parse(body.holdExpiresAt));
    expect(Math.floor((hold?.hold_expires_at as number) / 1000)).toBe(session.expires_at);
    expect((await objectLine(event.id))[0]).toMatchObject({ status: "accepted", order_id: offerId });

    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(offerId)).toBe("confirmed");
    expect(await ticketsOf(event.id, offerId)).toHaveLength(1);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 1, sold: 1, held: 0, remaining: 0 });
  });

  it("without Stripe configured: 503 payments-not-configured, and the offer stays open", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const holder = await buyer();
    const held = await checkout(h, stripe, event.id, holder.token);
    const waiting = await buyer();
    expect(
      (await h.fetch(`/api/v1/events/${event.id}/waitlist`, { method: "POST", token: waiting.token })).status,
    ).toBe(201);
    expect(
      (await h.fetch(`/api/v1/orders/${held.order.id}/cancel`, { method: "POST", token: holder.token })).status,
    ).toBe(200);
    const offerId = (await objectLine(event.id))[0]?.offer_id as string;
    const unconfigured = new PaymentsHarness({ STRIPE_SECRET_KEY: "", STRIPE_WEBHOOK_SECRET: "" });
    const res = await unconfigured.fetch(`/api/v1/waitlist/offers/${offerId}/accept`, {
      method: "POST",
      token: waiting.token,
    });
    expect(res.status).toBe(503);
    expect(await codeOfResponse(res)).toBe("payments-not-configured");
    expect((await objectLine(event.id))[0]).toMatchObject({ status: "offered", offer_id: offerId });
    expect((await objectOrders(event.id)).find((o) => o.id === offerId)?.status).toBe("held");
  });
});
