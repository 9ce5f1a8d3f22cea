/**
 * The waiting room (issue 20, API "Hot on-sales") through the real Worker: the event's queue settings,
 * joining (idempotent, concurrent, numbered across the shard objects), admission by number at the
 * host's rate, passes (bound to buyer and event, short-lived, signed), the order path's 428 for `on`
 * and, for `auto`, only once the event's object has turned the queue on; and the 503 a hung or
 * overloaded object becomes.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { LIMITS } from "../../../src/config/limits";
import { findEvent, toSnapshot } from "../../../src/features/events/service";
import { shardOf } from "../../../src/features/queue/service";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf } from "../../support/db";
import { useFakeStripe } from "../../support/stripe";
import { replacingMethod } from "../../support/stubs";
import { bearer } from "../auth/helpers";
import {
  buyers,
  checkedStats,
  createEvent,
  d1Event,
  eventBody,
  hostWithToken,
  inventory,
  objectTickets,
  order,
} from "../events/helpers";

interface Answer {
  state: "waiting" | "admitted";
  position: number;
  aheadOfYou: number;
  estimatedWaitSeconds: number;
  pollAfterSeconds: number;
  pass?: string;
  passExpiresAt?: string;
}

const K = LIMITS.waitingRoomShards;

function join(eventId: string, token: string) {
  return call(`/api/v1/events/${eventId}/queue`, { method: "POST", headers: bearer(token) });
}

async function joined(eventId: string, token: string): Promise<Answer> {
  const res = await join(eventId, token);
  if (res.status !== 200) throw new Error(`join: ${res.status} ${await res.text()}`);
  return (await res.json()) as Answer;
}

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

/** Everyone the event's shards placed: user id → number (null until reported) and when first found admitted. */
async function entrants(eventId: string) {
  const all: { user_id: string; number: number | null; admitted_at: number | null; shard: number }[] = [];
  for (let k = 0; k < K; k++) {
    const found = (await runInDurableObject(env.WAITING_ROOM.getByName(`${eventId}:${k}`), (_o, state) =>
      state.storage.sql.exec("SELECT user_id, number, admitted_at FROM queue_entrants ORDER BY seq").toArray(),
    )) as { user_id: string; number: number | null; admitted_at: number | null }[];
    all.push(...found.map((row) => ({ ...row, shard: k })));
  }
  return all;
}

async function queuedEvent(queue: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  const host = await hostWithToken();
  return { host, event: await createEvent(host.token, { queue, ...overrides }) };
}

describe("the event's queue settings", () => {
  it("default off at 50 a second; the host sets them on create and edit, an edit without a rate keeps it", async () => {
    const host = await hostWithToken();
    const plain = await createEvent(host.token, {}, false);
    expect((plain as unknown as { queue: unknown }).queue).toEqual({ mode: "off", admitPerSecond: 50 });
    const on = await createEvent(host.token, { queue: { mode: "on", admitPerSecond: 10_000 } }, false);
    expect((on as unknown as { queue: unknown }).queue).toEqual({ mode: "on", admitPerSecond: 10_000 });
    expect(await d1Event(on.id)).toMatchObject({ queue_mode: "on", queue_admit_per_second: 10_000 });

    const edit = await call(`/api/v1/events/${on.id}`, {
      method: "PATCH",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ version: on.version, queue: { mode: "auto" } }),
    });
    expect(edit.status).toBe(200);
    expect(((await edit.json()) as { queue: unknown }).queue).toEqual({ mode: "auto", admitPerSecond: 10_000 });
    // Public reads show it too.
    const read = await call(`/api/v1/events/${on.id}`, { headers: bearer(host.token) });
    expect(((await read.json()) as { queue: unknown }).queue).toEqual({ mode: "auto", admitPerSecond: 10_000 });
  });

  it("refuses a rate outside 1..10,000 and an unknown mode (400), creating nothing", async () => {
    const host = await hostWithToken();
    const ok = await createEvent(host.token, { queue: { mode: "on", admitPerSecond: 1 } }, false);
    expect((ok as unknown as { queue: unknown }).queue).toEqual({ mode: "on", admitPerSecond: 1 });
    const { count: before } = (await env.DB.prepare("SELECT COUNT(*) AS count FROM events WHERE host_id = ?")
      .bind(host.id)
      .first<{ count: number }>()) ?? { count: -1 };
    for (const queue of [
      { mode: "on", admitPerSecond: 0 },
      { mode: "on", admitPerSecond: 10_001 },
      { mode: "on", admitPerSecond: 2.5 },
      { mode: "sometimes", admitPerSecond: 10 },
      { admitPerSecond: 10 },
    ]) {
      const res = await call("/api/v1/events", {
        method: "POST",
        headers: { ...bearer(host.token), "Content-Type": "application/json" },
        body: JSON.stringify(eventBody({ queue })),
      });
      await expectProblem(res, 400, "validation-failed");
    }
    const after = await env.DB.prepare("SELECT COUNT(*) AS count FROM events WHERE host_id = ?")
      .bind(host.id)
      .first<{ count: number }>();
    expect(after?.count).toBe(before);
  });
});

