/**
 * Races through the real Worker: many buyers at once on a small capacity, and one user racing
 * themselves. The object decides; the tests check the HTTP answers, what the object stored and
 * what the D1 read model ends up with.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { freshIp } from "../../helpers";
import { codeOfResponse } from "../../support/db";
import { bearer } from "../auth/helpers";
import {
  buyers,
  checkedStats,
  createEvent,
  d1Tickets,
  hostWithToken,
  inventory,
  objectTickets,
  order,
  publicAvailability,
} from "../events/helpers";

/** The Worker with the order rate policies raised, so every request reaches the inventory. */
const raisedEnv = { ...env, RATE_LIMITS: '{"orders":{"limit":1000,"windowSeconds":60}}' };
const app = createApp();

function orderWithRaisedLimits(eventId: string, token: string, quantity = 1) {
  return app.request(
    `/api/v1/events/${eventId}/orders`,
    {
      method: "POST",
      headers: { ...bearer(token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ quantity }),
    },
    raisedEnv,
  );
}

async function outcome(res: Response): Promise<string> {
  return res.status === 201 ? "201" : `${res.status} ${await codeOfResponse(res)}`;
}

function tally(outcomes: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  return counts;
}

describe("races over HTTP", () => {
  it("1,000 concurrent buyers on capacity 50: exactly 50 tickets (serials 1..50) and 950 sold-out, in the object and in D1", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 50 });
    const people = await buyers(1000);

    const started = Date.now();
    const responses = await Promise.all(people.map((p) => order(event.id, p.token)));
    const bodies = await Promise.all(
      responses.map(async (r) =>
        r.status === 201
          ? { status: 201, body: (await r.json()) as { order: { id: string }; tickets: { id: string }[] } }
          : { status: r.status, code: await codeOfResponse(r) },
      ),
    );
    console.log(`HTTP race: 1,000 concurrent POST /orders answered in ${Date.now() - started} ms`);

    expect(tally(bodies.map((b) => ("code" in b ? `${b.status} ${b.code}` : "201")))).toEqual({
      "201": 50,
      "409 sold-out": 950,
    });
    const issued = bodies.flatMap((b) => ("body" in b && b.body ? b.body.tickets.map((t) => t.id) : []));
    expect(new Set(issued).size).toBe(50);

    const tickets = await objectTickets(event.id);
    expect(tickets).toHaveLength(50);
    expect(tickets.map((t) => t.serial)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(tickets.map((t) => t.id)).size).toBe(50);
    expect(new Set(tickets.map((t) => t.user_id)).size).toBe(50);
    expect(tickets.map((t) => t.id).sort()).toEqual([...issued].sort());
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 50, sold: 50, held: 0, remaining: 0 });

    expect(await inventory(event.id).sync()).toEqual({ pending: 0 });
    const projected = await d1Tickets(event.id);
    expect(projected.map((t) => [t.id, t.serial, t.status])).toEqual(tickets.map((t) => [t.id, t.serial, "active"]));
    expect(await publicAvailability(event.id)).toEqual({ capacity: 50, sold: 50, held: 0, remaining: 0 });
  }, 90_000);

  it("the same user racing 20 requests on a per-user limit of 1 gets exactly 1 ticket; the other 19 are already-registered", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 50 });
    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");

    const responses = await Promise.all(Array.from({ length: 20 }, () => orderWithRaisedLimits(event.id, buyer.token)));
    expect(tally(await Promise.all(responses.map(outcome)))).toEqual({ "201": 1, "409 already-registered": 19 });

    expect(await objectTickets(event.id)).toEqual([expect.objectContaining({ user_id: buyer.id, serial: 1 })]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0, remaining: 49 });
    await inventory(event.id).sync();
    expect(await d1Tickets(event.id)).toEqual([expect.objectContaining({ user_id: buyer.id, status: "active" })]);
  });

  it("with the default orders-user policy (5/min) the same race still yields exactly 1 ticket: 4 already-registered, 15 rate-limited", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 50 });
    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");

    const responses = await Promise.all(Array.from({ length: 20 }, () => order(event.id, buyer.token)));
    expect(tally(await Promise.all(responses.map(outcome)))).toEqual({
      "201": 1,
      "409 already-registered": 4,
      "429 rate-limited": 15,
    });
    expect(await objectTickets(event.id)).toHaveLength(1);
    await inventory(event.id).sync();
    expect(await d1Tickets(event.id)).toHaveLength(1);
  });

  it("the same user racing 20 requests on a per-user limit of 3 gets exactly 3 tickets; the rest are limit-exceeded", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 50, perUserLimit: 3 });
    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");

    const responses = await Promise.all(Array.from({ length: 20 }, () => orderWithRaisedLimits(event.id, buyer.token)));
    expect(tally(await Promise.all(responses.map(outcome)))).toEqual({ "201": 3, "409 limit-exceeded": 17 });
    expect((await objectTickets(event.id)).map((t) => [t.serial, t.user_id])).toEqual([
      [1, buyer.id],
      [2, buyer.id],
      [3, buyer.id],
    ]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 3, held: 0, remaining: 47 });
    await inventory(event.id).sync();
    expect(await d1Tickets(event.id)).toHaveLength(3);
  });
});
