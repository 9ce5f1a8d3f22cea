import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { assertInvariant, configuredInventory, d1Tickets, holdRequest } from "../features/events/helpers";

describe("EventInventory.claim (free events: hold and sale in one transaction)", () => {
  it("mints the tickets at once, with no hold left behind, and pushes them to D1", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5, perUserLimit: 2 });
    const result = await stub.claim(holdRequest(snapshot, "ada", 2));
    if (!result.ok) throw new Error(result.code);
    expect(result.value.order.status).toBe("confirmed");
    expect(result.value.tickets.map((t) => t.serial)).toEqual([1, 2]);
    const stats = await stub.stats();
    expect(stats).toMatchObject({ capacity: 5, sold: 2, held: 0, remaining: 3 });
    assertInvariant(stats);
    // Answered before its push: D1 has the tickets once that push is done.
    await stub.settled();
    expect((await d1Tickets(eventId)).map((t) => t.serial).sort()).toEqual([1, 2]);
  });

  it("is idempotent per order id: a replay returns the same tickets and mints none", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 5 });
    const request = holdRequest(snapshot, "bob", 1);
    const first = await stub.claim(request);
    const again = await stub.claim(request);
    if (!first.ok || !again.ok) throw new Error("claim failed");
    expect(again.value.tickets.map((t) => t.id)).toEqual(first.value.tickets.map((t) => t.id));
    expect((await stub.stats()).sold).toBe(1);
  });

  it("applies the same rules as hold: already-registered, limit-exceeded, sold-out", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 2, perUserLimit: 1 });
    expect((await stub.claim(holdRequest(snapshot, "cy", 1))).ok).toBe(true);
    expect(await stub.claim(holdRequest(snapshot, "cy", 1))).toMatchObject({ ok: false, code: "already-registered" });
    expect(await stub.claim(holdRequest(snapshot, "dee", 2))).toMatchObject({ ok: false, code: "limit-exceeded" });
    expect((await stub.claim(holdRequest(snapshot, "dee", 1))).ok).toBe(true);
    expect(await stub.claim(holdRequest(snapshot, "eve", 1))).toMatchObject({ ok: false, code: "sold-out" });
  });

  it("refuses an event with a price (not-free) and rolls the hold back, even when the caller's copy says free", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 5 });
    const priced = { ...snapshot, version: snapshot.version + 1, price: 1500 };
    expect((await stub.configure(priced)).ok).toBe(true);
    const request = holdRequest(snapshot, "fay");
    expect(await stub.claim(request)).toMatchObject({ ok: false, code: "not-free" });
    expect(await stub.getOrder(request.orderId)).toBeNull();
    expect(await stub.stats()).toMatchObject({ sold: 0, held: 0, remaining: 5 });
  });

  it("with no contact, the sale and a later cancellation notify nobody; with one, both are emailed", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 5 });
    const silent = await stub.claim({ ...holdRequest(snapshot, "nobody"), contact: null });
    const emailed = await stub.claim(holdRequest(snapshot, "someone"));
    if (!silent.ok || !emailed.ok) throw new Error("claim failed");
    await stub.configure({ ...snapshot, version: snapshot.version + 1, status: "cancelled" });
    await stub.sync();
    const emails = await env.DB.prepare("SELECT id FROM email_outbox WHERE id LIKE ? OR id LIKE ? ORDER BY id")
      .bind(`%:${silent.value.order.id}`, `%:${emailed.value.order.id}`)
      .all<{ id: string }>();
    expect(emails.results.map((e) => e.id)).toEqual([
      `event-cancelled:${emailed.value.order.id}`,
      `order-confirmed:${emailed.value.order.id}`,
    ]);
    expect((await stub.getOrder(silent.value.order.id))?.order.status).toBe("cancelled");
  });

  it("500 concurrent claims on capacity 40: exactly 40 tickets, serials 1..40", async () => {
    const { snapshot, stub } = await configuredInventory({ capacity: 40 });
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => stub.claim(holdRequest(snapshot, `u${i}`))),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(40);
    expect(results.filter((r) => !r.ok && r.code === "sold-out")).toHaveLength(460);
    const serials = results.flatMap((r) => (r.ok ? r.value.tickets.map((t) => t.serial) : []));
    expect(new Set(serials).size).toBe(40);
    expect(Math.max(...serials)).toBe(40);
    assertInvariant(await stub.stats());
  });
});
