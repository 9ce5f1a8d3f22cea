/**
 * Erasure reaches the events' inventory objects: each keeps the email and name a buyer ordered or
 * queued with (for the event's cancellation email and waitlist offers), so an erased person's must
 * leave them, or a later cancellation or freed seat would still email them.
 */
import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import worker from "../../../src/index";
import { call, freshIp } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { countRows } from "../../support/db";
import { bookOf } from "../../support/sessions";
import { replacingMethod } from "../../support/stubs";
import { bearer } from "../auth/helpers";
import { configuredInventory, createEvent, holdRequest, hostWithToken, inventory, order } from "../events/helpers";
import { cancelOrder, join, soldOutEvent } from "../waitlist/helpers";
import { someone } from "./helpers";

function erase(token: string, password: string) {
  return call("/api/v1/me", {
    method: "DELETE",
    ip: freshIp(),
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify({ password }),
  });
}

function objectSql<T extends Record<string, SqlStorageValue>>(eventId: string, sql: string, ...bindings: unknown[]) {
  return runInDurableObject(inventory(eventId), (_instance, state) =>
    state.storage.sql.exec<T>(sql, ...bindings).toArray(),
  );
}

/** The object's stored contacts and outbox payloads that hold any of `needles`. */
async function holding(eventId: string, needles: string[]): Promise<string[]> {
  const rows = await objectSql<{ v: string }>(
    eventId,
    "SELECT contact AS v FROM orders UNION ALL SELECT contact FROM waitlist UNION ALL SELECT payload FROM outbox",
  );
  return rows.map((row) => row.v).filter((v) => needles.some((needle) => v.includes(needle)));
}

/** The five-minute cron at `at`, as the runtime runs it (queues/scheduled.ts). */
async function cron(at: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "*/5 * * * *" }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** The person's events whose objects are left to the sweep, with their attempts and next try. */
const leftToSweep = (userId: string) =>
  env.DB.prepare("SELECT event_id, attempts, next_at FROM object_erasures WHERE user_id = ? ORDER BY event_id")
    .bind(userId)
    .all<{ event_id: string; attempts: number; next_at: number }>()
    .then((r) => r.results);

/** Lowers how many events' objects an erasure clears itself, for this test. */
function clearAtOnce(events: number): void {
  const limits = LIMITS as { erasureEventObjects: number };
  const before = limits.erasureEventObjects;
  limits.erasureEventObjects = events;
  onTestFinished(() => {
    limits.erasureEventObjects = before;
  });
}

/**
 * Erases `person` through the Worker while an order of theirs lands at the object of `eventId` during
 * the erasure: after the events were listed, before the epoch moved (its session check noted the
 * event in the book; then the object stored the sale). `then` runs right after that order.
 */
async function eraseWithLateOrder(
  person: Awaited<ReturnType<typeof someone>>,
  { snapshot, stub, eventId }: Awaited<ReturnType<typeof configuredInventory>>,
  then: () => Promise<unknown> = async () => undefined,
): Promise<Response> {
  let placed = false;
  const limiter = replacingMethod(env.RATE_LIMITER, "advanceEpoch", (inner) => async (request: never) => {
    if (!placed) {
      placed = true;
      await runInDurableObject(bookOf(person.id), (_instance, state) => {
        state.storage.sql.exec(
          "INSERT INTO session_orders (user_id, event_id, at) VALUES (?, ?, ?)",
          person.id,
          eventId,
          Date.now(),
        );
      });
      const late = await stub.claim({
        ...holdRequest(snapshot, person.id),
        contact: { email: person.email, name: person.name },
      });
      if (!late.ok) throw new Error(late.code);
      await then();
    }
    return inner.advanceEpoch(request);
  });
  const res = await worker.fetch(
    new Request("https://gatehouse.test/api/v1/me", {
      method: "DELETE",
      headers: { ...bearer(person.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ password: person.password }),
    }),
    { ...env, RATE_LIMITER: limiter } as typeof env,
    createExecutionContext(),
  );
  expect(placed).toBe(true);
  return res;
}

