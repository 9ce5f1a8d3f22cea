/**
 * Concurrency at the object's RPC surface: many callers at once, distinct or the same user. The
 * object must serialise every decision (no oversell, no duplicate serial) and the D1 read model must
 * end up with exactly what the object holds.
 */
import { describe, expect, it } from "vitest";
import { checkedStats, configuredInventory, d1Tickets, holdRequest, objectTickets } from "../features/events/helpers";

describe("EventInventory under concurrent calls", () => {
  it("1,000 concurrent hold+confirm calls from distinct users on capacity 50 sell exactly 50, serials 1..50", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 50, perUserLimit: 1 });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const held = await stub.hold(holdRequest(snapshot, `user-${i}`, 1));
        if (!held.ok) return held.code;
        const confirmed = await stub.confirm({ orderId: held.value.order.id });
        return confirmed.ok ? confirmed.value.tickets : confirmed.code;
      }),
    );
    console.log(`RPC race: 1,000 hold+confirm calls in ${Date.now() - started} ms`);

    const sold = results.filter((r) => Array.isArray(r));
    const refused = results.filter((r) => !Array.isArray(r));
    expect(sold).toHaveLength(50);
    expect(refused).toEqual(Array(950).fill("sold-out"));

    const tickets = await objectTickets(eventId);
    expect(tickets).toHaveLength(50);
    expect(tickets.map((t) => t.serial)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(tickets.map((t) => t.id)).size).toBe(50);
    expect(new Set(tickets.map((t) => t.user_id)).size).toBe(50);
    expect(await checkedStats(eventId)).toMatchObject({ capacity: 50, sold: 50, held: 0, remaining: 0 });

    expect(await stub.sync()).toEqual({ pending: 0 });
    const projected = await d1Tickets(eventId);
    expect(projected.map((t) => [t.id, t.serial, t.user_id])).toEqual(tickets.map((t) => [t.id, t.serial, t.user_id]));
  });

  it("multi-ticket orders racing never oversell: every refusal asked for more than what is left at the end", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 100, perUserLimit: 4 });
    const asks = Array.from({ length: 300 }, (_, i) => (i % 4) + 1);
    const results = await Promise.all(
      asks.map(async (quantity, i) => {
        const held = await stub.hold(holdRequest(snapshot, `multi-${i}`, quantity));
        if (!held.ok) return { quantity, code: held.code };
        const confirmed = await stub.confirm({ orderId: held.value.order.id });
        return { quantity, code: confirmed.ok ? "ok" : confirmed.code };
      }),
    );
    const granted = results.filter((r) => r.code === "ok").reduce((n, r) => n + r.quantity, 0);
    const stats = await checkedStats(eventId);
    expect(granted).toBeLessThanOrEqual(100);
    expect(stats).toMatchObject({ sold: granted, held: 0, remaining: 100 - granted });
    for (const r of results.filter((x) => x.code !== "ok")) {
      expect(r.code).toBe("sold-out");
      expect(r.quantity).toBeGreaterThan(stats.remaining);
    }
    const tickets = await objectTickets(eventId);
    expect(tickets.map((t) => t.serial)).toEqual(Array.from({ length: granted }, (_, i) => i + 1));
    await stub.sync();
    expect(await d1Tickets(eventId)).toHaveLength(granted);
  });

  it("the same user racing 20 holds on a per-user limit of 1 gets exactly one", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 50, perUserLimit: 1 });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => stub.hold(holdRequest(snapshot, "same-user", 1))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.code)).toEqual(Array(19).fill("already-registered"));
    expect(await checkedStats(eventId)).toMatchObject({ sold: 0, held: 1, remaining: 49 });
  });
});