describe("joining", () => {
  it("answers problems for bad input: no session 401, a malformed id 400, unknown or draft 404, cancelled 422", async () => {
    const { host, event } = await queuedEvent({ mode: "on", admitPerSecond: 10 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    await expectProblem(await call(`/api/v1/events/${event.id}/queue`, { method: "POST" }), 401, "unauthorized");
    await expectProblem(await join("x".repeat(65), who.token), 400, "validation-failed");
    await expectProblem(await join("no-such-event", who.token), 404, "not-found");
    const draft = await createEvent(host.token, { queue: { mode: "on", admitPerSecond: 10 } }, false);
    await expectProblem(await join(draft.id, who.token), 404, "not-found");
    const cancelled = await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(host.token) });
    expect(cancelled.status).toBe(200);
    await expectProblem(await join(event.id, who.token), 422, "not-on-sale");
    // None of these numbered anyone.
    expect(await entrants(event.id)).toEqual([]);
  });

  it("joining twice gives the same number, on the buyer's own shard; numbers are dense, one per buyer", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 1 });
    const people = await buyers(40);
    for (const p of people) await joined(event.id, p.token);
    // A second on, every shard has reported its arrivals: everyone has a number.
    clock.advance(1000);
    const first = [];
    for (const p of people) first.push(await joined(event.id, p.token));
    const numbers = new Map((await entrants(event.id)).map((r) => [r.user_id, r.number]));
    const again = [];
    for (const p of people) again.push(await joined(event.id, p.token));
    expect(again).toEqual(first);
    const rows = await entrants(event.id);
    expect(rows).toHaveLength(40);
    for (const row of rows) {
      expect(row.shard).toBe(shardOf(row.user_id));
      expect(row.number).toBe(numbers.get(row.user_id));
    }
    expect(rows.map((r) => r.number).sort((a, b) => (a as number) - (b as number))).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
    // Those still waiting have a place, a wait and a poll interval within bounds.
    const waiting = first.filter((a) => a.state === "waiting");
    expect(waiting.length).toBeGreaterThan(30);
    for (const a of waiting) {
      expect(a.position).toBe(a.aheadOfYou + 1);
      expect(a.estimatedWaitSeconds).toBeGreaterThanOrEqual(1);
      expect(a.pollAfterSeconds).toBeGreaterThanOrEqual(LIMITS.queuePollMinSeconds);
      expect(a.pollAfterSeconds).toBeLessThanOrEqual(LIMITS.queuePollMaxSeconds);
      expect(a.pass).toBeUndefined();
    }
  });

  it("200 concurrent joins of distinct buyers get 200 distinct numbers, none lost", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 1 });
    const people = await buyers(200);
    const answers = await Promise.all(people.map((p) => join(event.id, p.token)));
    expect(answers.map((r) => r.status)).toEqual(people.map(() => 200));
    clock.advance(1000);
    await Promise.all(people.map((p) => joined(event.id, p.token)));
    const rows = await entrants(event.id);
    expect(rows).toHaveLength(200);
    expect(new Set(rows.map((r) => r.user_id))).toEqual(new Set(people.map((p) => p.id)));
    // Dense: every number from 0 to 199 is one buyer's.
    expect(rows.map((r) => r.number).sort((a, b) => (a as number) - (b as number))).toEqual(
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  it("admits by number, first come first served, exactly at the host's rate after one burst", async () => {
    const clock = freezeClock();
    const rate = 4;
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: rate });
    const people = await buyers(24);
    const admittedAt = new Map<string, number>();
    const poll = async (second: number) => {
      for (const p of people) {
        if (admittedAt.has(p.id)) continue;
        const a = await joined(event.id, p.token);
        if (a.state === "admitted") {
          expect(a.pass).toMatch(/\.\d+\./);
          admittedAt.set(p.id, second);
        }
      }
    };
    // A quiet queue lets the first in at once, up to its burst (one second's worth here).
    await poll(0);
    expect(admittedAt.size).toBe(rate);
    expect([...admittedAt.keys()]).toEqual(people.slice(0, rate).map((p) => p.id));
    for (let second = 1; admittedAt.size < people.length && second < 60; second++) {
      clock.advance(1000);
      await poll(second);
      // Exactly the rate a second, and exactly those whose numbers the cursor passed.
      expect(admittedAt.size).toBe(Math.min(people.length, rate + rate * second));
      const numbers = new Map((await entrants(event.id)).map((r) => [r.user_id, r.number]));
      for (const p of people) {
        expect(admittedAt.has(p.id)).toBe((numbers.get(p.id) as number) < rate + rate * second);
      }
    }
    expect(admittedAt.size).toBe(people.length);
    // In number order: a smaller number is never let in later than a larger one.
    const numbers = new Map((await entrants(event.id)).map((r) => [r.user_id, r.number as number]));
    const byNumber = [...people].sort((a, b) => (numbers.get(a.id) as number) - (numbers.get(b.id) as number));
    const seconds = byNumber.map((p) => admittedAt.get(p.id) as number);
    expect(seconds).toEqual([...seconds].sort((a, b) => a - b));
  });

  it("keeps the rate however often the shards report (the cursor keeps the part of a number it moved)", async () => {
    const clock = freezeClock();
    const rate = 4;
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: rate });
    const people = await buyers(24);
    for (const p of people) await joined(event.id, p.token);
    // Five seconds in 50 ms steps, a different buyer polling at each: a report every step or two.
    for (let step = 1; step <= 100; step++) {
      clock.advance(50);
      await joined(event.id, (people[step % people.length] as { token: string }).token);
    }
    // By now the cursor has passed a burst of 4 and 4 a second for 5 s: everyone.
    let admitted = 0;
    for (const p of people) if ((await joined(event.id, p.token)).state === "admitted") admitted += 1;
    expect(admitted).toBe(24);
  });

  it("an admitted buyer's window lapses after the pass lifetime: joining again queues them anew", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 1 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    let a = await joined(event.id, who.token);
    for (let i = 0; a.state !== "admitted" && i < 40; i++) {
      clock.advance(1000);
      a = await joined(event.id, who.token);
    }
    expect(a.state).toBe("admitted");
    const [before] = await entrants(event.id);
    expect(before?.number).not.toBeNull();
    // The same window, asked again later: the same expiry.
    clock.advance(60_000);
    expect((await joined(event.id, who.token)).passExpiresAt).toBe(a.passExpiresAt);
    clock.advance(LIMITS.queuePassSeconds * 1000);
    await joined(event.id, who.token);
    const [after] = await entrants(event.id);
    expect(after?.number).toBeGreaterThan(before?.number as number);
  });
});