const mailTo = (address: string, template: string) =>
  countRows("dev_mailbox", `"to" = ? AND template = ?`, address, template);

describe("erasure and the events' objects", () => {
  it("clears the person's email and name from every event they ordered or queued at: a later cancellation or freed seat emails them nothing", async () => {
    const person = await someone();
    const other = await someone();
    const host = await hostWithToken();
    const bought = await createEvent(host.token, { capacity: 10 });
    expect((await order(bought.id, person.token)).status).toBe(201);
    expect((await order(bought.id, other.token)).status).toBe(201);
    const full = await soldOutEvent(1);
    expect((await join(full.event.id, person.token)).status).toBe(201);
    expect((await join(full.event.id, other.token)).status).toBe(201);
    expect(await holding(bought.id, [person.email])).not.toEqual([]);
    expect(await holding(full.event.id, [person.email])).not.toEqual([]);

    expect((await erase(person.token, person.password)).status).toBe(204);
    for (const eventId of [bought.id, full.event.id]) {
      expect(await holding(eventId, [person.email, person.name])).toEqual([]);
    }
    // Their orders and tickets stay (the host's sales), with no contact; their place in line is given up.
    expect(await objectSql(bought.id, "SELECT contact FROM orders WHERE user_id = ?", person.id)).toEqual([
      { contact: "null" },
    ]);
    expect(await objectSql(full.event.id, "SELECT status FROM waitlist WHERE user_id = ?", person.id)).toEqual([
      { status: "left" },
    ]);

    // The event's cancellation emails the other buyer only.
    const cancelled = await call(`/api/v1/events/${bought.id}/cancel`, { method: "POST", headers: bearer(host.token) });
    expect(cancelled.status).toBe(200);
    expect(await mailTo(other.email, "event-cancelled")).toBe(1);
    expect(await mailTo(person.email, "event-cancelled")).toBe(0);
    // A seat given back is offered to the next in line, who is the other person now.
    const holder = full.holders[0] as { token: string };
    expect((await cancelOrder(full.orders[0] as string, holder.token)).status).toBe(200);
    expect(await objectSql(full.event.id, "SELECT user_id FROM waitlist WHERE status = 'offered'")).toEqual([
      { user_id: other.id },
    ]);
    expect(await mailTo(other.email, "waitlist-offer")).toBe(1);
    expect(await mailTo(person.email, "waitlist-offer")).toBe(0);
  });

  it("drops emails to them the object has not pushed to D1 yet", async () => {
    const person = await someone();
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    expect((await order(event.id, person.token)).status).toBe(201);
    // An email still waiting in the outbox (its push not yet through), as a claim leaves it for a moment.
    const unpushed = {
      id: `order-confirmed:unpushed-${crypto.randomUUID()}`,
      to: person.email,
      template: "order-confirmed",
      data: { name: person.name, eventId: event.id, eventTitle: "x", startsAt: Date.now(), orderId: "o", serials: [9] },
    };
    await objectSql(
      event.id,
      "INSERT INTO outbox (kind, payload, created_at) VALUES ('email', ?, ?)",
      JSON.stringify(unpushed),
      Date.now(),
    );

    expect(await inventory(event.id).forgetContact({ userId: person.id })).toEqual({
      orders: 1,
      waitlist: false,
      emails: 1,
    });
    expect(await countRows("email_outbox", "id = ?", unpushed.id)).toBe(0);
    expect(await holding(event.id, [person.email, person.name])).toEqual([]);
    // Again: nothing left to clear.
    expect(await inventory(event.id).forgetContact({ userId: person.id })).toEqual({
      orders: 0,
      waitlist: false,
      emails: 0,
    });
  });

  it("reaches an event they ordered at moments ago, before D1 had the order, and its confirmation is never sent", async () => {
    const person = await someone();
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    // D1 refuses order rows: the claim answers from the object, its push (order, ticket, email) waits.
    await env.DB.exec(
      "CREATE TRIGGER refuse_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'refused in this test'); END;",
    );
    const placed = await call(`/api/v1/events/${event.id}/orders`, {
      method: "POST",
      ip: freshIp(),
      headers: { ...bearer(person.token), "Content-Type": "application/json" },
      body: JSON.stringify({ quantity: 1 }),
    });
    expect(placed.status).toBe(201);
    const { order: placedOrder } = (await placed.json()) as { order: { id: string } };
    expect(await countRows("orders", "user_id = ?", person.id)).toBe(0);

    // Only the session check's note of the order names this event: D1 knows nothing of it.
    expect((await erase(person.token, person.password)).status).toBe(204);
    expect(await holding(event.id, [person.email, person.name])).toEqual([]);
    await env.DB.exec("DROP TRIGGER refuse_orders");
    expect(await inventory(event.id).sync()).toEqual({ pending: 0 });
    expect(await countRows("orders", "id = ?", placedOrder.id)).toBe(1);
    expect(await countRows("email_outbox", "id = ?", `order-confirmed:${placedOrder.id}`)).toBe(0);
    expect(await mailTo(person.email, "order-confirmed")).toBe(0);
  });

  it("an order that reaches the object after it forgot the person stores no contact and sends nothing; for a while only", async () => {
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5, perUserLimit: 5 });
    const userId = `forgotten-${crypto.randomUUID()}`;
    const address = `${userId}@example.com`;
    await stub.forgetContact({ userId });
    // In flight while the erasure ran: it arrives after the object forgot them.
    const late = await stub.claim(holdRequest(snapshot, userId));
    if (!late.ok) throw new Error(late.code);
    expect(late.value.order.status).toBe("confirmed");
    expect(await holding(eventId, [address])).toEqual([]);
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect(await mailTo(address, "order-confirmed")).toBe(0);
    // Nor does it take a place in the waitlist (an offer could reach nobody).
    const joined = await stub.joinWaitlist({ userId, contact: { email: address, name: "Late" }, snapshot });
    expect(joined).toMatchObject({ ok: false, code: "not-on-sale" });

    // The object remembers them for LIMITS.erasureTombstoneMs, then takes a contact as given again.
    freezeClock(Date.now() + LIMITS.erasureTombstoneMs + 1_000);
    const later = await stub.claim(holdRequest(snapshot, userId));
    if (!later.ok) throw new Error(later.code);
    expect(await holding(eventId, [address])).not.toEqual([]);
  });

  it("is refused with 503, nothing changed, while an event's object fails", async () => {
    const person = await someone();
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    expect((await order(event.id, person.token)).status).toBe(201);
    // The object's storage refuses the erasure's statements.
    await objectSql(event.id, "ALTER TABLE waitlist RENAME TO waitlist_gone");

    const res = await erase(person.token, person.password);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { type: string }).type).toMatch(/\/unavailable$/);
    expect(await countRows("users", "id = ? AND erased_at IS NULL", person.id)).toBe(1);
    expect((await call("/api/v1/me", { headers: bearer(person.token) })).status).toBe(200);
    await objectSql(event.id, "ALTER TABLE waitlist_gone RENAME TO waitlist");
    expect(await holding(event.id, [person.email])).not.toEqual([]);

    expect((await erase(person.token, person.password)).status).toBe(204);
    expect(await holding(event.id, [person.email, person.name])).toEqual([]);
    expect(
      await env.DB.prepare("SELECT erased_at FROM users WHERE id = ?").bind(person.id).first("erased_at"),
    ).not.toBeNull();
  });

  it("an order that passed its session check after the events were listed is cleared too, once the sessions stop", async () => {
    const person = await someone();
    const inventoryOfEvent = await configuredInventory({ capacity: 5 });
    expect((await eraseWithLateOrder(person, inventoryOfEvent)).status).toBe(204);
    expect(await holding(inventoryOfEvent.eventId, [person.email, person.name])).toEqual([]);
  });

  it("past the newest events' objects it clears itself, leaves the rest to the five-minute cron, which clears them all", async () => {
    clearAtOnce(1);
    const t0 = freezeClock().now();
    const person = await someone();
    const host = await hostWithToken();
    const events = [];
    for (let i = 0; i < 3; i++) {
      // A second apart: newest first is an order.
      setClock(t0 + i * 1_000);
      const event = await createEvent(host.token, { capacity: 5 });
      expect((await order(event.id, person.token)).status).toBe(201);
      events.push(event.id);
    }
    const [oldest, older, newest] = events as [string, string, string];
    // Past the session book's note of the orders: the erasure's last look does not name them.
    setClock(t0 + LIMITS.ownOrdersSettleMs + 3_000);

    expect((await erase(person.token, person.password)).status).toBe(204);
    expect(await holding(newest, [person.email, person.name])).toEqual([]);
    expect(await holding(oldest, [person.email])).not.toEqual([]);
    expect(await holding(older, [person.email])).not.toEqual([]);
    expect((await leftToSweep(person.id)).map((row) => row.event_id)).toEqual([oldest, older].sort());

    await cron(t0 + LIMITS.ownOrdersSettleMs + 3_000);
    for (const id of events) expect(await holding(id, [person.email, person.name])).toEqual([]);
    expect(await leftToSweep(person.id)).toEqual([]);
  });

  it("an object that fails in the cron is tried again after a minute, then two; cleared once it answers", async () => {
    clearAtOnce(1);
    const t0 = freezeClock().now();
    const person = await someone();
    const host = await hostWithToken();
    const failing = await createEvent(host.token, { capacity: 5 });
    expect((await order(failing.id, person.token)).status).toBe(201);
    setClock(t0 + 1_000);
    const newest = await createEvent(host.token, { capacity: 5 });
    expect((await order(newest.id, person.token)).status).toBe(201);
    const t1 = setClock(t0 + LIMITS.ownOrdersSettleMs + 2_000);
    expect((await erase(person.token, person.password)).status).toBe(204);
    // The object's storage refuses forgetting.
    await objectSql(failing.id, "ALTER TABLE waitlist RENAME TO waitlist_gone");

    await cron(t1);
    expect(await leftToSweep(person.id)).toEqual([{ event_id: failing.id, attempts: 1, next_at: t1 + 60_000 }]);
    await cron(t1 + 59_999);
    expect(await leftToSweep(person.id)).toEqual([{ event_id: failing.id, attempts: 1, next_at: t1 + 60_000 }]);
    await cron(t1 + 60_000);
    expect(await leftToSweep(person.id)).toEqual([
      { event_id: failing.id, attempts: 2, next_at: t1 + 60_000 + 120_000 },
    ]);

    await objectSql(failing.id, "ALTER TABLE waitlist_gone RENAME TO waitlist");
    expect(await holding(failing.id, [person.email])).not.toEqual([]);
    await cron(t1 + 180_000);
    expect(await leftToSweep(person.id)).toEqual([]);
    expect(await holding(failing.id, [person.email, person.name])).toEqual([]);
  });

  it("a late order's object that fails the last look is left to the cron, not forgotten", async () => {
    const person = await someone();
    const inventoryOfEvent = await configuredInventory({ capacity: 5 });
    const { eventId } = inventoryOfEvent;
    // Right after the late order the object fails: the last look cannot reach it.
    const res = await eraseWithLateOrder(person, inventoryOfEvent, () =>
      objectSql(eventId, "ALTER TABLE waitlist RENAME TO waitlist_gone"),
    );
    expect(res.status).toBe(204);
    expect((await leftToSweep(person.id)).map((row) => row.event_id)).toEqual([eventId]);
    await objectSql(eventId, "ALTER TABLE waitlist_gone RENAME TO waitlist");
    expect(await holding(eventId, [person.email])).not.toEqual([]);

    await cron(Date.now());
    expect(await holding(eventId, [person.email, person.name])).toEqual([]);
    expect(await leftToSweep(person.id)).toEqual([]);
  });
});
