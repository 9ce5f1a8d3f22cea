/**
 * What a claim stores, now that it writes its rows without reading them back: the order written once,
 * already confirmed; the tickets and their serials as minted; the outbox records (order, tickets in
 * serial order, email) written together, in chunks for a large order, and projected to D1 in that
 * order. And a hold that lapses at once still takes the path of hold, expiry and late confirm.
 */
import { describe, expect, it } from "vitest";
import { configuredInventory, holdRequest } from "../features/events/helpers";
import { objectRows, rows } from "../support/db";
import { outboxEmails } from "../support/outbox";

describe("EventInventory.claim: the rows it writes", () => {
  it("stores the order once, confirmed, as getOrder and D1 see it", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5, perUserLimit: 2 });
    const result = await stub.claim(holdRequest(snapshot, "ada", 2));
    if (!result.ok) throw new Error(result.code);
    const { order, tickets } = result.value;
    expect(order).toMatchObject({ status: "confirmed", holdExpiresAt: null, paymentRef: null, amount: 0 });
    expect(order.updatedAt).toBe(order.createdAt);
    // The answer is what the object stored, field for field.
    expect(await stub.getOrder(order.id)).toEqual({ order, tickets });
    const stored = await objectRows<Record<string, unknown>>(eventId, "SELECT * FROM orders WHERE id = ?", order.id);
    expect(stored).toEqual([
      {
        id: order.id,
        user_id: "ada",
        status: "confirmed",
        quantity: 2,
        amount: 0,
        currency: snapshot.currency,
        hold_expires_at: null,
        payment_ref: null,
        contact: JSON.stringify({ email: "ada@example.com", name: "ada" }),
        created_at: order.createdAt,
        updated_at: order.createdAt,
      },
    ]);
    // The claim answered before its push: D1 has the order once that push is done.
    await stub.settled();
    const d1 = await rows("SELECT status, hold_expires_at, quantity FROM orders WHERE id = ?", order.id);
    expect(d1).toEqual([{ status: "confirmed", hold_expires_at: null, quantity: 2 }]);
  });

  it("a 100-ticket order: serials 1..100, and D1 gets the order, then the tickets in serial order, then the email", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 100, perUserLimit: 100 });
    const result = await stub.claim(holdRequest(snapshot, "bulk", 100));
    if (!result.ok) throw new Error(result.code);
    const serials = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(result.value.tickets.map((t) => t.serial)).toEqual(serials);
    expect(new Set(result.value.tickets.map((t) => t.id)).size).toBe(100);
    expect(await stub.sync()).toEqual({ pending: 0 });

    const order = await rows<{ projection_seq: number }>(
      "SELECT projection_seq FROM orders WHERE id = ?",
      result.value.order.id,
    );
    const tickets = await rows<{ serial: number; projection_seq: number; status: string }>(
      "SELECT serial, projection_seq, status FROM tickets WHERE event_id = ? ORDER BY serial",
      eventId,
    );
    expect(tickets.map((t) => t.serial)).toEqual(serials);
    expect(tickets.every((t) => t.status === "active")).toBe(true);
    const seqs = [order[0]?.projection_seq ?? -1, ...tickets.map((t) => t.projection_seq)];
    // One record each, consecutive: nothing else was written in between, nothing twice.
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
    const [email] = await outboxEmails({ id: `order-confirmed:${result.value.order.id}` });
    expect(email?.text).toContain("100");
    expect(await stub.stats()).toMatchObject({ sold: 100, held: 0, remaining: 0 });
  });

  it("a hold that has lapsed by the time it is sold (ttl 0) is expired, then sold while the seat is free", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 1 });
    const result = await stub.claim(holdRequest(snapshot, "late", 1, 0));
    if (!result.ok) throw new Error(result.code);
    expect(result.value.order.status).toBe("confirmed");
    expect(result.value.tickets.map((t) => t.serial)).toEqual([1]);
    expect(await objectRows(eventId, "SELECT status FROM orders")).toEqual([{ status: "confirmed" }]);
    expect(await stub.stats()).toMatchObject({ sold: 1, held: 0, remaining: 0 });
  });
});