describe("the queue's clock", () => {
  it("opens before the sale: nobody is let in until sales start, then in number order at the rate", async () => {
    const t0 = Date.now();
    const clock = freezeClock(t0);
    const salesStart = t0 + 10_000;
    const { event } = await queuedEvent(
      { mode: "on", admitPerSecond: 2 },
      { salesStartAt: new Date(salesStart).toISOString() },
    );
    const people = await buyers(5);
    const first = [];
    for (const p of people) first.push(await joined(event.id, p.token));
    // Not even a quiet queue's first arrival gets in before the start.
    expect(first.map((a) => a.state)).toEqual(people.map(() => "waiting"));
    for (const a of first) expect(a.estimatedWaitSeconds).toBeGreaterThanOrEqual(10);
    clock.set(salesStart - 1000);
    for (const p of people) expect((await joined(event.id, p.token)).state).toBe("waiting");
    await expectProblem(await order(event.id, (people[0] as { token: string }).token), 422, "not-on-sale");

    // From the start the cursor moves 2 numbers a second; the largest number here is below 32.
    const numbers = new Map((await entrants(event.id)).map((r) => [r.user_id, r.number]));
    clock.set(salesStart + 17_000);
    for (const p of people) {
      const a = await joined(event.id, p.token);
      expect(a.state).toBe("admitted");
      expect((numbers.get(p.id) as number) < 34).toBe(true);
    }
    const who = people[0] as { token: string };
    const pass = (await joined(event.id, who.token)).pass as string;
    expect((await order(event.id, who.token, 1, { "Queue-Pass": pass })).status).toBe(201);
  });

  it("a new rate from the host moves the cursor from where it is, within a second of the edit", async () => {
    const clock = freezeClock();
    const { host, event } = await queuedEvent({ mode: "on", admitPerSecond: 1 });
    const people = await buyers(10);
    for (const p of people) await joined(event.id, p.token);
    const waiting = async () => {
      let n = 0;
      for (const p of people) if ((await joined(event.id, p.token)).state === "waiting") n += 1;
      return n;
    };
    expect(await waiting()).toBeGreaterThan(5);
    const edit = await call(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ version: event.version, queue: { mode: "on", admitPerSecond: 10_000 } }),
    });
    expect(edit.status).toBe(200);
    // The shards take the new clock at their next sync (a second on); from then on it runs at the new rate.
    clock.advance(1000);
    await waiting();
    clock.advance(100);
    expect(await waiting()).toBe(0);
  });
});

