/**
 * POST /api/v1/events/:id/orders and cancelling: which events are on sale, quantity rules, paid
 * events without Stripe configured (503, nothing left held; checkout itself: test/features/payments),
 * Idempotency-Key, giving a ticket back.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { findEvent, toSnapshot } from "../../../src/features/events/service";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOfResponse } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { bearer } from "../auth/helpers";
import {
  buyers,
  checkedStats,
  createEvent,
  DAY,
  d1Orders,
  d1Tickets,
  HOUR,
  hostWithToken,
  inventory,
  objectOrders,
  objectTickets,
  order,
  publicAvailability,
} from "../events/helpers";

async function oneBuyer() {
  const [buyer] = await buyers(1);
  if (!buyer) throw new Error("no buyer");
  return buyer;
}

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(await codeOfResponse(res)).toBe(code);
}

/** Nothing was held or sold for the event, in the object or in D1. */
async function expectUntouched(eventId: string) {
  expect(await objectOrders(eventId)).toEqual([]);
  expect(await d1Orders(eventId)).toEqual([]);
  expect(await checkedStats(eventId)).toMatchObject({ sold: 0, held: 0 });
}

const at = (ms: number) => new Date(ms).toISOString();

describe("which events are on sale", () => {
  it("a draft event is not found (404) for a buyer, like a missing one", async () => {
    const host = await hostWithToken();
    const draft = await createEvent(host.token, {}, false);
    const buyer = await oneBuyer();
    await expectProblem(await order(draft.id, buyer.token), 404, "not-found");
    await expectProblem(await order("no-such-event", buyer.token), 404, "not-found");
    await expectUntouched(draft.id);
  });

  it("a cancelled event is not on sale (422 not-on-sale)", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    expect(
      (await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(host.token) })).status,
    ).toBe(200);
    await expectProblem(await order(event.id, (await oneBuyer()).token), 422, "not-on-sale");
    await expectUntouched(event.id);
  });

  it("before salesStartAt the event is not on sale (422 not-on-sale)", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { salesStartAt: at(Date.now() + DAY) });
    await expectProblem(await order(event.id, (await oneBuyer()).token), 422, "not-on-sale");
    await expectUntouched(event.id);
  });

  it("after salesEndAt it is not on sale (422), and once the event started it is event-started (422)", async () => {
    const t0 = Date.now() + 60 * DAY;
    freezeClock(t0);
    const host = await hostWithToken();
    const event = await createEvent(host.token, {
      startsAt: at(t0 + 3 * HOUR),
      endsAt: at(t0 + 5 * HOUR),
      salesEndAt: at(t0 + HOUR),
    });
    setClock(t0 + HOUR - 1);
    const early = await oneBuyer();
    expect((await order(event.id, early.token)).status).toBe(201);

    setClock(t0 + HOUR);
    await expectProblem(await order(event.id, (await oneBuyer()).token), 422, "not-on-sale");

    setClock(t0 + 3 * HOUR);
    await expectProblem(await order(event.id, (await oneBuyer()).token), 422, "event-started");
    expect((await objectOrders(event.id)).map((o) => o.user_id)).toEqual([early.id]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0 });
  });
});

describe("quantities", () => {
  it("a quantity above perUserLimit is limit-exceeded (409), counted across orders; quantity 0 is a 400", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { perUserLimit: 2, capacity: 10 });
    const buyer = await oneBuyer();

    await expectProblem(await order(event.id, buyer.token, 3), 409, "limit-exceeded");
    const zero = await order(event.id, buyer.token, 0);
    expect(zero.status).toBe(400);
    const problem = await problemOf(zero);
    expect(problem.type).toMatch(/\/validation-failed$/);
    expect((problem.errors as { path: string }[]).map((e) => e.path)).toEqual(["quantity"]);
    await expectUntouched(event.id);

    const two = await order(event.id, buyer.token, 2);
    expect(two.status).toBe(201);
    expect(((await two.json()) as { tickets: unknown[] }).tickets).toHaveLength(2);
    await expectProblem(await order(event.id, buyer.token, 1), 409, "limit-exceeded");
    expect(await objectTickets(event.id)).toHaveLength(2);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 2, held: 0, remaining: 8 });
  });

  it("a free event allows one ticket per person by default: quantity 2 is limit-exceeded", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    await expectProblem(await order(event.id, (await oneBuyer()).token, 2), 409, "limit-exceeded");
    await expectUntouched(event.id);
  });
});

