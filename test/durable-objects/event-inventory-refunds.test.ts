/**
 * EventInventory deciding refunds against the gate, over RPC: a refund is reserved (tickets
 * `refunding`) in the transaction that checks no ticket was admitted, so a ticket is admitted or
 * refunded, never both — checked one call at a time, and with a scan and a reservation racing for each
 * of 50 tickets; then the object's rows, its counters and the D1 projection.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { EventSnapshot, ScanAnswer } from "../../durable-objects/event-inventory/contract";
import { LATEST_SCHEMA_VERSION } from "../../durable-objects/event-inventory/schema";
import {
  beforeSeatCounts,
  checkedStats,
  configuredInventory,
  d1Orders,
  d1Tickets,
  HOUR,
  holdRequest,
  objectOrders,
  objectTickets,
} from "../features/events/helpers";
import { objectRows } from "../support/db";

type Stub = Awaited<ReturnType<typeof configuredInventory>>["stub"];

/** A paid event whose doors opened an hour ago (starts in an hour), as the object sees it. */
function gateOpen(): Partial<EventSnapshot> {
  const start = Date.now() + HOUR;
  return { price: 1500, capacity: 60, perUserLimit: 10, startsAt: start, checkInOpensAt: start - 2 * HOUR };
}

/** `count` confirmed paid orders of one ticket each, for different buyers. */
async function paidOrders(stub: Stub, snapshot: EventSnapshot, count: number) {
  const orders: { orderId: string; ticketId: string }[] = [];
  for (let i = 0; i < count; i++) {
    const held = await stub.hold(holdRequest(snapshot, `buyer-${i}`, 1));
    if (!held.ok) throw new Error(held.code);
    const confirmed = await stub.confirm({ orderId: held.value.order.id, paymentRef: `pi_${i}` });
    if (!confirmed.ok) throw new Error(confirmed.code);
    orders.push({ orderId: held.value.order.id, ticketId: (confirmed.value.tickets[0] as { id: string }).id });
  }
  return orders;
}

const scanOf = (ticketId: string, nonce = crypto.randomUUID()) => ({
  ticketId,
  nonce,
  deviceId: "dev-1",
  deviceName: "Door 1",
});

function answer(result: ScanAnswer | { deviceRevoked: true }): ScanAnswer {
  if ("deviceRevoked" in result) throw new Error("device revoked");
  return result;
}

