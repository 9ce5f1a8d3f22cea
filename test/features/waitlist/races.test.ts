/**
 * Frees and accepts at once: 50 tickets given back while 60 people wait, each accepting (or
 * declining) the moment their offer shows in GET /api/v1/me/waitlist, and strangers trying to buy the
 * freed seats meanwhile. The object decides every offer in the transaction that freed the seat, so
 * the capacity is never exceeded, nobody gets two tickets, strangers never get the line's seats, and
 * the D1 read model ends up agreeing with the object.
 */
import { describe, expect, it } from "vitest";
import { codeOfResponse, rows } from "../../support/db";
import { checkedStats, d1Tickets, objectTickets, order } from "../events/helpers";
import { accept, cancelOrder, d1Line, decline, entryOf, join, objectLine, people, soldOutEvent } from "./helpers";

const CAPACITY = 50;
const WAITING = 60;
const DECLINERS = 5;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("50 concurrent frees and accepts", () => {
  it("never exceed the capacity: 50 tickets, each to one person of the line, in line order; strangers get sold-out", async () => {
    const { event, holders, orders } = await soldOutEvent(CAPACITY);
    const line = await people(WAITING);
    const strangers = await people(20);

    // Joining at once: every place in line is handed out once.
    const joined = await Promise.all(line.map((p) => join(event.id, p.token)));
    expect(joined.map((r) => r.status)).toEqual(line.map(() => 201));
    const positions = await Promise.all(joined.map(async (r) => ((await r.json()) as { position: number }).position));
    expect(new Set(positions).size).toBe(WAITING);
    const byNumber = new Map((await objectLine(event.id)).map((e) => [e.user_id, e.number]));
    const inOrder = [...line].sort((a, b) => (byNumber.get(a.id) as number) - (byNumber.get(b.id) as number));
    const decliners = new Set(inOrder.slice(0, DECLINERS).map((p) => p.id));

    let accepted = 0;
    const outcomes: string[] = [];
    const deadline = Date.now() + 90_000;
    // Each person in line acts the moment their offer shows, until every seat is taken.
    const waiter = async (person: (typeof line)[number]) => {
      while (accepted < CAPACITY && Date.now() < deadline) {
        const entry = await entryOf(event.id, person.token);
        if (entry?.status === "offered" && entry.offerId) {
          if (decliners.has(person.id)) {
            outcomes.push(`decline ${(await decline(entry.offerId, person.token)).status}`);
          } else {
            const res = await accept(entry.offerId, person.token, { "Idempotency-Key": crypto.randomUUID() });
            outcomes.push(`accept ${res.status}`);
            if (res.status === 201) accepted += 1;
          }
          return;
        }
        await pause(20);
      }
    };
    const [frees, bought] = await Promise.all([
      Promise.all(holders.map((h, i) => cancelOrder(orders[i] as string, h.token))),
      Promise.all(
        strangers.map(async (s) => {
          const res = await order(event.id, s.token);
          return res.status === 201 ? "201" : `${res.status} ${await codeOfResponse(res)}`;
        }),
      ),
      Promise.all(line.map(waiter)),
    ]);
    expect(frees.map((r) => r.status)).toEqual(holders.map(() => 200));
    expect(bought).toEqual(strangers.map(() => "409 sold-out"));
    expect(outcomes.filter((o) => o === "accept 201")).toHaveLength(CAPACITY);
    expect(outcomes.filter((o) => o === "decline 204")).toHaveLength(DECLINERS);
    expect(outcomes).toHaveLength(CAPACITY + DECLINERS);

    // The object: exactly the capacity sold, nothing held, one ticket per person, all of them from the line.
    expect(await checkedStats(event.id)).toMatchObject({ capacity: CAPACITY, sold: CAPACITY, held: 0, remaining: 0 });
    const active = (await objectTickets(event.id)).filter((t) => t.status === "active");
    expect(active).toHaveLength(CAPACITY);
    expect(new Set(active.map((t) => t.user_id)).size).toBe(CAPACITY);
    const lineIds = new Set(line.map((p) => p.id));
    expect(active.every((t) => lineIds.has(t.user_id))).toBe(true);
    // Offers went in line order: the first 55 were offered (5 declined), the last 5 still wait.
    const final = await objectLine(event.id);
    expect(final.map((e) => e.status)).toEqual([
      ...Array(DECLINERS).fill("declined"),
      ...Array(CAPACITY).fill("accepted"),
      ...Array(WAITING - CAPACITY - DECLINERS).fill("waiting"),
    ]);

    // D1 agrees: the same tickets, the same line.
    const d1Active = (await d1Tickets(event.id)).filter((t) => t.status === "active");
    expect(d1Active.map((t) => t.id).sort()).toEqual(active.map((t) => t.id).sort());
    expect((await d1Line(event.id)).map((e) => [e.user_id, e.status])).toEqual(final.map((e) => [e.user_id, e.status]));
    const [{ n: held } = { n: -1 }] = await rows<{ n: number }>(
      "SELECT COUNT(*) AS n FROM orders WHERE event_id = ? AND status = 'held'",
      event.id,
    );
    expect(held).toBe(0);
    // And each person's own view says the same.
    const last = inOrder[WAITING - 1] as (typeof line)[number];
    expect(await entryOf(event.id, last.token)).toMatchObject({ status: "waiting", position: 5 });
  }, 180_000);
});