describe("paid events", () => {
  it("in development without Stripe keys answer 503 payments-not-configured and leave no hold behind", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: 1500, capacity: 5 });
    const { STRIPE_SECRET_KEY: _key, STRIPE_WEBHOOK_SECRET: _secret, ...rest } = env;
    const res = await createApp().request(
      `/api/v1/events/${event.id}/orders`,
      {
        method: "POST",
        headers: {
          ...bearer((await oneBuyer()).token),
          "Content-Type": "application/json",
          "CF-Connecting-IP": freshIp(),
        },
        body: JSON.stringify({ quantity: 1 }),
      },
      { ...rest, ENVIRONMENT: "development" },
    );
    await expectProblem(res, 503, "payments-not-configured");
    await expectUntouched(event.id);
    expect(await publicAvailability(event.id)).toEqual({ capacity: 5, sold: 0, held: 0, remaining: 5 });
  });
});

describe("the order path's short-lived copy of the event", () => {
  /** An edit as another isolate makes it: D1 first, then the event's object (this isolate keeps its copy). */
  async function editElsewhere(eventId: string, change: string) {
    await env.DB.prepare(`UPDATE events SET ${change}, version = version + 1 WHERE id = ?`).bind(eventId).run();
    const row = await findEvent(env.DB, eventId);
    if (!row) throw new Error("no event");
    expect((await inventory(eventId).configure(toSnapshot(row))).ok).toBe(true);
  }
  const app = createApp();
  const { STRIPE_SECRET_KEY: _key, STRIPE_WEBHOOK_SECRET: _secret, ...withoutStripe } = env;
  const orderWith = (eventId: string, token: string, bindings: object) =>
    app.request(
      `/api/v1/events/${eventId}/orders`,
      {
        method: "POST",
        headers: { ...bearer(token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ quantity: 1 }),
      },
      bindings,
    );

  it("a price set since this isolate read the event: the object refuses the free claim and the order goes to checkout", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const [first, second] = await buyers(2);
    if (!first || !second) throw new Error("no buyers");
    const bindings = { ...withoutStripe, ENVIRONMENT: "development" };
    expect((await orderWith(event.id, first.token, bindings)).status).toBe(201);
    await editElsewhere(event.id, "price = 1500, currency = 'eur'");
    // The copy here still says free; the object knows better, and the event is read again: checkout,
    // which this environment has no Stripe keys for. No free ticket was minted.
    await expectProblem(await orderWith(event.id, second.token, bindings), 503, "payments-not-configured");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0 });
    expect((await objectTickets(event.id)).map((t) => t.user_id)).toEqual([first.id]);
  });

  it("an edit made through this isolate is seen at once: a new price goes straight to checkout, the object not asked", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const [first, second] = await buyers(2);
    if (!first || !second) throw new Error("no buyers");
    // The real namespace, noting every claim the Worker sends to an event's object.
    const claims: string[] = [];
    const namespace = new Proxy(env.EVENT_INVENTORY, {
      get(target, prop) {
        if (prop === "getByName") {
          return (name: string) =>
            new Proxy(target.getByName(name), {
              get(stub, method) {
                if (method === "claim") claims.push(name);
                return Reflect.get(stub, method);
              },
            });
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const bindings = { ...withoutStripe, ENVIRONMENT: "development", EVENT_INVENTORY: namespace };
    expect((await orderWith(event.id, first.token, bindings)).status).toBe(201);
    expect(claims).toEqual([event.id]);

    // A published free event turns paid only for a host with a payout account that can take charges.
    await givePayoutAccount(host.id);
    const edited = await app.request(
      `/api/v1/events/${event.id}`,
      {
        method: "PATCH",
        headers: { ...bearer(host.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ version: event.version, price: 1500, currency: "EUR" }),
      },
      bindings,
    );
    expect(edited.status).toBe(200);
    // The copy this isolate had was dropped with the edit: checkout at once (no Stripe keys here),
    // without a claim the object would have to refuse.
    await expectProblem(await orderWith(event.id, second.token, bindings), 503, "payments-not-configured");
    expect(claims).toEqual([event.id]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0 });
  });

  it("a cancellation made elsewhere: the object refuses the order at once", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5, perUserLimit: 1 });
    const [first, second] = await buyers(2);
    if (!first || !second) throw new Error("no buyers");
    expect((await orderWith(event.id, first.token, env)).status).toBe(201);
    await editElsewhere(event.id, "status = 'cancelled', cancelled_at = updated_at");
    await expectProblem(await orderWith(event.id, second.token, env), 422, "not-on-sale");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 0 });
  });
});

