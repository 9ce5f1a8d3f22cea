/**
 * The waitlist through the Worker (API "Integrations"): joining only a sold-out event, once, with
 * positions; freed capacity (a ticket given back, a released hold, a larger capacity) offered to the
 * first in line inside the object, with its hold, email, webhook event and read model; declining and
 * leaving move the offer on; accepting a free offer; pausing; the host's view and its bounds.
 */
import { describe, expect, it } from "vitest";
import { call } from "../../helpers";
import { rows } from "../../support/db";
import { bearer, mailOf } from "../auth/helpers";
import { checkedStats, createEvent, hostWithToken, inventory, objectTickets, order } from "../events/helpers";
import { subscribe } from "../webhooks/harness";
import {
  accept,
  d1Line,
  decline,
  entryOf,
  expectProblem,
  giveBack,
  hostSettings,
  hostView,
  join,
  leave,
  mine,
  objectLine,
  offeredEvent,
  people,
  soldOutEvent,
} from "./helpers";

describe("joining", () => {
  it("only a sold-out event, once: positions 1, 2, 3 in join order; 409 not-sold-out and already-waiting change nothing", async () => {
    const host = await hostWithToken();
    const open = await createEvent(host.token, { capacity: 2 });
    const [early, ...line] = await people(4);
    if (!early) throw new Error("no people");
    await expectProblem(await join(open.id, early.token), 409, "not-sold-out");
    expect(await objectLine(open.id)).toEqual([]);
    expect(await d1Line(open.id)).toEqual([]);

    const { event } = await soldOutEvent(1);
    const positions = [];
    for (const person of line) {
      const res = await join(event.id, person.token);
      expect(res.status).toBe(201);
      positions.push(((await res.json()) as { position: number }).position);
    }
    expect(positions).toEqual([1, 2, 3]);
    await expectProblem(await join(event.id, (line[1] as { token: string }).token), 409, "already-waiting");
    expect((await objectLine(event.id)).map((e) => [e.user_id, e.number, e.status])).toEqual(
      line.map((p, i) => [p.id, i + 1, "waiting"]),
    );
    // The read model agrees, and each person sees their place.
    expect((await d1Line(event.id)).map((e) => [e.user_id, e.position, e.status])).toEqual(
      line.map((p, i) => [p.id, i + 1, "waiting"]),
    );
    for (const [i, person] of line.entries()) {
      expect(await entryOf(event.id, person.token)).toMatchObject({
        event: { id: event.id },
        position: i + 1,
        status: "waiting",
        offerExpiresAt: null,
      });
    }

    // The first leaves: the others move up.
    expect((await leave(event.id, (line[0] as { token: string }).token)).status).toBe(204);
    expect((await entryOf(event.id, (line[0] as { token: string }).token))?.status).toBe("left");
    expect((await entryOf(event.id, (line[2] as { token: string }).token))?.position).toBe(2);
    expect(await inventory(event.id).waitlistSummary()).toMatchObject({ waiting: 2, offered: 0 });
  });

  it("a user who has the one ticket a person may have cannot join (409 already-registered); a missing or draft event is 404", async () => {
    const { event, holders } = await soldOutEvent(1);
    await expectProblem(await join(event.id, (holders[0] as { token: string }).token), 409, "already-registered");
    const host = await hostWithToken();
    const draft = await createEvent(host.token, { capacity: 1 }, false);
    const [someone] = await people(1);
    await expectProblem(await join(draft.id, (someone as { token: string }).token), 404, "not-found");
    await expectProblem(await join("no-such-event", (someone as { token: string }).token), 404, "not-found");
    await expectProblem(await leave(event.id, (someone as { token: string }).token), 404, "not-found");
    expect(await objectLine(event.id)).toEqual([]);
    const unauthenticated = await call(`/api/v1/events/${event.id}/waitlist`, { method: "POST" });
    expect(unauthenticated.status).toBe(401);
  });
});