describe("ordering with a queue", () => {
  it("mode off: no pass needed, and joining admits at once without numbering anyone", async () => {
    const { event } = await queuedEvent({ mode: "off", admitPerSecond: 10 });
    const [a, b] = await buyers(2);
    if (!a || !b) throw new Error("no buyers");
    expect((await order(event.id, a.token)).status).toBe(201);
    const answer = await joined(event.id, b.token);
    expect(answer).toMatchObject({ state: "admitted", position: 0, aheadOfYou: 0, pollAfterSeconds: 0 });
    expect(answer.pass).toBeTruthy();
    expect(await entrants(event.id)).toEqual([]);
  });

  it("mode on: 428 without a pass, and with another's, another event's, an expired or a forged one; 201 with one's own", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10_000 });
    const other = (await queuedEvent({ mode: "on", admitPerSecond: 10_000 })).event;
    const [me, you] = await buyers(2);
    if (!me || !you) throw new Error("no buyers");
    // One second in, everyone who joined is admitted.
    await joined(event.id, me.token);
    await joined(event.id, you.token);
    await joined(other.id, me.token);
    clock.advance(1000);
    const mine = (await joined(event.id, me.token)).pass as string;
    const yours = (await joined(event.id, you.token)).pass as string;
    const otherEvent = (await joined(other.id, me.token)).pass as string;
    expect(mine && yours && otherEvent).toBeTruthy();

    // The order policies raised: one buyer's eight attempts must each reach the pass check.
    const raised = { ...env, RATE_LIMITS: '{"orders":{"limit":1000,"windowSeconds":60}}' };
    const app = createApp();
    const orderRaised = (headers: Record<string, string>) =>
      app.request(
        `/api/v1/events/${event.id}/orders`,
        {
          method: "POST",
          headers: {
            ...bearer(me.token),
            "Content-Type": "application/json",
            "CF-Connecting-IP": freshIp(),
            ...headers,
          },
          body: JSON.stringify({ quantity: 1 }),
        },
        raised,
      );
    const refused = async (headers: Record<string, string>) => {
      const res = await orderRaised(headers);
      expect(res.status).toBe(428);
      const body = await problemOf(res);
      expect(codeOf(body)).toBe("queue-pass-required");
      expect(body.queue).toBe(`/api/v1/events/${event.id}/queue`);
    };
    await refused({});
    await refused({ "Queue-Pass": yours });
    await refused({ "Queue-Pass": otherEvent });
    const [kid, exp, sig] = mine.split(".") as [string, string, string];
    await refused({ "Queue-Pass": `${kid}.${Number(exp) + 3600}.${sig}` });
    await refused({ "Queue-Pass": `${kid}.${exp}.${sig.slice(0, -2)}AA` });
    await refused({ "Queue-Pass": `unknown-kid.${exp}.${sig}` });
    await refused({ "Queue-Pass": "not a pass" });
    expect(await objectTickets(event.id)).toEqual([]);

    const res = await orderRaised({ "Queue-Pass": mine });
    expect(res.status).toBe(201);
    expect((await objectTickets(event.id)).map((t) => t.user_id)).toEqual([me.id]);
    // Expired: the same pass once its lifetime has passed (refused before the object's already-registered).
    clock.advance(LIMITS.queuePassSeconds * 1000 + 1000);
    await refused({ "Queue-Pass": mine });
  });

  it("mode on: a 428 is not kept under the Idempotency-Key, so the same request with the pass goes through", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10_000 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    const key = { "Idempotency-Key": `queue-${crypto.randomUUID()}` };
    await expectProblem(await order(event.id, who.token, 1, key), 428, "queue-pass-required");
    await joined(event.id, who.token);
    clock.advance(1000);
    const pass = (await joined(event.id, who.token)).pass as string;
    const res = await order(event.id, who.token, 1, { ...key, "Queue-Pass": pass });
    expect(res.status).toBe(201);
    expect(res.headers.get("Idempotent-Replayed")).toBeNull();
    // And that success is what the key replays from now on.
    const again = await order(event.id, who.token, 1, { ...key, "Queue-Pass": pass });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(await objectTickets(event.id)).toHaveLength(1);
  });

  it("mode on, paid: the checkout is refused without a pass (no hold, no session) and opened with one", async () => {
    const stripe = useFakeStripe();
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10_000 }, { price: 1500, capacity: 5 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    await joined(event.id, who.token);
    clock.advance(1000);
    const pass = (await joined(event.id, who.token)).pass as string;
    await expectProblem(await order(event.id, who.token), 428, "queue-pass-required");
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(0);
    expect(await checkedStats(event.id)).toMatchObject({ held: 0, sold: 0 });
    const res = await order(event.id, who.token, 1, { "Queue-Pass": pass });
    expect(res.status).toBe(201);
    expect(((await res.json()) as { checkoutUrl: string }).checkoutUrl).toBeTruthy();
    expect(await checkedStats(event.id)).toMatchObject({ held: 1, sold: 0 });
  });

  it("mode on: concurrent orders with passes never oversell", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10_000 }, { capacity: 20 });
    const people = await buyers(60);
    await Promise.all(people.map((p) => joined(event.id, p.token)));
    clock.advance(1000);
    // Polled as a client would: a buyer whose shard was mid-report is numbered by its next one.
    const passes: (string | undefined)[] = people.map(() => undefined);
    for (let round = 0; passes.some((p) => !p) && round < 5; round++) {
      await Promise.all(
        people.map(async (p, i) => {
          passes[i] ??= (await joined(event.id, p.token)).pass;
        }),
      );
      clock.advance(1000);
    }
    const answers = await Promise.all(
      people.map((p, i) => order(event.id, p.token, 1, { "Queue-Pass": passes[i] as string })),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.filter((s) => s === 409)).toHaveLength(40);
    const tickets = await objectTickets(event.id);
    expect(tickets.map((t) => t.serial)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(new Set(tickets.map((t) => t.user_id)).size).toBe(20);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 20, sold: 20, held: 0, remaining: 0 });
  });

  it("mode auto: no pass needed until the event's object turns the queue on; then 428 until the queue drains", async () => {
    const clock = freezeClock();
    const onAbove = LIMITS.queueAutoOnPerSecond;
    const { event } = await queuedEvent({ mode: "auto", admitPerSecond: 10_000 }, { capacity: onAbove + 100 });
    const [early, late] = await buyers(2);
    if (!early || !late) throw new Error("no buyers");
    expect((await order(event.id, early.token)).status).toBe(201);
    // The queue answers "in" at once while it is off.
    expect((await joined(event.id, late.token)).state).toBe("admitted");

    // A crowd in one second, more than the object's rate: claims straight at the object, as the order path sends them.
    const object = inventory(event.id);
    const row = await findEvent(env.DB, event.id);
    if (!row) throw new Error("no event");
    const crowd = await Promise.all(
      Array.from({ length: onAbove }, (_, i) =>
        object.claim({
          orderId: `crowd-${i}`,
          userId: `crowd-user-${i}`,
          quantity: 1,
          ttlMs: 60_000,
          contact: null,
          snapshot: toSnapshot(row),
        }),
      ),
    );
    // The arrival past the rate is the first one refused.
    expect(crowd.filter((r) => r.ok)).toHaveLength(onAbove - 1);
    expect(crowd.filter((r) => !r.ok && r.code === "queue-pass-required")).toHaveLength(1);

    await expectProblem(await order(event.id, late.token), 428, "queue-pass-required");
    // The shard learns within a second that the queue is on; joining then numbers the buyer.
    clock.advance(1000);
    const answer = await joined(event.id, late.token);
    expect(await entrants(event.id)).toHaveLength(1);
    let pass = answer.pass;
    if (!pass) {
      clock.advance(1000);
      pass = (await joined(event.id, late.token)).pass;
    }
    expect((await order(event.id, late.token, 1, { "Queue-Pass": pass as string })).status).toBe(201);

    // Quiet for the cool-down, everyone numbered admitted: off again, no pass needed.
    clock.advance(LIMITS.queueAutoCoolMs + 1000);
    const [after] = await buyers(1);
    if (!after) throw new Error("no buyer");
    await joined(event.id, after.token);
    expect((await order(event.id, after.token)).status).toBe(201);
  });
});

