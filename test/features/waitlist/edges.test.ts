/**
 * The waitlist's refusals and second calls, through the Worker: leaving when not in line, leaving
 * twice, joining again after leaving, joining at the per-user limit or once the event has started,
 * declining an offer already accepted, accepting again once the accepted order is gone, and a person
 * in line who bought a ticket meanwhile. Each refusal answers its problem and changes nothing in the
 * object's line. An offer made close to the end of sales ends with them.
 */
import { describe, expect, it } from "vitest";
import { freezeClock, setClock } from "../../support/clock";
import { login } from "../auth/helpers";
import { checkedStats, createEvent, DAY, HOUR, hostWithToken, objectTickets, order } from "../events/helpers";
import {
  accept,
  cancelOrder,
  decline,
  entryOf,
  expectProblem,
  giveBack,
  hostSettings,
  join,
  leave,
  objectLine,
  offeredEvent,
  people,
  soldOutEvent,
} from "./helpers";

const lineOf = async (eventId: string) =>
  (await objectLine(eventId)).map((e) => [e.user_id, e.number, e.status] as const);

describe("leaving and coming back", () => {
  it("not in line: 404; leaving twice answers 204 both times; joining again goes to the end of the line with a new number", async () => {
    const { event } = await soldOutEvent(1);
    const [a, b] = await people(2);
    if (!a || !b) throw new Error("no people");
    await expectProblem(await leave(event.id, a.token), 404, "not-found");
    expect(await objectLine(event.id)).toEqual([]);

    expect((await join(event.id, a.token)).status).toBe(201);
    expect((await join(event.id, b.token)).status).toBe(201);
    expect((await leave(event.id, a.token)).status).toBe(204);
    expect((await leave(event.id, a.token)).status).toBe(204);
    expect(await lineOf(event.id)).toEqual([
      [a.id, 1, "left"],
      [b.id, 2, "waiting"],
    ]);
    expect((await entryOf(event.id, b.token))?.position).toBe(1);

    const again = await join(event.id, a.token);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual({ position: 2 });
    expect(await lineOf(event.id)).toEqual([
      [b.id, 2, "waiting"],
      [a.id, 3, "waiting"],
    ]);
  });
});

describe("who may join", () => {
  it("a person holding the most tickets a person may have (2 of 2): 409 limit-exceeded, nothing stored", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 2, perUserLimit: 2 });
    const [buyer] = await people(1);
    if (!buyer) throw new Error("no people");
    expect((await order(event.id, buyer.token, 2)).status).toBe(201);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 2, remaining: 0 });

    await expectProblem(await join(event.id, buyer.token), 409, "limit-exceeded");
    expect(await objectLine(event.id)).toEqual([]);
  });

  it("once the event has started: 422 event-started, nothing stored", async () => {
    const t0 = freezeClock(Date.now() + 30 * DAY).now();
    const { event } = await soldOutEvent(1);
    setClock(t0 + 45 * DAY);
    // Access tokens live minutes: sign in at the new time.
    const [late] = await people(1);
    if (!late) throw new Error("no people");
    await expectProblem(await join(event.id, (await login(late.email)).accessToken), 422, "event-started");
    expect(await objectLine(event.id)).toEqual([]);
  });
});

describe("an offer after it was accepted", () => {
  it("declining it is 409 invalid-transition; once its order is cancelled, accepting again is 410 offer-expired and mints nothing", async () => {
    const { event, person: a, offerId } = await offeredEvent();
    expect((await accept(offerId, a.token)).status).toBe(201);

    await expectProblem(await decline(offerId, a.token), 409, "invalid-transition");
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["accepted"]);

    expect((await cancelOrder(offerId, a.token)).status).toBe(200);
    const before = await objectTickets(event.id);
    await expectProblem(await accept(offerId, a.token), 410, "offer-expired");
    expect(await objectTickets(event.id)).toEqual(before);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, remaining: 1 });
  });
});

describe("an offer close to the start", () => {
  it("ends when sales end, not a whole window later: accepting at the start is 410 offer-expired and mints nothing", async () => {
    const t0 = freezeClock(Date.now() + 30 * DAY).now();
    const startsAt = t0 + 6 * HOUR;
    const {
      event,
      person: a,
      offerId,
    } = await offeredEvent({
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(startsAt + 3 * HOUR).toISOString(),
    });
    // The window is 12 h; the start comes first.
    expect((await objectLine(event.id))[0]?.offer_expires_at).toBe(startsAt);
    expect((await entryOf(event.id, a.token))?.offerExpiresAt).toBe(new Date(startsAt).toISOString());

    setClock(startsAt);
    const late = (await login(a.email)).accessToken;
    await expectProblem(await accept(offerId, late), 410, "offer-expired");
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["expired"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 0, remaining: 1 });
  });

  it("with sales closing before the start, ends when they close", async () => {
    const t0 = freezeClock(Date.now() + 30 * DAY).now();
    const salesEndAt = t0 + 2 * HOUR;
    const { event, holders, orders } = await soldOutEvent(1, { salesEndAt: new Date(salesEndAt).toISOString() });
    const [a] = await people(1);
    if (!a) throw new Error("no people");
    expect((await join(event.id, a.token)).status).toBe(201);
    await giveBack({ holders, orders });
    expect((await objectLine(event.id))[0]?.offer_expires_at).toBe(salesEndAt);
  });
});

describe("a person who bought a ticket while in line", () => {
  it("gives up their place when the line is served again: the offer goes to the next in line", async () => {
    const { host, event, holders, orders } = await soldOutEvent(2);
    const [a, b] = await people(2);
    if (!a || !b) throw new Error("no people");
    expect((await join(event.id, a.token)).status).toBe(201);
    expect((await join(event.id, b.token)).status).toBe(201);
    // Paused, a freed ticket goes on sale, and the first in line buys it directly.
    expect((await hostSettings(event.id, host.token, { paused: true })).status).toBe(200);
    await giveBack({ holders, orders });
    expect((await order(event.id, a.token)).status).toBe(201);
    await giveBack({ holders, orders }, 1);

    expect((await hostSettings(event.id, host.token, { paused: false })).status).toBe(200);
    expect((await objectLine(event.id)).map((e) => [e.user_id, e.status])).toEqual([
      [a.id, "left"],
      [b.id, "offered"],
    ]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 1, remaining: 0 });
  });
});