describe("freed capacity goes to the first in line", () => {
  it("a ticket given back is offered to the first in line: a hold for one, the email with a link to a served page, the webhook event, the read model", async () => {
    const { event, holders, orders } = await soldOutEvent(1);
    await subscribe(event.hostId, ["waitlist.offered"]);
    const [first, second] = await people(2);
    if (!first || !second) throw new Error("no people");
    expect((await join(event.id, first.token)).status).toBe(201);
    expect((await join(event.id, second.token)).status).toBe(201);

    const before = Date.now();
    await giveBack({ holders, orders });

    const line = await objectLine(event.id);
    expect(line.map((e) => [e.user_id, e.status])).toEqual([
      [first.id, "offered"],
      [second.id, "waiting"],
    ]);
    const offerId = line[0]?.offer_id as string;
    expect(offerId).toBeTruthy();
    // The offer is a hold: it counts, so nobody else can buy the seat.
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 1, sold: 0, held: 1, remaining: 0 });
    const [stranger] = await people(1);
    await expectProblem(await order(event.id, (stranger as { token: string }).token), 409, "sold-out");
    const expiresAt = line[0]?.offer_expires_at as number;
    expect(expiresAt - before).toBeGreaterThanOrEqual(12 * 3600 * 1000 - 5000);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(12 * 3600 * 1000);

    expect(await entryOf(event.id, first.token)).toMatchObject({
      status: "offered",
      position: null,
      offerId,
      offerExpiresAt: new Date(expiresAt).toISOString(),
    });
    expect(await entryOf(event.id, second.token)).toMatchObject({ status: "waiting", position: 1 });
    expect((await d1Line(event.id)).map((e) => [e.user_id, e.status, e.offer_id])).toEqual([
      [first.id, "offered", offerId],
      [second.id, "waiting", null],
    ]);
    expect(await rows("SELECT status, quantity FROM orders WHERE id = ?", offerId)).toEqual([
      { status: "held", quantity: 1 },
    ]);

    // In the email outbox under the offer's id, and (outside production) in the development mailbox.
    expect(await rows("SELECT template FROM email_outbox WHERE id = ?", `waitlist-offer:${offerId}`)).toEqual([
      { template: "waitlist-offer" },
    ]);
    const mail = await mailOf(first.email, "waitlist-offer");
    const link = /https?:\/\/\S+/.exec(mail.text)?.[0] as string;
    const url = new URL(link);
    expect(url.pathname).toBe(`/e/${event.id}`);
    expect(url.searchParams.get("offer")).toBe(offerId);
    const page = await call(`${url.pathname}${url.search}`, { headers: { Accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(page.headers.get("Content-Type")).toMatch(/^text\/html/);

    const [webhook] = await rows<{ id: string; type: string; host_id: string; data: string }>(
      "SELECT id, type, host_id, data FROM webhook_events WHERE id = ?",
      `msg_waitlist.offered_${offerId}`,
    );
    expect(webhook).toMatchObject({ type: "waitlist.offered", host_id: event.hostId });
    expect(JSON.parse(webhook?.data ?? "{}")).toMatchObject({ eventId: event.id, offerId, quantity: 1 });
    // The push woke the outgoing webhooks queue for it: its consumer fans it out.
    let fannedOut: number | null = null;
    for (let i = 0; i < 100 && fannedOut === null; i++) {
      [{ fanned_out_at: fannedOut } = { fanned_out_at: null }] = await rows<{ fanned_out_at: number | null }>(
        "SELECT fanned_out_at FROM webhook_events WHERE id = ?",
        `msg_waitlist.offered_${offerId}`,
      );
      if (fannedOut === null) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(fannedOut).not.toBeNull();
  });

  it("the host raising the capacity by two offers two tickets, in line order", async () => {
    const { host, event } = await soldOutEvent(1);
    const line = await people(3);
    for (const person of line) expect((await join(event.id, person.token)).status).toBe(201);
    const res = await call(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ capacity: 3, version: event.version }),
    });
    expect(res.status).toBe(200);
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["offered", "offered", "waiting"]);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 3, sold: 1, held: 2, remaining: 0 });
    expect(await hostView(event.id, host.token).then((r) => r.json())).toEqual({
      waiting: 1,
      offered: 2,
      paused: false,
      offerWindowHours: 12,
    });
  });
});

describe("offers move on", () => {
  it("declining gives the ticket to the next in line; leaving while offered declines too", async () => {
    const { event, holders, orders } = await soldOutEvent(1);
    const line = await people(3);
    const [a, b, c] = line as [(typeof line)[0], (typeof line)[0], (typeof line)[0]];
    for (const person of line) expect((await join(event.id, person.token)).status).toBe(201);
    await giveBack({ holders, orders });

    const offerA = (await entryOf(event.id, a.token))?.offerId as string;
    // Another user's offer is not theirs to decline or accept: 404, like a missing one.
    await expectProblem(await decline(offerA, b.token), 404, "not-found");
    await expectProblem(await accept(offerA, b.token), 404, "not-found");
    await expectProblem(await accept("no-such-offer", a.token), 404, "not-found");
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["offered", "waiting", "waiting"]);

    expect((await decline(offerA, a.token)).status).toBe(204);
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["declined", "offered", "waiting"]);
    expect(await rows("SELECT status FROM orders WHERE id = ?", offerA)).toEqual([{ status: "released" }]);
    // Declining again changes nothing; accepting a declined offer is refused.
    expect((await decline(offerA, a.token)).status).toBe(204);
    await expectProblem(await accept(offerA, a.token), 409, "invalid-transition");

    expect((await leave(event.id, b.token)).status).toBe(204);
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["declined", "declined", "offered"]);
    expect((await entryOf(event.id, c.token))?.status).toBe("offered");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 1, remaining: 0 });
  });

  it("accepting a free offer within its window: 201 { order, tickets }, the entry accepted; the same Idempotency-Key answers the same", async () => {
    const { event, person: first, offerId } = await offeredEvent();

    const key = crypto.randomUUID();
    const res = await accept(offerId, first.token, { "Idempotency-Key": key });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { order: { id: string; status: string }; tickets: { serial: number }[] };
    expect(body.order).toMatchObject({ id: offerId, status: "confirmed" });
    expect(body.tickets).toHaveLength(1);
    const again = await accept(offerId, first.token, { "Idempotency-Key": key });
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(body);
    // Without the key too: the offer is already this order.
    expect(((await (await accept(offerId, first.token)).json()) as typeof body).order.id).toBe(offerId);

    expect(await checkedStats(event.id)).toMatchObject({ capacity: 1, sold: 1, held: 0, remaining: 0 });
    expect((await objectTickets(event.id)).filter((t) => t.status === "active").map((t) => t.user_id)).toEqual([
      first.id,
    ]);
    expect(await entryOf(event.id, first.token)).toMatchObject({ status: "accepted", orderId: offerId });
    expect(await rows("SELECT status FROM orders WHERE id = ?", offerId)).toEqual([{ status: "confirmed" }]);
    expect(await rows("SELECT COUNT(*) AS n FROM email_outbox WHERE id = ?", `order-confirmed:${offerId}`)).toEqual([
      { n: 1 },
    ]);
  });
});