describe("mode auto: a standing backlog at the object", () => {
  /** `count` claims at the event's object within this second, each sent `waited` ms before now. */
  async function arrivals(eventId: string, count: number, waited: (i: number) => number) {
    const row = await findEvent(env.DB, eventId);
    if (!row) throw new Error("no event");
    const object = inventory(eventId);
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        object.claim({
          orderId: `${eventId}-${i}-${crypto.randomUUID()}`,
          userId: `backlog-user-${crypto.randomUUID()}`,
          quantity: 1,
          ttlMs: 60_000,
          contact: null,
          snapshot: toSnapshot(row),
          sentAt: Date.now() - waited(i),
        }),
      ),
    );
  }

  /** One more claim, a second later, sent just now: answered, or refused for want of a pass. */
  async function nextSecond(clock: ReturnType<typeof freezeClock>, eventId: string) {
    clock.advance(1000);
    const [next] = await arrivals(eventId, 1, () => 0);
    return next?.ok ? "sold" : next?.code;
  }

  it("a second in which even the quickest of 20 arrivals waited more than 250 ms turns the queue on; at 250 ms, or with 19, it stays off", async () => {
    const clock = freezeClock();
    const few = LIMITS.queueAutoBacklogSamples;
    const slow = LIMITS.queueAutoBacklogMs;
    // Far fewer arrivals than the rate trigger's: only the wait can turn it on.
    expect(few).toBeLessThan(LIMITS.queueAutoOnPerSecond / 2);
    const events = await Promise.all(
      [1, 2, 3, 4].map(() => queuedEvent({ mode: "auto", admitPerSecond: 10_000 }, { capacity: 100 })),
    );
    const [backlogged, atTheBound, tooFew, oneQuick] = events.map((e) => e.event.id) as [
      string,
      string,
      string,
      string,
    ];

    expect((await arrivals(backlogged, few, () => slow + 1)).every((r) => r.ok)).toBe(true);
    expect((await arrivals(atTheBound, few, () => slow)).every((r) => r.ok)).toBe(true);
    expect((await arrivals(tooFew, few - 1, () => 10 * slow)).every((r) => r.ok)).toBe(true);
    expect((await arrivals(oneQuick, few, (i) => (i === 0 ? 5 : 10 * slow))).every((r) => r.ok)).toBe(true);

    expect(await nextSecond(clock, backlogged)).toBe("queue-pass-required");
    clock.set(clock.now() - 1000);
    expect(await nextSecond(clock, atTheBound)).toBe("sold");
    clock.set(clock.now() - 1000);
    expect(await nextSecond(clock, tooFew)).toBe("sold");
    clock.set(clock.now() - 1000);
    expect(await nextSecond(clock, oneQuick)).toBe("sold");
  });

  it("the order path tells the object when it sent the claim", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "auto", admitPerSecond: 10_000 }, { capacity: 10 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    const sent: unknown[] = [];
    const spying = replacingMethod(env.EVENT_INVENTORY, "claim", (stub) => async (request: never) => {
      sent.push((request as { sentAt?: number }).sentAt);
      return stub.claim(request);
    });
    const res = await createApp().request(
      `/api/v1/events/${event.id}/orders`,
      {
        method: "POST",
        headers: { ...bearer(who.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ quantity: 1 }),
      },
      { ...env, EVENT_INVENTORY: spying } as never,
    );
    expect(res.status).toBe(201);
    expect(sent).toEqual([clock.now()]);
  });

  it("a backlog two seconds ago does not count: only the second just ended", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "auto", admitPerSecond: 10_000 }, { capacity: 100 });
    expect(
      (await arrivals(event.id, LIMITS.queueAutoBacklogSamples, () => 10 * LIMITS.queueAutoBacklogMs)).every(
        (r) => r.ok,
      ),
    ).toBe(true);
    clock.advance(1000);
    expect(await nextSecond(clock, event.id)).toBe("sold");
  });
});