describe("Idempotency-Key on POST /events/:id/orders", () => {
  it("a replay returns the same order and tickets with Idempotent-Replayed: true, and only one ticket exists", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const buyer = await oneBuyer();
    const key = crypto.randomUUID();

    const first = await order(event.id, buyer.token, 1, { "Idempotency-Key": key });
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    const firstBody = await first.json();

    const replay = await order(event.id, buyer.token, 1, { "Idempotency-Key": key });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await replay.json()).toEqual(firstBody);

    await expectProblem(
      await order(event.id, buyer.token, 2, { "Idempotency-Key": key }),
      422,
      "idempotency-key-reused",
    );
    expect(await objectTickets(event.id)).toHaveLength(1);
    expect(await objectOrders(event.id)).toHaveLength(1);
    expect(await d1Tickets(event.id)).toHaveLength(1);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0, remaining: 4 });
  });

  it("the same key reused for another event once its stored answer is gone: a different order there, each in its own event", async () => {
    const host = await hostWithToken();
    const one = await createEvent(host.token, { capacity: 5 });
    const other = await createEvent(host.token, { capacity: 5 });
    const buyer = await oneBuyer();
    const key = crypto.randomUUID();
    const first = await order(one.id, buyer.token, 1, { "Idempotency-Key": key });
    expect(first.status).toBe(201);
    // A day later the stored answer has expired; the client sends the same key to another event.
    await env.DB.prepare("DELETE FROM idempotency_keys WHERE key = ?").bind(key).run();
    const second = await order(other.id, buyer.token, 1, { "Idempotency-Key": key });
    expect(second.status).toBe(201);
    const ids = [
      ((await first.json()) as { order: { id: string } }).order.id,
      ((await second.json()) as { order: { id: string } }).order.id,
    ];
    expect(new Set(ids).size).toBe(2);
    await inventory(one.id).sync();
    await inventory(other.id).sync();
    expect((await d1Orders(one.id)).map((o) => o.id)).toEqual([ids[0]]);
    expect((await d1Orders(other.id)).map((o) => o.id)).toEqual([ids[1]]);
  });
});

describe("giving a free ticket back", () => {
  it("cancelling voids the ticket, returns the capacity, and a waiting user can take it", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 1 });
    const [first, waiting] = await buyers(2);
    if (!first || !waiting) throw new Error("no buyers");

    const claimed = await order(event.id, first.token);
    expect(claimed.status).toBe(201);
    const body = (await claimed.json()) as { order: { id: string }; tickets: { id: string }[] };
    await expectProblem(await order(event.id, waiting.token), 409, "sold-out");
    expect(await publicAvailability(event.id)).toEqual({ capacity: 1, sold: 1, held: 0, remaining: 0 });

    const cancel = await call(`/api/v1/orders/${body.order.id}/cancel`, {
      method: "POST",
      headers: bearer(first.token),
    });
    expect(cancel.status).toBe(200);
    expect(await cancel.json()).toMatchObject({
      order: { id: body.order.id, status: "cancelled" },
      tickets: [{ id: body.tickets[0]?.id, status: "void" }],
    });
    expect((await objectTickets(event.id)).map((t) => t.status)).toEqual(["void"]);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["void"]);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 1, sold: 0, held: 0, remaining: 1 });

    const second = await order(event.id, waiting.token);
    expect(second.status).toBe(201);
    expect(((await second.json()) as { tickets: { serial: number }[] }).tickets.map((t) => t.serial)).toEqual([2]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, remaining: 0 });

    // Cancelling again changes nothing.
    const again = await call(`/api/v1/orders/${body.order.id}/cancel`, {
      method: "POST",
      headers: bearer(first.token),
    });
    expect(again.status).toBe(200);
    expect((await d1Tickets(event.id)).map((t) => [t.serial, t.status])).toEqual([
      [1, "void"],
      [2, "active"],
    ]);
  });
});