describe("EventInventory refunds against the gate", () => {
  it("a reserved refund makes the ticket unadmissible (refund_pending) while its seat stays sold; refund() voids it and frees the seat", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const [o] = await paidOrders(stub, snapshot, 1);
    if (!o) throw new Error("no order");

    const reserved = await stub.reserveRefund({ orderId: o.orderId });
    expect(reserved).toMatchObject({
      ok: true,
      value: { order: { status: "confirmed" }, tickets: [{ status: "refunding" }] },
    });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1, checkedIn: 0 });
    // Asking again changes nothing.
    expect(await stub.reserveRefund({ orderId: o.orderId })).toMatchObject({ ok: true });

    const refused = answer(await stub.redeem(scanOf(o.ticketId)));
    expect(refused).toMatchObject({ result: "refund_pending", ticket: { id: o.ticketId, status: "refunding" } });
    expect(await objectRows(eventId, "SELECT COUNT(*) AS n FROM gate_redemptions")).toEqual([{ n: 0 }]);
    expect(await objectRows(eventId, "SELECT result FROM gate_scans")).toEqual([{ result: "refund_pending" }]);

    expect(await stub.refund({ orderId: o.orderId, outcome: "refunded" })).toMatchObject({
      ok: true,
      value: { order: { status: "refunded" }, tickets: [{ status: "void" }] },
    });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 0, remaining: 60 });
    expect(answer(await stub.redeem(scanOf(o.ticketId))).result).toBe("not_active");
    await stub.sync();
    expect(await d1Tickets(eventId)).toEqual([expect.objectContaining({ id: o.ticketId, status: "void" })]);
    expect(await d1Orders(eventId)).toEqual([expect.objectContaining({ id: o.orderId, status: "refunded" })]);
  });

  it("an admitted ticket cannot be reserved for a refund (ticket-redeemed), and nothing changes", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const [o] = await paidOrders(stub, snapshot, 1);
    if (!o) throw new Error("no order");
    expect(answer(await stub.redeem(scanOf(o.ticketId))).result).toBe("admitted");

    const refused = await stub.reserveRefund({ orderId: o.orderId });
    expect(refused).toMatchObject({ ok: false, code: "ticket-redeemed" });
    expect(await objectTickets(eventId)).toEqual([expect.objectContaining({ id: o.ticketId, status: "redeemed" })]);
    expect((await objectOrders(eventId))[0]?.status).toBe("confirmed");
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1, checkedIn: 1 });
  });

  it("releaseRefund (Stripe refused for good) makes the tickets active and admissible again", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const [o] = await paidOrders(stub, snapshot, 1);
    if (!o) throw new Error("no order");
    await stub.reserveRefund({ orderId: o.orderId });

    expect(await stub.releaseRefund({ orderId: o.orderId })).toMatchObject({
      ok: true,
      value: { order: { status: "confirmed" }, tickets: [{ status: "active" }] },
    });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1 });
    expect(answer(await stub.redeem(scanOf(o.ticketId))).result).toBe("admitted");
    await stub.sync();
    expect(await d1Tickets(eventId)).toEqual([expect.objectContaining({ id: o.ticketId, status: "redeemed" })]);
  });

  it("a cancelled event's order is refundable even after a ticket was used (the host called the event off); a refund in flight ends void", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const [o, inFlight] = await paidOrders(stub, snapshot, 2);
    if (!o || !inFlight) throw new Error("no orders");
    expect(answer(await stub.redeem(scanOf(o.ticketId))).result).toBe("admitted");
    expect(await stub.reserveRefund({ orderId: inFlight.orderId })).toMatchObject({ ok: true });
    await stub.configure({ ...snapshot, version: snapshot.version + 1, status: "cancelled" });
    expect(await stub.reserveRefund({ orderId: o.orderId })).toMatchObject({ ok: true });
    expect((await objectTickets(eventId)).map((t) => [t.id, t.status])).toEqual([
      [o.ticketId, "redeemed"],
      [inFlight.ticketId, "void"],
    ]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1, checkedIn: 1 });
  });

  it("50 tickets, each with a scan and a refund reservation racing: every ticket is admitted or refunded, never both", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const orders = await paidOrders(stub, snapshot, 50);

    // Interleaved, alternating which call leaves first, so both orders of arrival occur.
    const outcomes = await Promise.all(
      orders.map(async (o, i) => {
        const scan = () => stub.redeem(scanOf(o.ticketId)).then(answer);
        const reserve = () => stub.reserveRefund({ orderId: o.orderId });
        if (i % 2 === 0) {
          const [s, r] = await Promise.all([scan(), reserve()]);
          return { o, scan: s, reserve: r };
        }
        const [r, s] = await Promise.all([reserve(), scan()]);
        return { o, scan: s, reserve: r };
      }),
    );

    let admitted = 0;
    for (const { o, scan, reserve } of outcomes) {
      if (scan.result === "admitted") {
        admitted += 1;
        expect(reserve, o.ticketId).toMatchObject({ ok: false, code: "ticket-redeemed" });
      } else {
        expect(scan.result, o.ticketId).toBe("refund_pending");
        expect(reserve, o.ticketId).toMatchObject({ ok: true, value: { tickets: [{ status: "refunding" }] } });
        // Stripe said yes: the refund is recorded.
        expect(await stub.refund({ orderId: o.orderId, outcome: "refunded" })).toMatchObject({ ok: true });
      }
    }
    console.log(`refund race: ${admitted} admitted, ${50 - admitted} refunded`);

    const tickets = new Map((await objectTickets(eventId)).map((t) => [t.id, t.status]));
    const orderRows = new Map((await objectOrders(eventId)).map((r) => [r.id, r.status]));
    const redeemed = new Set(
      (await objectRows<{ ticket_id: string }>(eventId, "SELECT ticket_id FROM gate_redemptions")).map(
        (r) => r.ticket_id,
      ),
    );
    for (const { o, scan } of outcomes) {
      const used = scan.result === "admitted";
      expect([tickets.get(o.ticketId), orderRows.get(o.orderId), redeemed.has(o.ticketId)]).toEqual(
        used ? ["redeemed", "confirmed", true] : ["void", "refunded", false],
      );
    }
    expect(await checkedStats(eventId)).toMatchObject({ sold: admitted, checkedIn: admitted });

    expect(await stub.sync()).toEqual({ pending: 0 });
    const projected = new Map((await d1Tickets(eventId)).map((t) => [t.id, t.status]));
    expect(projected).toEqual(tickets);
    expect(new Map((await d1Orders(eventId)).map((r) => [r.id, r.status]))).toEqual(orderRows);
  });
});

describe("EventInventory schema v6 (refunding)", () => {
  it("an object from before v6 gets triggers that keep a refunding ticket's seat sold, counts taken again", async () => {
    const { snapshot, stub, eventId } = await configuredInventory(gateOpen());
    const [a, b] = await paidOrders(stub, snapshot, 2);
    if (!a || !b) throw new Error("no orders");
    await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      // v5 as it was: only active and redeemed tickets counted as sold.
      beforeSeatCounts(sql);
      sql.exec(`
        DROP TRIGGER ticket_counts_insert; DROP TRIGGER ticket_counts_update; DROP TRIGGER ticket_counts_delete;
        CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN
          UPDATE ticket_counts SET sold = sold + (NEW.status IN ('active', 'redeemed')),
            checked_in = checked_in + (NEW.status = 'redeemed') WHERE id = 1;
        END;
        CREATE TRIGGER ticket_counts_update AFTER UPDATE OF status ON tickets BEGIN
          UPDATE ticket_counts
            SET sold = sold - (OLD.status IN ('active', 'redeemed')) + (NEW.status IN ('active', 'redeemed')),
              checked_in = checked_in - (OLD.status = 'redeemed') + (NEW.status = 'redeemed') WHERE id = 1;
        END;
        CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN
          UPDATE ticket_counts SET sold = sold - (OLD.status IN ('active', 'redeemed')),
            checked_in = checked_in - (OLD.status = 'redeemed') WHERE id = 1;
        END;
        UPDATE ticket_counts SET sold = 7 WHERE id = 1;
      `);
      sql.exec("UPDATE schema_version SET version = 5");
    });
    await evictDurableObject(stub);

    // The next call runs the migrations: counts from the rows, v6 on, and a reservation keeps the seat.
    expect(await stub.reserveRefund({ orderId: a.orderId })).toMatchObject({ ok: true });
    expect(await objectRows(eventId, "SELECT version FROM schema_version")).toEqual([
      { version: LATEST_SCHEMA_VERSION },
    ]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 2, remaining: 58 });
    await stub.refund({ orderId: a.orderId, outcome: "refunded" });
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1, remaining: 59 });
  });
});