describe("a shard's line after the event", () => {
  it("is kept until a day after the start; a report's alarm always comes first; then the alarm deletes the shard's storage", async () => {
    const clock = freezeClock();
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 1 });
    const people = await buyers(3);
    for (const p of people) await joined(event.id, p.token);
    const who = people[0] as (typeof people)[0];
    const stub = env.WAITING_ROOM.getByName(`${event.id}:${shardOf(who.id)}`);
    const startsAt = (await d1Event(event.id))?.starts_at as number;
    const purgeAt = startsAt + LIMITS.waitingRoomKeepAfterStartMs;
    const alarm = () => runInDurableObject(stub, (_o, state) => state.storage.getAlarm());
    const tables = () =>
      runInDurableObject(stub, (_o, state) =>
        state.storage.sql
          .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'queue%'")
          .toArray()
          .map((r) => r.name)
          .sort(),
      );

    // A newcomer after the last report leaves an arrival to report: its alarm is due within the
    // report interval, not at the purge.
    clock.advance(LIMITS.waitingRoomReportMs / 2);
    const [late] = await buyers(1);
    const lateStub = env.WAITING_ROOM.getByName(`${event.id}:${shardOf((late as { id: string }).id)}`);
    await joined(event.id, (late as { token: string }).token);
    const lateAlarm = await runInDurableObject(lateStub, (_o, state) => state.storage.getAlarm());
    expect(lateAlarm).not.toBeNull();
    // The object may read the real clock where this test's is frozen: whichever is later bounds it.
    const latest = Math.max(Date.now(), vi.getRealSystemTime());
    expect(lateAlarm as number).toBeLessThanOrEqual(latest + LIMITS.waitingRoomReportMs);

    // Reports done, the shard's alarm waits for the purge, with the line still there.
    for (let i = 0; i < 5 && (await alarm()) !== purgeAt; i += 1) {
      clock.advance(LIMITS.waitingRoomReportMs);
      await runDurableObjectAlarm(stub);
    }
    expect(await alarm()).toBe(purgeAt);
    expect(await tables()).toEqual(["queue_entrants", "queue_keep", "queue_shard"]);
    expect((await entrants(event.id)).map((r) => r.user_id)).toContain(who.id);

    clock.set(purgeAt - 1);
    await runDurableObjectAlarm(stub);
    expect(await tables()).toHaveLength(3);
    clock.set(purgeAt);
    expect(await alarm()).toBe(purgeAt);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await tables()).toEqual([]);
    expect(await alarm()).toBeNull();
  });
});