describe("the offer is the admission", () => {
  it("while the event's waiting room is on, an offer is accepted without a queue pass (a new order needs one: 428)", async () => {
    const { host, event, holders, orders } = await soldOutEvent(1);
    const [first] = await people(1);
    if (!first) throw new Error("no people");
    expect((await join(event.id, first.token)).status).toBe(201);
    const queued = await call(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ queue: { mode: "on", admitPerSecond: 5 }, version: event.version }),
    });
    expect(queued.status).toBe(200);
    await giveBack({ holders, orders });
    const offerId = (await entryOf(event.id, first.token))?.offerId as string;
    const [stranger] = await people(1);
    await expectProblem(await order(event.id, (stranger as { token: string }).token), 428, "queue-pass-required");

    const res = await accept(offerId, first.token, { "Idempotency-Key": crypto.randomUUID() });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { order: { status: string } }).order.status).toBe("confirmed");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0, remaining: 0 });
  });
});

describe("the host's controls", () => {
  it("paused: no offers (joining goes on, freed tickets go on sale); resuming offers what is free", async () => {
    const { host, event, holders, orders } = await soldOutEvent(2);
    const [a, b] = await people(2);
    if (!a || !b) throw new Error("no people");
    expect((await join(event.id, a.token)).status).toBe(201);
    const paused = await hostSettings(event.id, host.token, { paused: true });
    expect(paused.status).toBe(200);
    expect(await paused.json()).toEqual({ waiting: 1, offered: 0, paused: true, offerWindowHours: 12 });
    expect((await join(event.id, b.token)).status).toBe(201);

    await giveBack({ holders, orders });
    await giveBack({ holders, orders }, 1);
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["waiting", "waiting"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 0, remaining: 2 });
    // While paused the freed seats are on sale as usual.
    const [buyer] = await people(1);
    expect((await order(event.id, (buyer as { token: string }).token)).status).toBe(201);

    const resumed = await hostSettings(event.id, host.token, { paused: false, offerWindowHours: 1 });
    expect(await resumed.json()).toEqual({ waiting: 1, offered: 1, paused: false, offerWindowHours: 1 });
    const [offered] = await objectLine(event.id);
    expect(offered?.status).toBe("offered");
    expect((offered?.offer_expires_at as number) - Date.now()).toBeLessThanOrEqual(3600 * 1000);
    expect((offered?.offer_expires_at as number) - Date.now()).toBeGreaterThan(3600 * 1000 - 10_000);
  });

  it("the offer window is 1 to 168 hours; bad input and another host's request change nothing", async () => {
    const { host, event } = await soldOutEvent(1);
    for (const offerWindowHours of [0, 169, 1.5, "12"]) {
      await expectProblem(await hostSettings(event.id, host.token, { offerWindowHours }), 400, "validation-failed");
    }
    await expectProblem(await hostSettings(event.id, host.token, { paused: "yes" }), 400, "validation-failed");
    await expectProblem(await hostSettings(event.id, host.token, { color: "red" }), 400, "validation-failed");
    const other = await hostWithToken();
    await expectProblem(await hostSettings(event.id, other.token, { paused: true }), 403, "forbidden");
    await expectProblem(await hostView(event.id, other.token), 403, "forbidden");
    expect(await inventory(event.id).waitlistSummary()).toEqual({
      waiting: 0,
      offered: 0,
      paused: false,
      offerWindowHours: 12,
    });
    expect(await (await hostSettings(event.id, host.token, { offerWindowHours: 1 })).json()).toMatchObject({
      offerWindowHours: 1,
    });
    expect(await (await hostSettings(event.id, host.token, { offerWindowHours: 168 })).json()).toMatchObject({
      offerWindowHours: 168,
    });
  });
});

describe("GET /api/v1/me/waitlist", () => {
  it("lists only the caller's entries, with their events", async () => {
    const { event } = await soldOutEvent(1);
    const [a, b] = await people(2);
    if (!a || !b) throw new Error("no people");
    expect((await join(event.id, a.token)).status).toBe(201);
    expect(await mine(b.token)).toEqual([]);
    const [entry] = await mine(a.token);
    expect(entry).toMatchObject({ event: { id: event.id, title: "Rooftop Jazz" }, position: 1, status: "waiting" });
  });
});
