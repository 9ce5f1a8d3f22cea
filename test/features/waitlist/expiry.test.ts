/**
 * Offers end with their window: the object's alarm (the one that expires holds) marks the offer
 * expired and offers the ticket to the next in line; an accept at the window's end is 410
 * offer-expired and changes nothing, one a moment before it is an order. Time is a frozen clock,
 * which also drives Date.now() inside the object; it starts a month ahead so no real alarm fires.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { findEvent, toSnapshot } from "../../../src/features/events/service";
import { freezeClock, setClock } from "../../support/clock";
import { codeOfResponse, rows } from "../../support/db";
import { login } from "../auth/helpers";
import { checkedStats, DAY, HOUR, holdRequest, inventory, objectOrders } from "../events/helpers";
import {
  accept,
  d1Line,
  entryOf,
  giveBack,
  hostSettings,
  join,
  objectLine,
  offeredEvent,
  people,
  soldOutEvent,
} from "./helpers";

describe("an offer's window", () => {
  it("expires by the alarm at its end (12 h by default) and moves on to the next in line; accepting after it is 410 and changes nothing", async () => {
    const t0 = freezeClock(Date.now() + 30 * DAY).now();
    const { event, holders, orders } = await soldOutEvent(1);
    const [a, b] = await people(2);
    if (!a || !b) throw new Error("no people");
    expect((await join(event.id, a.token)).status).toBe(201);
    expect((await join(event.id, b.token)).status).toBe(201);
    await giveBack({ holders, orders });
    const offerA = (await objectLine(event.id))[0]?.offer_id as string;
    const stub = inventory(event.id);
    // The alarm is armed for the offer's end.
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0 + 12 * HOUR);

    setClock(t0 + 12 * HOUR - 1);
    await runDurableObjectAlarm(stub);
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["offered", "waiting"]);

    setClock(t0 + 12 * HOUR);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const line = await objectLine(event.id);
    expect(line.map((e) => [e.user_id, e.status])).toEqual([
      [a.id, "expired"],
      [b.id, "offered"],
    ]);
    expect(line[1]?.offer_expires_at).toBe(t0 + 24 * HOUR);
    expect((await objectOrders(event.id)).find((o) => o.id === offerA)?.status).toBe("expired");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 1, remaining: 0 });
    // D1 followed, and b's email is in the outbox.
    expect((await d1Line(event.id)).map((e) => [e.user_id, e.status])).toEqual([
      [a.id, "expired"],
      [b.id, "offered"],
    ]);
    expect(
      await rows("SELECT COUNT(*) AS n FROM email_outbox WHERE id = ?", `waitlist-offer:${line[1]?.offer_id}`),
    ).toEqual([{ n: 1 }]);

    // Access tokens live minutes: sign in again at the new time.
    const lateA = (await login(a.email)).accessToken;
    const late = await accept(offerA, lateA);
    expect(late.status).toBe(410);
    expect(await codeOfResponse(late)).toBe("offer-expired");
    expect((await objectLine(event.id)).map((e) => e.status)).toEqual(["expired", "offered"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, held: 1, remaining: 0 });
    expect(await entryOf(event.id, lateA)).toMatchObject({ status: "expired", offerId: null });
  });

  it("accepting at the window's end before the alarm ran is 410 too, and the next in line gets the ticket; a moment before, it is an order", async () => {
    const t0 = freezeClock(Date.now() + 40 * DAY).now();
    const { host, event, holders, orders } = await soldOutEvent(2);
    expect((await hostSettings(event.id, host.token, { offerWindowHours: 1 })).status).toBe(200);
    const [a, b, c] = await people(3);
    if (!a || !b || !c) throw new Error("no people");
    for (const person of [a, b, c]) expect((await join(event.id, person.token)).status).toBe(201);
    await giveBack({ holders, orders });
    await giveBack({ holders, orders }, 1);
    const [offerA, offerB] = (await objectLine(event.id)).map((e) => e.offer_id as string);

    setClock(t0 + HOUR - 1);
    const inTime = await accept(offerA as string, (await login(a.email)).accessToken);
    expect(inTime.status).toBe(201);
    expect(((await inTime.json()) as { order: { status: string } }).order.status).toBe("confirmed");

    setClock(t0 + HOUR);
    const tokenB = (await login(b.email)).accessToken;
    const late = await accept(offerB as string, tokenB);
    expect(late.status).toBe(410);
    expect(await codeOfResponse(late)).toBe("offer-expired");
    expect((await objectLine(event.id)).map((e) => [e.user_id, e.status])).toEqual([
      [a.id, "accepted"],
      [b.id, "expired"],
      [c.id, "offered"],
    ]);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 2, sold: 1, held: 1, remaining: 0 });
  });
});

describe("a transaction that rolls back", () => {
  it("a free claim refused as not free, after settling a lapsed offer, leaves the line as it was: the offer still expires later", async () => {
    const sold = await offeredEvent();
    const eventId = sold.event.id;
    // The host has just given the event a price; a Worker's older copy still says free.
    const row = await findEvent(env.DB, eventId);
    const stale = toSnapshot(row as NonNullable<typeof row>);
    const priced = { ...stale, version: stale.version + 1, price: 1500 };
    expect((await inventory(eventId).configure(priced)).ok).toBe(true);
    // Then the offer's window ends; no call has settled it yet.
    const past = Date.now() - 1000;
    await runInDurableObject(inventory(eventId), (_instance, state) => {
      state.storage.sql.exec("UPDATE orders SET hold_expires_at = ? WHERE id = ?", past, sold.offerId);
      state.storage.sql.exec("UPDATE waitlist SET offer_expires_at = ? WHERE offer_id = ?", past, sold.offerId);
    });
    const refused = await inventory(eventId).claim(holdRequest(stale, "late-buyer"));
    expect(refused).toMatchObject({ ok: false, code: "not-free" });
    // Rolled back: the offer is as it was.
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["offered"]);

    // The next decision settles it, as it would have without the refused claim.
    expect((await inventory(eventId).hold(holdRequest(priced, "next-buyer"))).ok).toBe(true);
    expect((await objectLine(eventId)).map((e) => e.status)).toEqual(["expired"]);
  });
});
