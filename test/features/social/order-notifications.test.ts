/**
 * Our own events in the notification list: a free order confirmed at once, a paid order confirmed by
 * Stripe's webhook (once, however often the event is delivered), and a refund that completed — each an
 * `order` or `refund` item without an actor.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rows } from "../../support/db";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { createUser } from "../auth/helpers";
import { buyers, configuredInventory, createEvent, holdRequest, hostWithToken, order } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { buyer, checkout, orderStatus, paid, paidEvent } from "../payments/helpers";
import { send } from "./posts-helpers";

interface Item {
  id: number;
  kind: string;
  actor: unknown;
  actorCount: number;
  summary: string;
  subject: { orderId?: string };
  read: boolean;
}

type Row = { kind: string; order_id: string | null; actor_id: string | null };
const stored = (userId: string) =>
  rows<Row>("SELECT kind, order_id, actor_id FROM notifications WHERE user_id = ? ORDER BY id", userId);

/** The rows once they are there: a free order's notice is written after the answer. */
async function eventually(userId: string, count: number): Promise<Row[]> {
  for (let i = 0; i < 100; i++) {
    const found = await stored(userId);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return stored(userId);
}

describe("a confirmed order's notice comes with the object's push", () => {
  it("whatever placed the order (here a claim straight to the event's object), in the push's batch", async () => {
    const user = await createUser();
    const { snapshot, stub } = await configuredInventory({ capacity: 5 });
    const claimed = await stub.claim(holdRequest(snapshot, user.id));
    if (!claimed.ok) throw new Error(claimed.code);
    await stub.sync();
    expect(await stored(user.id)).toEqual([{ kind: "order", order_id: claimed.value.order.id, actor_id: null }]);
    // A replayed push inserts nothing more.
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect(await stored(user.id)).toHaveLength(1);
  });

  it("a buyer whose account is gone (erased) gets none, and the push still lands", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 5 });
    const gone = `gone-${crypto.randomUUID()}`;
    const claimed = await stub.claim(holdRequest(snapshot, gone));
    if (!claimed.ok) throw new Error(claimed.code);
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect(await rows("SELECT status FROM orders WHERE id = ?", claimed.value.order.id)).toEqual([
      { status: "confirmed" },
    ]);
    expect(await stored(gone)).toEqual([]);
  });
});

describe("order notifications", () => {
  it("tells the buyer a free order is confirmed", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: 0 });
    const [who] = await buyers(1);
    const res = await order(event.id, who!.token, 1);
    expect(res.status, await res.clone().text()).toBe(201);
    const { order: created } = (await res.json()) as { order: { id: string } };
    expect(await eventually(who!.id, 1)).toEqual([{ kind: "order", order_id: created.id, actor_id: null }]);

    const list = await send("GET", "/api/v1/me/notifications", who!.token);
    const items = ((await list.json()) as { items: Item[] }).items;
    expect(items).toMatchObject([
      {
        kind: "order",
        actor: null,
        actorCount: 0,
        summary: "Your order is confirmed",
        subject: { orderId: created.id },
        read: false,
      },
    ]);
    // The host hears nothing of it.
    expect(await stored(host.id)).toEqual([]);
  });

  describe("paid", () => {
    let stripe: FakeStripe;
    beforeEach(() => {
      stripe = useFakeStripe();
    });
    afterEach(() => {
      vi.restoreAllMocks();
    });

    it("tells the buyer once when the webhook confirms the order, and again when its refund completes", async () => {
      const h = new PaymentsHarness();
      const { host, event } = await paidEvent({ capacity: 5 });
      const who = await buyer();
      const { order: held, session } = await checkout(h, stripe, event.id, who.token);
      // Nothing while the buyer is on Stripe's page.
      expect(await stored(who.id)).toEqual([]);
      const completed = paid(stripe, session.id);
      await h.webhook(completed);
      await h.webhook(completed);
      await h.drain();
      expect(await orderStatus(held.id)).toBe("confirmed");
      expect(await stored(who.id)).toEqual([{ kind: "order", order_id: held.id, actor_id: null }]);

      const cancel = await h.fetch(`/api/v1/events/${event.id}/cancel`, { method: "POST", token: host.token });
      expect(cancel.status).toBe(200);
      await h.drain();
      expect(await orderStatus(held.id)).toBe("refunded");
      expect(await stored(who.id)).toEqual([
        { kind: "order", order_id: held.id, actor_id: null },
        { kind: "refund", order_id: held.id, actor_id: null },
      ]);
    });
  });
});