describe("nobody waits on a hung connection", () => {
  const app = createApp();
  const send = (path: string, token: string, bindings: Env, headers: Record<string, string> = {}) =>
    app.request(
      path,
      {
        method: "POST",
        headers: { ...bearer(token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp(), ...headers },
        body: JSON.stringify({ quantity: 1 }),
      },
      bindings,
    );

  it("a shard that never answers: 503 unavailable with Retry-After within the deadline", async () => {
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    const hung = { getByName: () => ({ join: () => new Promise(() => {}) }) };
    // Once through the real shards first, so the clock below times the deadline alone, not a cold start.
    expect((await send(`/api/v1/events/${event.id}/queue`, who.token, env)).status).toBe(200);
    const started = Date.now();
    const res = await send(`/api/v1/events/${event.id}/queue`, who.token, { ...env, WAITING_ROOM: hung } as never);
    const took = Date.now() - started;
    await expectProblem(res, 503, "unavailable");
    expect(res.headers.get("Retry-After")).toBe(String(LIMITS.unavailableRetryAfterSeconds));
    expect(took).toBeGreaterThanOrEqual(LIMITS.waitingRoomTimeoutMs - 50);
    // Well inside the platform's own limits however loaded the machine; the lower bound shows the deadline ended it.
    expect(took).toBeLessThan(LIMITS.waitingRoomTimeoutMs + 5000);
  });

  it("an overloaded shard: 503 at once", async () => {
    const { event } = await queuedEvent({ mode: "on", admitPerSecond: 10 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    const overloaded = {
      getByName: () => ({
        join: () => Promise.reject(Object.assign(new Error("Durable Object is overloaded."), { overloaded: true })),
      }),
    };
    const res = await send(`/api/v1/events/${event.id}/queue`, who.token, {
      ...env,
      WAITING_ROOM: overloaded,
    } as never);
    await expectProblem(res, 503, "unavailable");
    expect(res.headers.get("Retry-After")).toBe(String(LIMITS.unavailableRetryAfterSeconds));
  });

  it("an inventory object that never answers an order: 503 unavailable with Retry-After", async () => {
    const { event } = await queuedEvent({ mode: "off", admitPerSecond: 10 });
    const [who] = await buyers(1);
    if (!who) throw new Error("no buyer");
    const hung = { getByName: () => ({ claim: () => new Promise(() => {}) }) };
    const started = Date.now();
    const res = await send(`/api/v1/events/${event.id}/orders`, who.token, { ...env, EVENT_INVENTORY: hung } as never);
    await expectProblem(res, 503, "unavailable");
    expect(res.headers.get("Retry-After")).toBe(String(LIMITS.unavailableRetryAfterSeconds));
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(LIMITS.inventoryCallTimeoutMs - 50);
    expect(took).toBeLessThan(LIMITS.inventoryCallTimeoutMs + 5000);
  });
});
