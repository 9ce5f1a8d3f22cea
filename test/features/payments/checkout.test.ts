/**
 * Paid checkout through the Worker: the hold and the Checkout Session (server-side prices, expiry equal
 * to the hold, allowlisted return URLs), retries after a declined card (new attempt, new idempotency
 * key) and after a lost answer (same key, same session), cancelling, and 200 buyers racing for 20 seats.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../../src/config";
import { problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOfResponse } from "../../support/db";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { buyers, d1Tickets, inventory, objectOrders } from "../events/helpers";
import { PaymentsHarness } from "./harness";
import {
  buyer,
  type CheckoutBody,
  checkout,
  d1Rows,
  expectStats,
  orderStatus,
  PRICE,
  paid,
  paidEvent,
  ticketsOf,
} from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const sessionsOf = (orderId: string) =>
  d1Rows<{ id: string; attempt: number; idempotency_key: string; status: string; expires_at: number }>(
    "SELECT * FROM checkout_sessions WHERE order_id = ? ORDER BY attempt",
    orderId,
  );

describe("POST /api/v1/events/:id/orders for a paid event", () => {
  it("holds the seats and answers 201 { order, checkoutUrl, holdExpiresAt } with a session built from server-side prices", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const who = await buyer();
    const res = await h.order(event.id, who.token, 2, {
      body: { returnUrl: "https://app.gatehouse.test/checkout/done", price: 1, amount: 1 },
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as CheckoutBody;
    expect(body.order).toMatchObject({ status: "held", quantity: 2, amount: 2 * PRICE, currency: "EUR" });
    expect(body).not.toHaveProperty("tickets");
    const session = stripe.sessionByUrl(body.checkoutUrl);

    const [create] = stripe.callsTo("POST", "/v1/checkout/sessions");
    expect(create?.params).toMatchObject({
      mode: "payment",
      "line_items[0][quantity]": "2",
      "line_items[0][price_data][unit_amount]": String(PRICE),
      "line_items[0][price_data][currency]": "eur",
      client_reference_id: body.order.id,
      "metadata[orderId]": body.order.id,
      "metadata[eventId]": event.id,
      "payment_intent_data[metadata][orderId]": body.order.id,
    });
    expect(create?.idempotencyKey).toBe(`checkout:${body.order.id}:${2 * PRICE}:EUR:1`);
    expect(create?.params.success_url).toBe(
      `https://app.gatehouse.test/checkout/done?order=${body.order.id}&checkout=success&session_id={CHECKOUT_SESSION_ID}`,
    );
    expect(create?.params.cancel_url).toBe(
      `https://app.gatehouse.test/checkout/done?order=${body.order.id}&checkout=cancelled`,
    );

    // The hold lasts exactly as long as the session can be paid: 30 min (Stripe's minimum) plus slack.
    const holdExpiresAt = Date.parse(body.holdExpiresAt);
    expect(Math.floor(holdExpiresAt / 1000)).toBe(session.expires_at);
    expect(holdExpiresAt - Date.now()).toBeGreaterThan(30 * 60 * 1000);
    expect(holdExpiresAt - Date.now()).toBeLessThan(32 * 60 * 1000);
    const held = (await objectOrders(event.id)).find((o) => o.id === body.order.id);
    expect(held).toMatchObject({ status: "held", quantity: 2, hold_expires_at: holdExpiresAt });
    await expectStats(event.id, { sold: 0, held: 2, remaining: 1 });
  });

  it("refuses a return URL outside the allowlist (400) and holds nothing", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 3 });
    const res = await h.order(event.id, (await buyer()).token, 1, { body: { returnUrl: "https://evil.example/x" } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ path: "returnUrl" })]);
    await expectStats(event.id, { sold: 0, held: 0, remaining: 3 });
    expect(stripe.calls).toHaveLength(0);
  });

  it("a declined card then a retry gets a new session under a new idempotency key, never idempotency_error", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const first = await checkout(h, stripe, event.id, who.token);
    // The card is declined on Stripe's page; the buyer comes back and tries again.
    const retry = await h.fetch(`/api/v1/orders/${first.order.id}/checkout`, { method: "POST", token: who.token });
    expect(retry.status).toBe(201);
    const second = (await retry.json()) as CheckoutBody;
    expect(second.checkoutUrl).not.toBe(first.checkoutUrl);
    expect(second.order.id).toBe(first.order.id);
    expect(Date.parse(second.holdExpiresAt)).toBeGreaterThanOrEqual(Date.parse(first.holdExpiresAt));

    expect(stripe.calls.filter((c) => c.status === 400)).toEqual([]);
    expect(stripe.session(first.session.id).status).toBe("expired");
    const rows = await sessionsOf(first.order.id);
    expect(rows.map((r) => [r.attempt, r.idempotency_key, r.status])).toEqual([
      [1, `checkout:${first.order.id}:${PRICE}:EUR:1`, "expired"],
      [
        2,
        `checkout:${first.order.id}:${PRICE}:EUR:2:until:${Math.floor(Date.parse(second.holdExpiresAt) / 1000)}`,
        "open",
      ],
    ]);

    // The first session's `expired` webhook must not free the seats the new attempt holds.
    await h.webhook(stripeEvent("checkout.session.expired", stripe.session(first.session.id)));
    await h.drain();
    expect(await orderStatus(first.order.id)).toBe("held");
    await expectStats(event.id, { sold: 0, held: 1, remaining: 1 });

    const session2 = stripe.sessionByUrl(second.checkoutUrl);
    await h.webhook(paid(stripe, session2.id));
    await h.drain();
    expect(await orderStatus(first.order.id)).toBe("confirmed");
    expect(await ticketsOf(event.id, first.order.id)).toHaveLength(1);
  });

  it("a retry whose new session is not recorded yet keeps its hold when the previous session's expiry webhook comes first", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const who = await buyer();
    const first = await checkout(h, stripe, event.id, who.token);
    // A minute later the card was declined; the buyer tries again. The retry expires the first session at
    // Stripe, then Stripe does not answer for its new session.
    freezeClock(Date.now() + 60_000);
    stripe.script = (call) =>
      call.method === "POST" && call.path === "/v1/checkout/sessions" ? "network-error" : undefined;
    const retry = await h.fetch(`/api/v1/orders/${first.order.id}/checkout`, { method: "POST", token: who.token });
    expect(retry.status).toBe(502);
    expect(stripe.session(first.session.id).status).toBe("expired");

    // Stripe's `expired` for the first session lands in that window: the hold is the retry's now.
    await h.webhook(stripeEvent("checkout.session.expired", stripe.session(first.session.id)));
    await h.drain();
    expect(await orderStatus(first.order.id)).toBe("held");
    await expectStats(event.id, { sold: 0, held: 1, remaining: 0 });

    // The buyer tries again, pays the new session, and gets the seat nobody else could take meanwhile.
    stripe.script = () => undefined;
    const again = await h.fetch(`/api/v1/orders/${first.order.id}/checkout`, { method: "POST", token: who.token });
    expect(again.status).toBe(201);
    const session2 = stripe.sessionByUrl(((await again.json()) as CheckoutBody).checkoutUrl);
    await h.webhook(paid(stripe, session2.id));
    await h.drain();
    expect(await orderStatus(first.order.id)).toBe("confirmed");
    await expectStats(event.id, { sold: 1, held: 0, remaining: 0 });
  });

  it("a retry whose new session's answer was lost can be tried again later: a new session, never idempotency_error", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const who = await buyer();
    const first = await checkout(h, stripe, event.id, who.token);
    // Stripe makes attempt 2's session but the answer is lost; the SDK's own retry never gets through.
    let creates = 0;
    stripe.script = (call) => {
      if (call.method !== "POST" || call.path !== "/v1/checkout/sessions") return undefined;
      creates += 1;
      return creates === 1 ? "accept-then-drop" : "network-error";
    };
    const retry = () => h.fetch(`/api/v1/orders/${first.order.id}/checkout`, { method: "POST", token: who.token });
    freezeClock(Date.now() + 60_000);
    expect((await retry()).status).toBe(502);

    // Two minutes later the buyer tries again: the hold is stretched again, and Stripe opens a session.
    stripe.script = () => undefined;
    freezeClock(Date.now() + 120_000);
    const again = await retry();
    expect(again.status).toBe(201);
    expect(stripe.calls.filter((c) => c.status === 400)).toEqual([]);
    const session = stripe.sessionByUrl(((await again.json()) as CheckoutBody).checkoutUrl);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(first.order.id)).toBe("confirmed");
  });

  it("a retried POST with the same Idempotency-Key returns the same session, even when the first answer was lost", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 5 });
    const who = await buyer();

    // Replayed by the idempotency layer.
    const key = crypto.randomUUID();
    const a = await h.order(event.id, who.token, 1, { headers: { "Idempotency-Key": key } });
    const b = await h.order(event.id, who.token, 1, { headers: { "Idempotency-Key": key } });
    expect(b.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await b.json()) as CheckoutBody).checkoutUrl).toBe(((await a.json()) as CheckoutBody).checkoutUrl);

    // Stripe created the session but the answer never arrived, twice (the SDK's own retry too): 502,
    // and nothing stored by the idempotency layer. The client retries with the same key.
    const lost = crypto.randomUUID();
    let drops = 2;
    stripe.script = (call) => {
      if (call.path !== "/v1/checkout/sessions" || drops === 0) return undefined;
      drops -= 1;
      return drops === 1 ? "accept-then-drop" : "network-error";
    };
    const failed = await h.order(event.id, who.token, 2, { headers: { "Idempotency-Key": lost } });
    expect(failed.status).toBe(502);
    expect(await codeOfResponse(failed)).toBe("payment-provider-error");
    const retried = await h.order(event.id, who.token, 2, { headers: { "Idempotency-Key": lost } });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("Idempotent-Replayed")).toBeNull();
    const body = (await retried.json()) as CheckoutBody;

    const creates = stripe
      .callsTo("POST", "/v1/checkout/sessions")
      .filter((c) => c.params.client_reference_id === body.order.id);
    expect(new Set(creates.map((c) => c.idempotencyKey))).toEqual(
      new Set([`checkout:${body.order.id}:${2 * PRICE}:EUR:1`]),
    );
    expect(creates.filter((c) => !c.replayed && c.status === 200)).toHaveLength(1);
    expect(body.checkoutUrl).toBe(stripe.sessionByUrl(body.checkoutUrl).url);
    // One hold for the retried order, not two.
    const mine = (await objectOrders(event.id)).filter((o) => o.user_id === who.id);
    expect(mine.map((o) => o.quantity).sort()).toEqual([1, 2]);
    await expectStats(event.id, { sold: 0, held: 3, remaining: 2 });
  });

  it("cancelling a held paid order expires its session at Stripe and releases the seats; a paid one answers 409", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 2 });
    const who = await buyer();
    const open = await checkout(h, stripe, event.id, who.token);
    const cancel = await h.fetch(`/api/v1/orders/${open.order.id}/cancel`, { method: "POST", token: who.token });
    expect(cancel.status).toBe(200);
    expect(stripe.session(open.session.id).status).toBe("expired");
    expect(await orderStatus(open.order.id)).toBe("released");
    await expectStats(event.id, { sold: 0, held: 0, remaining: 2 });

    // Paid on Stripe's page a moment before the cancel arrives: the cancel loses, the payment wins.
    const racing = await checkout(h, stripe, event.id, who.token);
    const completed = paid(stripe, racing.session.id);
    const refused = await h.fetch(`/api/v1/orders/${racing.order.id}/cancel`, { method: "POST", token: who.token });
    expect(refused.status).toBe(409);
    expect(await codeOfResponse(refused)).toBe("already-paid");
    await expectStats(event.id, { sold: 0, held: 1, remaining: 1 });
    await h.webhook(completed);
    await h.drain();
    expect(await orderStatus(racing.order.id)).toBe("confirmed");
  });

  it("200 concurrent paid checkouts on capacity 20: at most 20 holds; completing every session makes exactly 20 tickets", async () => {
    const h = new PaymentsHarness({ RATE_LIMITS: '{"orders":{"limit":1000,"windowSeconds":60}}' });
    const { event } = await paidEvent({ capacity: 20 });
    const people = await buyers(200);
    const answers = await Promise.all(people.map((p) => h.order(event.id, p.token, 1)));
    const created = answers.filter((r) => r.status === 201);
    const refused = answers.filter((r) => r.status !== 201);
    expect(created.length).toBeLessThanOrEqual(20);
    expect(created).toHaveLength(20);
    expect(new Set(await Promise.all(refused.map(codeOfResponse)))).toEqual(new Set(["sold-out"]));
    await expectStats(event.id, { sold: 0, held: 20, remaining: 0 });
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(20);

    const bodies = (await Promise.all(created.map((r) => r.json()))) as CheckoutBody[];
    const deliveries = await Promise.all(
      bodies.map((b) => h.webhook(paid(stripe, stripe.sessionByUrl(b.checkoutUrl).id))),
    );
    expect(deliveries.every((r) => r.status === 200)).toBe(true);
    await h.drain();

    await expectStats(event.id, { sold: 20, held: 0, remaining: 0 });
    const tickets = await d1Tickets(event.id);
    expect(tickets).toHaveLength(20);
    expect(new Set(tickets.map((t) => t.serial)).size).toBe(20);
    expect((await objectOrders(event.id)).map((o) => o.status)).toEqual(Array(20).fill("confirmed"));
    expect(await d1Rows("SELECT id FROM payments WHERE event_id = ?", event.id)).toHaveLength(20);
    expect((await inventory(event.id).stats()).capacity).toBe(20);
  });
});

describe("payments configuration", () => {
  const {
    STRIPE_SECRET_KEY: _key,
    STRIPE_WEBHOOK_SECRET: _secret,
    ...withoutStripe
  } = env as unknown as Record<string, unknown>;

  it("production without the Stripe secrets fails closed, naming both keys and no value", () => {
    expect(() => getConfig({ ...withoutStripe, ENVIRONMENT: "production" })).toThrow(
      /STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET/,
    );
    expect(() => getConfig({ ...env, ENVIRONMENT: "production", STRIPE_WEBHOOK_SECRET: "not-a-whsec" })).toThrow(
      /STRIPE_WEBHOOK_SECRET/,
    );
  });

  it("development without them turns paid checkout off; only one of the two is a configuration error", () => {
    expect(getConfig({ ...withoutStripe, ENVIRONMENT: "development" }).payments).toBeNull();
    expect(() =>
      getConfig({ ...withoutStripe, ENVIRONMENT: "development", STRIPE_SECRET_KEY: "sk_test_abcdefgh123" }),
    ).toThrow(/STRIPE_WEBHOOK_SECRET/);
    const config = getConfig({ ...env, CHECKOUT_TTL_SECONDS: "7200" });
    expect(config.payments).toMatchObject({ checkoutTtlSeconds: 7200, refundCutoffHours: 48 });
    expect(() => getConfig({ ...env, CHECKOUT_TTL_SECONDS: "600" })).toThrow(/CHECKOUT_TTL_SECONDS/);
    expect(() => getConfig({ ...env, CHECKOUT_TTL_SECONDS: String(25 * 3600) })).toThrow(/CHECKOUT_TTL_SECONDS/);
  });
});
