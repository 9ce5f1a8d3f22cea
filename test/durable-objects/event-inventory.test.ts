/**
 * EventInventory driven over RPC: holds and their expiry, idempotent replays, eviction, the sales
 * gates and per-user limits the object enforces on its own (not only the Worker in front of it).
 * Time is controlled with fake timers, which also drive Date.now() inside the object; "now" starts a
 * month ahead of the real clock so no real alarm fires on its own during a test.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  checkedStats,
  configuredInventory,
  DAY,
  d1Orders,
  d1Tickets,
  HOUR,
  holdRequest,
  objectOrders,
  objectTickets,
} from "../features/events/helpers";
import { freezeClock, setClock } from "../support/clock";
import { objectRows } from "../support/db";

const MINUTE = 60 * 1000;

function fakeNow(): number {
  const now = Date.now() + 30 * DAY;
  freezeClock(now);
  return now;
}

describe("EventInventory: holds expire", () => {
  it("a hold lapses at its expiry; the alarm marks it expired in the object and in D1 and the capacity returns", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5 });
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 5, sold: 0, held: 0, remaining: 5 });

    const held = await stub.hold(holdRequest(snapshot, "u-a", 3, 10 * MINUTE));
    if (!held.ok) throw new Error(held.code);
    expect(held.value.order).toMatchObject({ status: "held", quantity: 3, holdExpiresAt: t0 + 10 * MINUTE });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 0, held: 3, remaining: 2 });
    expect(await d1Orders(eventId)).toEqual([expect.objectContaining({ id: held.value.order.id, status: "held" })]);
    // The object armed its alarm for the hold's expiry.
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 10 * MINUTE);

    setClock(t0 + 10 * MINUTE - 1);
    expect(await checkedStats(eventId)).toMatchObject({ held: 3, remaining: 2 });

    setClock(t0 + 10 * MINUTE);
    expect(await checkedStats(eventId)).toMatchObject({ held: 0, remaining: 5 });
    // Not cleaned up yet: only the alarm rewrites the row.
    expect((await objectOrders(eventId))[0]?.status).toBe("held");

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await objectOrders(eventId))[0]?.status).toBe("expired");
    expect(await d1Orders(eventId)).toEqual([expect.objectContaining({ id: held.value.order.id, status: "expired" })]);
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 5, sold: 0, held: 0, remaining: 5 });
  });

  it("an expired hold frees its capacity before the alarm runs: another buyer can take it", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 2 });
    const a = await stub.hold(holdRequest(snapshot, "u-a", 2, MINUTE));
    expect(a.ok).toBe(true);
    const blocked = await stub.hold(holdRequest(snapshot, "u-b", 1, MINUTE));
    expect(blocked).toMatchObject({ ok: false, code: "sold-out" });
    expect(await checkedStats(eventId)).toMatchObject({ held: 2, remaining: 0 });

    setClock(t0 + MINUTE + 1);
    expect(await checkedStats(eventId)).toMatchObject({ held: 0, remaining: 2 });
    const b = await stub.hold(holdRequest(snapshot, "u-b", 2, MINUTE));
    if (!b.ok) throw new Error(b.code);
    const confirmed = await stub.confirm({ orderId: b.value.order.id });
    expect(confirmed.ok && confirmed.value.tickets.map((t) => t.serial)).toEqual([1, 2]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, held: 0, remaining: 0 });
    // A's row is still "held" (no alarm ran), yet it no longer counts.
    expect((await objectOrders(eventId)).map((o) => [o.user_id, o.status])).toEqual([
      ["u-a", "held"],
      ["u-b", "confirmed"],
    ]);
  });

  it("a late confirm of an expired hold succeeds while the capacity is still free", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 3 });
    const a = await stub.hold(holdRequest(snapshot, "u-a", 2, MINUTE));
    if (!a.ok) throw new Error(a.code);
    setClock(t0 + 2 * MINUTE);
    expect(await checkedStats(eventId)).toMatchObject({ held: 0, remaining: 3 });

    const late = await stub.confirm({ orderId: a.value.order.id });
    if (!late.ok) throw new Error(late.code);
    expect(late.value.order.status).toBe("confirmed");
    expect(late.value.tickets.map((t) => t.serial)).toEqual([1, 2]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, held: 0, remaining: 1 });
    expect((await d1Tickets(eventId)).map((t) => t.serial)).toEqual([1, 2]);
  });

  it("a late confirm fails with hold-expired once the capacity was taken, and mints nothing", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 2 });
    const a = await stub.hold(holdRequest(snapshot, "u-a", 2, MINUTE));
    if (!a.ok) throw new Error(a.code);
    setClock(t0 + 2 * MINUTE);
    const b = await stub.hold(holdRequest(snapshot, "u-b", 2, MINUTE));
    if (!b.ok) throw new Error(b.code);
    expect((await stub.confirm({ orderId: b.value.order.id })).ok).toBe(true);

    const late = await stub.confirm({ orderId: a.value.order.id });
    expect(late).toMatchObject({ ok: false, code: "hold-expired" });
    const tickets = await objectTickets(eventId);
    expect(tickets.map((t) => t.user_id)).toEqual(["u-b", "u-b"]);
    expect((await objectOrders(eventId)).find((o) => o.id === a.value.order.id)?.status).toBe("expired");
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, held: 0, remaining: 0 });

    expect(await stub.sync()).toEqual({ pending: 0 });
    expect((await d1Orders(eventId)).find((o) => o.id === a.value.order.id)?.status).toBe("expired");
    expect((await d1Tickets(eventId)).map((t) => t.user_id)).toEqual(["u-b", "u-b"]);
  });
});

describe("EventInventory: idempotent replays", () => {
  it("hold is idempotent per order id: a replay (even with another quantity) returns the first result and counts once", async () => {
    fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5 });
    const orderId = crypto.randomUUID();
    const first = await stub.hold(holdRequest(snapshot, "u-a", 2, 10 * MINUTE, orderId));
    expect(first.ok).toBe(true);
    const replay = await stub.hold(holdRequest(snapshot, "u-a", 3, 10 * MINUTE, orderId));
    expect(replay).toEqual(first);
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, () => stub.hold(holdRequest(snapshot, "u-a", 2, 10 * MINUTE, orderId))),
    );
    for (const r of concurrent) expect(r).toEqual(first);

    expect(await checkedStats(eventId)).toMatchObject({ sold: 0, held: 2, remaining: 3 });
    expect(await objectOrders(eventId)).toHaveLength(1);
    expect(await d1Orders(eventId)).toHaveLength(1);
  });

  it("confirm is idempotent: replays return the same tickets and mint none", async () => {
    fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5 });
    const held = await stub.hold(holdRequest(snapshot, "u-a", 2));
    if (!held.ok) throw new Error(held.code);
    const first = await stub.confirm({ orderId: held.value.order.id });
    if (!first.ok) throw new Error(first.code);
    expect(first.value.tickets).toHaveLength(2);

    const again = await stub.confirm({ orderId: held.value.order.id });
    expect(again).toEqual(first);
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () => stub.confirm({ orderId: held.value.order.id })),
    );
    for (const r of concurrent) expect(r).toEqual(first);

    expect((await objectTickets(eventId)).map((t) => t.id)).toEqual(first.value.tickets.map((t) => t.id));
    expect(await objectRows(eventId, "SELECT serial FROM tickets ORDER BY serial")).toEqual([
      { serial: 1 },
      { serial: 2 },
    ]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, held: 0, remaining: 3 });
    expect((await d1Tickets(eventId)).map((t) => t.id).sort()).toEqual(first.value.tickets.map((t) => t.id).sort());
  });
});

describe("EventInventory: eviction", () => {
  it("evicting the object mid-hold keeps holds, tickets, the event snapshot and the serial counter", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 10 });
    const a = await stub.hold(holdRequest(snapshot, "u-a", 2, 10 * MINUTE));
    const b = await stub.hold(holdRequest(snapshot, "u-b", 3, 10 * MINUTE));
    if (!a.ok || !b.ok) throw new Error("hold failed");
    const bTickets = await stub.confirm({ orderId: b.value.order.id });
    if (!bTickets.ok) throw new Error(bTickets.code);
    const before = await checkedStats(eventId);
    expect(before).toMatchObject({ capacity: 10, sold: 3, held: 2, remaining: 5 });
    const ticketsBefore = await objectTickets(eventId);

    await evictDurableObject(stub);

    expect(await checkedStats(eventId)).toEqual(before);
    expect(await objectTickets(eventId)).toEqual(ticketsBefore);
    const aAfter = await stub.getOrder(a.value.order.id);
    expect(aAfter?.order).toMatchObject({ status: "held", quantity: 2, holdExpiresAt: t0 + 10 * MINUTE, eventId });
    // The snapshot (capacity, limits) came back from storage: a 6th ticket over capacity is still refused.
    expect(await stub.hold(holdRequest(snapshot, "u-c", 6))).toMatchObject({ ok: false, code: "sold-out" });
    const aConfirmed = await stub.confirm({ orderId: a.value.order.id });
    expect(aConfirmed.ok && aConfirmed.value.tickets.map((t) => [t.serial, t.eventId])).toEqual([
      [4, eventId],
      [5, eventId],
    ]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 5, held: 0, remaining: 5 });
  });
});

describe("EventInventory: the object enforces the sales rules itself", () => {
  it("refuses holds for a draft or cancelled event, before sales open, after sales close, and once the event started", async () => {
    const t0 = fakeNow();
    const cases = [
      [{ status: "draft" as const }, "not-on-sale"],
      [{ status: "cancelled" as const }, "not-on-sale"],
      [{ salesStartAt: t0 + HOUR }, "not-on-sale"],
      [{ salesStartAt: t0 - 2 * HOUR, salesEndAt: t0 - HOUR }, "not-on-sale"],
      [{ startsAt: t0 - 1, endsAt: t0 + HOUR, checkInOpensAt: t0 - HOUR, checkInClosesAt: t0 + HOUR }, "event-started"],
    ] as const;
    for (const [overrides, code] of cases) {
      const { snapshot, stub, eventId } = await configuredInventory(overrides);
      expect(await stub.hold(holdRequest(snapshot, "u-a", 1)), JSON.stringify(overrides)).toMatchObject({
        ok: false,
        code,
      });
      expect(await objectOrders(eventId)).toEqual([]);
      expect(await checkedStats(eventId)).toMatchObject({ sold: 0, held: 0 });
    }
  });

  it("sales open exactly at salesStartAt and the event starts exactly at startsAt", async () => {
    const t0 = fakeNow();
    const { snapshot, stub } = await configuredInventory({ salesStartAt: t0 + HOUR });
    setClock(t0 + HOUR - 1);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 1))).toMatchObject({ ok: false, code: "not-on-sale" });
    setClock(t0 + HOUR);
    expect((await stub.hold(holdRequest(snapshot, "u-a", 1))).ok).toBe(true);
    setClock(snapshot.startsAt);
    expect(await stub.hold(holdRequest(snapshot, "u-b", 1))).toMatchObject({ ok: false, code: "event-started" });
  });

  it("per-user limit 1: a second hold by the same user is already-registered, even while the first is only held", async () => {
    const t0 = fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ perUserLimit: 1 });
    expect((await stub.hold(holdRequest(snapshot, "u-a", 1, MINUTE))).ok).toBe(true);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 1, MINUTE))).toMatchObject({
      ok: false,
      code: "already-registered",
    });
    // Once that hold lapsed it no longer counts against the user.
    setClock(t0 + MINUTE);
    const again = await stub.hold(holdRequest(snapshot, "u-a", 1, MINUTE));
    if (!again.ok) throw new Error(again.code);
    expect((await stub.confirm({ orderId: again.value.order.id })).ok).toBe(true);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 1, MINUTE))).toMatchObject({
      ok: false,
      code: "already-registered",
    });
    expect((await objectTickets(eventId)).map((t) => t.user_id)).toEqual(["u-a"]);
  });

  it("per-user limit above 1 counts tickets and live holds across orders (limit-exceeded)", async () => {
    fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ perUserLimit: 3 });
    const first = await stub.hold(holdRequest(snapshot, "u-a", 2));
    if (!first.ok) throw new Error(first.code);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 2))).toMatchObject({ ok: false, code: "limit-exceeded" });
    expect((await stub.confirm({ orderId: first.value.order.id })).ok).toBe(true);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 2))).toMatchObject({ ok: false, code: "limit-exceeded" });
    expect((await stub.hold(holdRequest(snapshot, "u-a", 1))).ok).toBe(true);
    expect(await stub.hold(holdRequest(snapshot, "u-a", 1))).toMatchObject({ ok: false, code: "limit-exceeded" });
    expect(await stub.hold(holdRequest(snapshot, "u-a", 0))).toMatchObject({ ok: false });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, held: 1, remaining: 7 });
  });
});

describe("EventInventory: configure", () => {
  it("refuses a capacity below sold + held and changes nothing; equal is accepted; an older version is ignored", async () => {
    fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 10 });
    const sold = await stub.hold(holdRequest(snapshot, "u-a", 3));
    if (!sold.ok) throw new Error(sold.code);
    await stub.confirm({ orderId: sold.value.order.id });
    await stub.hold(holdRequest(snapshot, "u-b", 2));
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 10, sold: 3, held: 2, remaining: 5 });

    const tooSmall = await stub.configure({ ...snapshot, version: 2, capacity: 4 });
    expect(tooSmall).toMatchObject({ ok: false, code: "capacity-below-sold" });
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 10, remaining: 5 });
    const stored = await objectRows<{ version: number; json: string }>(eventId, "SELECT version, json FROM snapshot");
    expect(stored.map((s) => [s.version, (JSON.parse(s.json) as { capacity: number }).capacity])).toEqual([[1, 10]]);

    expect(await stub.configure({ ...snapshot, version: 2, capacity: 5 })).toMatchObject({ ok: true });
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 5, sold: 3, held: 2, remaining: 0 });
    // A delayed call carrying version 1 cannot roll the object back to capacity 10.
    await stub.configure({ ...snapshot, version: 1, capacity: 10 });
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 5, remaining: 0 });
  });

  it("a cancelled snapshot voids every ticket and releases every hold", async () => {
    fakeNow();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 10 });
    const a = await stub.hold(holdRequest(snapshot, "u-a", 2));
    if (!a.ok) throw new Error(a.code);
    await stub.confirm({ orderId: a.value.order.id });
    await stub.hold(holdRequest(snapshot, "u-b", 1));
    expect(await stub.configure({ ...snapshot, version: 2, status: "cancelled" })).toMatchObject({ ok: true });

    expect((await objectTickets(eventId)).map((t) => t.status)).toEqual(["void", "void"]);
    expect((await objectOrders(eventId)).map((o) => o.status)).toEqual(["cancelled", "released"]);
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 10, sold: 0, held: 0, remaining: 10 });
    expect((await d1Tickets(eventId)).map((t) => t.status)).toEqual(["void", "void"]);
    expect((await d1Orders(eventId)).map((o) => o.status).sort()).toEqual(["cancelled", "released"]);
    const mails = await env.DB.prepare("SELECT id, template FROM email_outbox WHERE id = ?")
      .bind(`event-cancelled:${a.value.order.id}`)
      .all();
    expect(mails.results).toEqual([{ id: `event-cancelled:${a.value.order.id}`, template: "event-cancelled" }]);
  });
});
