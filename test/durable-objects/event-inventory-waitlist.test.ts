/**
 * EventInventory's waitlist over RPC: seats freed by a refund, by a checkout hold that lapsed (the
 * alarm) and by the line being resumed go to the first in line as one-ticket holds; a sale serves the
 * line before it takes seats; a cancelled event ends its line. The clock is frozen a month ahead (it
 * drives Date.now() inside the object too), so no real alarm fires on its own.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { EventSnapshot } from "../../durable-objects/event-inventory/contract";
import { checkedStats, configuredInventory, DAY, holdRequest, objectOrders } from "../features/events/helpers";
import { objectLine } from "../features/waitlist/helpers";
import { freezeClock, setClock } from "../support/clock";

const MINUTE = 60 * 1000;

function joinRequest(snapshot: EventSnapshot, userId: string) {
  return { userId, contact: { email: `${userId}@example.com`, name: userId }, snapshot };
}

describe("EventInventory: the waitlist", () => {
  it("a refund's seat is offered to the first in line, as a one-ticket hold at the event's price", async () => {
    freezeClock(Date.now() + 30 * DAY);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 1, price: 1500 });
    const held = await stub.hold(holdRequest(snapshot, "u-buyer", 1));
    if (!held.ok) throw new Error(held.code);
    expect((await stub.confirm({ orderId: held.value.order.id, paymentRef: "pi_1" })).ok).toBe(true);
    expect(await stub.joinWaitlist(joinRequest(snapshot, "u-a"))).toEqual({ ok: true, value: { position: 1 } });
    expect(await stub.joinWaitlist(joinRequest(snapshot, "u-b"))).toEqual({ ok: true, value: { position: 2 } });
    expect(await stub.joinWaitlist(joinRequest(snapshot, "u-a"))).toMatchObject({ ok: false, code: "already-waiting" });

    expect((await stub.refund({ orderId: held.value.order.id, outcome: "refunded" })).ok).toBe(true);
    const [a, b] = await objectLine(eventId);
    expect([a?.status, b?.status]).toEqual(["offered", "waiting"]);
    const offer = (await objectOrders(eventId)).find((o) => o.id === a?.offer_id);
    expect(offer).toMatchObject({ user_id: "u-a", status: "held", quantity: 1 });
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 1, sold: 0, held: 1, remaining: 0 });
  });

  it("a checkout hold that lapsed: the alarm expires it and offers its seat; a sale before the alarm finds the line served first", async () => {
    const t0 = freezeClock(Date.now() + 30 * DAY).now();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 2, price: 1500 });
    for (const user of ["u-x", "u-y"])
      expect((await stub.hold(holdRequest(snapshot, user, 1, 10 * MINUTE))).ok).toBe(true);
    // Sold out by unpaid holds: joining is allowed.
    expect((await stub.joinWaitlist(joinRequest(snapshot, "u-a"))).ok).toBe(true);
    expect((await stub.joinWaitlist(joinRequest(snapshot, "u-b"))).ok).toBe(true);

    setClock(t0 + 10 * MINUTE);
    // Both holds lapsed, the alarm has not run: a buyer's hold serves the line first and finds no seat.
    expect(await stub.hold(holdRequest(snapshot, "u-late", 1))).toMatchObject({ ok: false, code: "sold-out" });
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["offered", "offered"]);
    await runDurableObjectAlarm(stub);
    expect(
      (await objectOrders(eventId))
        .filter((o) => o.status === "held")
        .map((o) => o.user_id)
        .sort(),
    ).toEqual(["u-a", "u-b"]);
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 2, sold: 0, held: 2, remaining: 0 });
  });

  it("paused: a freed seat is on sale as usual; resuming offers what is free; a cancelled event ends the line", async () => {
    freezeClock(Date.now() + 30 * DAY);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 2 });
    const claims = [];
    for (const user of ["u-x", "u-y"]) {
      const claimed = await stub.claim(holdRequest(snapshot, user, 1));
      if (!claimed.ok) throw new Error(claimed.code);
      claims.push(claimed.value.order.id);
    }
    expect((await stub.joinWaitlist(joinRequest(snapshot, "u-a"))).ok).toBe(true);
    expect((await stub.joinWaitlist(joinRequest(snapshot, "u-b"))).ok).toBe(true);
    expect(await stub.configureWaitlist({ paused: true, snapshot })).toMatchObject({
      ok: true,
      value: { waiting: 2, offered: 0, paused: true },
    });
    expect((await stub.voidTickets({ orderId: claims[0] as string, reason: "test" })).ok).toBe(true);
    expect((await stub.voidTickets({ orderId: claims[1] as string, reason: "test" })).ok).toBe(true);
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["waiting", "waiting"]);
    expect((await stub.claim(holdRequest(snapshot, "u-buyer", 1))).ok).toBe(true);

    expect(await stub.configureWaitlist({ paused: false, snapshot })).toMatchObject({
      ok: true,
      value: { waiting: 1, offered: 1, paused: false },
    });
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["offered", "waiting"]);

    expect((await stub.configure({ ...snapshot, version: 2, status: "cancelled" })).ok).toBe(true);
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["expired", "expired"]);
    expect(await stub.waitlistSummary()).toMatchObject({ waiting: 0, offered: 0 });
    expect(await checkedStats(eventId)).toMatchObject({ held: 0 });
  });
});
