/**
 * The host's lists (GET /api/v1/me/events, /events/:id/orders, /attendees, /checkins): the right rows
 * for a signed-in host and for a key with the scope, paged by keyset cursor without gaps or repeats.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { call, problemOf } from "../../helpers";
import { codeOf, rows } from "../../support/db";
import { bearer } from "../auth/helpers";
import { createEvent } from "../events/helpers";
import { gateEvent, inventory, issueTickets, qrToken, registerDevice, scan, scanBody } from "../gate/helpers";
import { createKey, withKey } from "./helpers";

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Every item of a list, following nextCursor `limit` at a time, through `get`. */
async function all<T>(get: (query: string) => Promise<Response>, limit: number): Promise<T[][]> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const res = await get(`?limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
    if (res.status !== 200) throw new Error(`list: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as Page<T>;
    pages.push(page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return pages;
}

describe("GET /api/v1/me/events", () => {
  it("lists the host's own events of every status, newest first, for a session and a key alike", async () => {
    const { host, event: published } = await gateEvent();
    const draft = await createEvent(host.token, { title: "Draft night" }, false);
    const other = await gateEvent();
    const key = await createKey(host.token, ["events:read"]);

    const bySession = await all<{ id: string; status: string }>(
      (q) => call(`/api/v1/me/events${q}`, { headers: bearer(host.token) }),
      1,
    );
    const byKey = await all<{ id: string; status: string }>((q) => withKey(key.key, `/api/v1/me/events${q}`), 1);
    for (const pages of [bySession, byKey]) {
      expect(pages.flat().map((e) => [e.id, e.status])).toEqual([
        [draft.id, "draft"],
        [published.id, "published"],
      ]);
      expect(pages.flat().map((e) => e.id)).not.toContain(other.event.id);
    }
    const bad = await call("/api/v1/me/events?cursor=zz!", { headers: bearer(host.token) });
    expect(bad.status).toBe(400);
    expect(codeOf(await problemOf(bad))).toBe("validation-failed");
  });
});

describe("an event's orders, attendees and check-ins", () => {
  it("the same rows for the host's session and a key with each scope, paged without gaps or repeats", async () => {
    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 5, 2);
    await inventory(event.id).sync();
    const key = await createKey(host.token, ["orders:read", "attendees:read", "checkins:read"]);
    const both = (path: string) => [
      (q: string) => call(`${path}${q}`, { headers: bearer(host.token) }),
      (q: string) => withKey(key.key, `${path}${q}`),
    ];

    const stored = await rows<{
      id: string;
      user_id: string;
      status: string;
      quantity: number;
      amount: number;
      currency: string;
      created_at: number;
    }>("SELECT * FROM orders WHERE event_id = ? ORDER BY created_at DESC, id DESC", event.id);
    expect(stored).toHaveLength(3);
    for (const get of both(`/api/v1/events/${event.id}/orders`)) {
      const pages = await all<Record<string, unknown>>(get, 2);
      expect(pages.map((p) => p.length)).toEqual([2, 1]);
      expect(pages.flat()).toEqual(
        stored.map((o) => ({
          id: o.id,
          eventId: event.id,
          status: o.status,
          quantity: o.quantity,
          amount: o.amount,
          currency: o.currency,
          createdAt: new Date(o.created_at).toISOString(),
          buyerId: o.user_id,
        })),
      );
    }

    const holders = await rows<{ id: string; name: string; email: string }>(
      `SELECT id, name, email FROM users WHERE id IN (${tickets.map(() => "?").join(", ")})`,
      ...tickets.map((t) => t.holder.id),
    );
    for (const get of both(`/api/v1/events/${event.id}/attendees`)) {
      const list = (
        await all<{ ticketId: string; serial: number; status: string; holder: { id: string } }>(get, 2)
      ).flat();
      expect(list.map((a) => a.serial)).toEqual([1, 2, 3, 4, 5]);
      expect(new Set(list.map((a) => a.ticketId))).toEqual(new Set(tickets.map((t) => t.id)));
      for (const a of list) {
        const holder = holders.find((h) => h.id === a.holder.id);
        expect(a).toMatchObject({
          status: "active",
          holder: { id: holder?.id, name: holder?.name, email: holder?.email },
        });
      }
    }

    // Two admissions by two devices; the list says which device let each ticket in, and when.
    const north = await registerDevice(event.id, host.token, "steward", "North");
    const south = await registerDevice(event.id, host.token, "steward", "South");
    const [first, , third] = tickets;
    if (!first || !third) throw new Error("tickets");
    const a = await scanBody(await scan(north.token, await qrToken(third.id, third.holder.token)));
    const b = await scanBody(await scan(south.token, await qrToken(first.id, first.holder.token)));
    for (const get of both(`/api/v1/events/${event.id}/checkins`)) {
      const pages = await all<Record<string, unknown>>(get, 1);
      expect(pages.flat()).toEqual([
        { ticketId: first.id, serial: b.ticket?.serial, redeemedAt: b.scannedAt, deviceId: south.deviceId },
        { ticketId: third.id, serial: a.ticket?.serial, redeemedAt: a.scannedAt, deviceId: north.deviceId },
      ]);
    }
    const stats = await withKey(key.key, `/api/v1/events/${event.id}/gate/stats`);
    expect(stats.status).toBe(200);
    expect(await stats.json()).toMatchObject({ checkedIn: 2 });
  });

  it("an attendee's email stored sealed is listed opened", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("ticket");
    await inventory(event.id).sync();
    const [user] = await rows<{ email: string }>("SELECT email FROM users WHERE id = ?", ticket.holder.id);
    const sealed = getConfig(env).pii.seal(user?.email ?? "", "users.email");
    await env.DB.prepare("UPDATE users SET email = ? WHERE id = ?").bind(sealed, ticket.holder.id).run();
    const key = await createKey(host.token, ["attendees:read"]);
    const res = await withKey(key.key, `/api/v1/events/${event.id}/attendees`);
    const body = (await res.json()) as Page<{ holder: { email: string } }>;
    expect(body.items.map((a) => a.holder.email)).toEqual([user?.email]);
    expect(JSON.stringify(body)).not.toContain("pii1.");
  });

  it("a session of another host gets 403 (a published event, as its other host routes answer), an anonymous caller 401", async () => {
    const { event } = await gateEvent();
    const stranger = await gateEvent();
    for (const list of ["orders", "attendees", "checkins"]) {
      const res = await call(`/api/v1/events/${event.id}/${list}`, { headers: bearer(stranger.host.token) });
      expect(res.status).toBe(403);
      expect((await call(`/api/v1/events/${event.id}/${list}`)).status).toBe(401);
    }
  });
});
