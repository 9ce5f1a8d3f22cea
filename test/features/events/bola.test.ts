/**
 * Object-level authorisation on orders and tickets: someone else's order is indistinguishable from
 * a missing one, and /me/tickets lists only the caller's tickets.
 */
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, checkedStats, createEvent, d1Tickets, hostWithToken, objectTickets, order } from "./helpers";

const shape = (p: Record<string, unknown>) => ({ type: p.type, title: p.title, status: p.status, detail: p.detail });

async function claim(eventId: string, token: string) {
  const res = await order(eventId, token);
  if (res.status !== 201) throw new Error(`claim: ${res.status} ${await res.text()}`);
  return (await res.json()) as { order: { id: string }; tickets: { id: string }[] };
}

describe("orders are visible only to their owner", () => {
  it("another user's GET /orders/:id and POST /orders/:id/cancel answer 404 exactly like a missing id, and change nothing", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const [owner, intruder] = await buyers(2);
    if (!owner || !intruder) throw new Error("no buyers");
    const mine = await claim(event.id, owner.token);

    const missingGet = await call("/api/v1/orders/00000000000000000000aa", { headers: bearer(intruder.token) });
    const missingCancel = await call("/api/v1/orders/00000000000000000000aa/cancel", {
      method: "POST",
      headers: bearer(intruder.token),
    });
    const otherGet = await call(`/api/v1/orders/${mine.order.id}`, { headers: bearer(intruder.token) });
    const otherCancel = await call(`/api/v1/orders/${mine.order.id}/cancel`, {
      method: "POST",
      headers: bearer(intruder.token),
    });
    for (const res of [missingGet, missingCancel, otherGet, otherCancel]) expect(res.status).toBe(404);
    const expected = shape(await problemOf(missingGet));
    expect(expected.type).toMatch(/\/not-found$/);
    expect(shape(await problemOf(missingCancel))).toEqual(expected);
    expect(shape(await problemOf(otherGet))).toEqual(expected);
    expect(shape(await problemOf(otherCancel))).toEqual(expected);

    expect(await call(`/api/v1/orders/${mine.order.id}`).then((r) => r.status)).toBe(401);
    expect((await objectTickets(event.id)).map((t) => t.status)).toEqual(["active"]);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, remaining: 4 });
    const own = await call(`/api/v1/orders/${mine.order.id}`, { headers: bearer(owner.token) });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({
      order: { id: mine.order.id, status: "confirmed" },
      tickets: [{ id: mine.tickets[0]?.id, status: "active" }],
    });
  });
});

describe("GET /api/v1/me/tickets", () => {
  it("lists only the caller's tickets, newest first, with event title, start and venue, paginated by limit and nextCursor", async () => {
    const host = await hostWithToken();
    const venues = [
      { name: "Paradiso", address: "Weteringschans 6, Amsterdam", lat: 52.362, lng: 4.884 },
      { name: "Melkweg", address: "Lijnbaansgracht 234, Amsterdam", lat: 52.365, lng: 4.881 },
      { name: "Bimhuis", address: "Piet Heinkade 3, Amsterdam", lat: 52.378, lng: 4.913 },
    ];
    const events = [];
    for (const [i, venue] of venues.entries())
      events.push(await createEvent(host.token, { title: `Night ${i}`, venue }));
    const [me, someoneElse] = await buyers(2);
    if (!me || !someoneElse) throw new Error("no buyers");

    const mine: string[] = [];
    for (const e of events) {
      mine.push((await claim(e.id, me.token)).tickets[0]?.id as string);
      await claim(e.id, someoneElse.token);
      // Distinct creation instants, so "newest first" has one answer.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }

    type Page = {
      items: {
        id: string;
        serial: number;
        status: string;
        redeemedAt: string | null;
        event: { id: string; title: string; startsAt: string; venue: unknown };
      }[];
      nextCursor: string | null;
    };
    const first = (await (await call("/api/v1/me/tickets?limit=2", { headers: bearer(me.token) })).json()) as Page;
    expect(first.items.map((t) => t.id)).toEqual([mine[2], mine[1]]);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(first.items[0]).toEqual({
      id: mine[2],
      serial: 1,
      status: "active",
      redeemedAt: null,
      event: {
        id: events[2]?.id,
        title: "Night 2",
        startsAt: (events[2] as unknown as { startsAt: string }).startsAt,
        venue: venues[2],
      },
    });

    const second = (await (
      await call(`/api/v1/me/tickets?limit=2&cursor=${encodeURIComponent(first.nextCursor as string)}`, {
        headers: bearer(me.token),
      })
    ).json()) as Page;
    expect(second.items.map((t) => t.id)).toEqual([mine[0]]);
    expect(second.nextCursor).toBeNull();

    const all = (await (await call("/api/v1/me/tickets", { headers: bearer(me.token) })).json()) as Page;
    expect(all.items.map((t) => t.id)).toEqual([mine[2], mine[1], mine[0]]);
    expect(all.nextCursor).toBeNull();
    const theirs = (await (await call("/api/v1/me/tickets", { headers: bearer(someoneElse.token) })).json()) as Page;
    expect(theirs.items).toHaveLength(3);
    expect(theirs.items.some((t) => mine.includes(t.id))).toBe(false);

    expect((await call("/api/v1/me/tickets")).status).toBe(401);
  });

  it("a malformed cursor is a 400 validation error, not a server error", async () => {
    const [me] = await buyers(1);
    if (!me) throw new Error("no buyer");
    for (const cursor of ["%%%", "not base64!", btoa("garbage"), btoa("12|")]) {
      const res = await call(`/api/v1/me/tickets?cursor=${encodeURIComponent(cursor)}`, { headers: bearer(me.token) });
      expect(res.status, cursor).toBe(400);
      const problem = await problemOf(res);
      expect(problem.type).toMatch(/\/validation-failed$/);
      expect((problem.errors as { path: string }[]).map((e) => e.path)).toEqual(["cursor"]);
    }
  });
});
