/** Event fixtures: a host with a published event, buyers with tokens. */
import { env } from "cloudflare:workers";
import type { EventSnapshot, HoldRequest } from "../../../durable-objects/event-inventory/contract";
import { migrateRefunding } from "../../../durable-objects/event-inventory/schema";
import { call, freshIp } from "../../helpers";
import { objectRows } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { bearer, createUser, login } from "../auth/helpers";

export const HOUR = 3600 * 1000;
export const DAY = 24 * HOUR;

export function eventBody(overrides: Record<string, unknown> = {}) {
  const start = Date.now() + 7 * DAY;
  return {
    title: "Rooftop Jazz",
    description: "<p>Bring a <b>jacket</b>.</p>",
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(start + 3 * HOUR).toISOString(),
    timezone: "Europe/Amsterdam",
    venue: { name: "De Kade", address: "Kade 1, Amsterdam", lat: 52.37, lng: 4.89 },
    capacity: 50,
    price: 0,
    currency: "EUR",
    ...overrides,
  };
}

export async function hostWithToken() {
  const host = await createUser({ roles: ["attendee", "host"] });
  const { accessToken } = await login(host.email);
  return { ...host, token: accessToken };
}

export async function createEvent(token: string, overrides: Record<string, unknown> = {}, publish = true) {
  const res = await call("/api/v1/events", {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify(eventBody(overrides)),
  });
  if (res.status !== 201) throw new Error(`create event: ${res.status} ${await res.text()}`);
  let event = (await res.json()) as { id: string; version: number; status: string; hostId: string; price: number };
  if (publish) {
    // Paid tickets publish only for a host whose payout account can take charges.
    if (event.price > 0) await givePayoutAccount(event.hostId);
    const pub = await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(token) });
    if (pub.status !== 200) throw new Error(`publish: ${pub.status} ${await pub.text()}`);
    event = (await pub.json()) as typeof event;
  }
  return event;
}

/** Creates `count` users with session tokens, directly (fixtures may skip sign-up). */
export async function buyers(count: number) {
  const users = await Promise.all(Array.from({ length: count }, () => createUser()));
  const now = Date.now();
  const { signAccessToken } = await import("../../../src/features/auth/tokens");
  const { registerSessions } = await import("../../../src/features/auth");
  const { getConfig } = await import("../../../src/config");
  const config = getConfig(env);
  // Sessions written directly: signing in 1,000 users through scrypt would dominate the test time. They
  // go to D1 and to the users' session books, as a sign-in writes them.
  const statements = [];
  const opens = [];
  const result = [];
  for (const user of users) {
    const sid = crypto.randomUUID();
    statements.push(
      env.DB.prepare(
        "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'password', ?, ?, ?)",
      ).bind(sid, user.id, now, now, now + DAY),
    );
    opens.push({
      userId: user.id,
      sid,
      epoch: 0,
      now,
      expiresAt: now + DAY,
      account: { roles: ["attendee"], email: user.email, name: "Test User" },
    });
    result.push({ ...user, token: await signAccessToken(config.jwtKeys, { sub: user.id, sid, epoch: 0 }) });
  }
  for (let i = 0; i < statements.length; i += 100) await env.DB.batch(statements.slice(i, i + 100));
  await registerSessions(env.RATE_LIMITER, opens);
  return result;
}

/**
 * Places an order through the API. A free claim answers before its push reaches D1 (the buyer's own
 * reads settle it: src/features/orders/settle.ts); this helper then waits for that push to finish
 * (whatever its outcome: outage tests expect it to fail), so a test may read D1 directly at once. test/features/orders/read-own-order.test.ts tests the answer without it.
 */
export async function order(eventId: string, token: string, quantity = 1, headers: Record<string, string> = {}) {
  const res = await call(`/api/v1/events/${eventId}/orders`, {
    method: "POST",
    ip: freshIp(),
    headers: { ...bearer(token), "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ quantity }),
  });
  await inventory(eventId).settled();
  return res;
}

// ---------------------------------------------------------------- shared by the events suite

/** The event's inventory object (the stub tests inspect and drive). */
export function inventory(eventId: string) {
  return env.EVENT_INVENTORY.getByName(eventId);
}

/**
 * Pushes the event object's outbox until nothing is left or a push moves nothing (one push sends at
 * most LIMITS.inventoryDrainMaxBatches batches; the rest waits for the alarm otherwise).
 */
export async function syncAll(eventId: string): Promise<{ pending: number }> {
  let { pending } = await inventory(eventId).sync();
  while (pending > 0) {
    const next = (await inventory(eventId).sync()).pending;
    if (next >= pending) break;
    pending = next;
  }
  return { pending };
}

export interface Counts {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
}

/**
 * The availability invariant, checked on every read the tests make: sold + held + remaining =
 * capacity and remaining ≥ 0, both from the object and from the public event view.
 */
/**
 * The object's stats, invariant-checked, and compared with a count of its ticket rows: the sold and
 * checked-in figures come from trigger-kept counters, which must never drift from the rows.
 */
export async function checkedStats(eventId: string): Promise<Counts & { checkedIn: number }> {
  const stats = await inventory(eventId).stats();
  assertInvariant(stats);
  const [counted] = await objectRows<{ sold: number; checkedIn: number }>(
    eventId,
    "SELECT COUNT(*) AS sold, COALESCE(SUM(status = 'redeemed'), 0) AS checkedIn FROM tickets WHERE status IN ('active', 'redeemed', 'refunding')",
  );
  if (counted?.sold !== stats.sold || counted.checkedIn !== stats.checkedIn) {
    throw new Error(`ticket counters drifted: stats ${JSON.stringify(stats)}, rows ${JSON.stringify(counted)}`);
  }
  return stats;
}

export function assertInvariant(a: Counts): void {
  if (a.sold + a.held + a.remaining !== a.capacity || a.remaining < 0 || a.sold < 0 || a.held < 0) {
    throw new Error(`availability invariant broken: ${JSON.stringify(a)}`);
  }
}

/** Availability as the public API shows it (GET /api/v1/events/:id), invariant-checked. */
export async function publicAvailability(eventId: string): Promise<Counts> {
  const res = await call(`/api/v1/events/${eventId}`);
  if (res.status !== 200) throw new Error(`get event: ${res.status} ${await res.text()}`);
  const a = ((await res.json()) as { availability: Counts }).availability;
  assertInvariant(a);
  return a;
}

export interface DoTicket {
  id: string;
  order_id: string;
  user_id: string;
  serial: number;
  status: string;
}

export interface DoOrder {
  id: string;
  user_id: string;
  status: string;
  quantity: number;
  hold_expires_at: number | null;
}

export function objectTickets(eventId: string): Promise<DoTicket[]> {
  return objectRows<DoTicket>(eventId, "SELECT id, order_id, user_id, serial, status FROM tickets ORDER BY serial");
}

export function objectOrders(eventId: string): Promise<DoOrder[]> {
  return objectRows<DoOrder>(
    eventId,
    "SELECT id, user_id, status, quantity, hold_expires_at FROM orders ORDER BY created_at",
  );
}

export async function d1Tickets(eventId: string) {
  return (
    await env.DB.prepare("SELECT id, order_id, user_id, serial, status FROM tickets WHERE event_id = ? ORDER BY serial")
      .bind(eventId)
      .all<DoTicket>()
  ).results;
}

export async function d1Orders(eventId: string) {
  return (
    await env.DB.prepare("SELECT id, user_id, status, quantity FROM orders WHERE event_id = ? ORDER BY created_at")
      .bind(eventId)
      .all<{ id: string; user_id: string; status: string; quantity: number }>()
  ).results;
}

export async function d1Event(eventId: string) {
  return env.DB.prepare("SELECT * FROM events WHERE id = ?").bind(eventId).first<Record<string, unknown>>();
}

/** Row readers and the problem code live in the test kit (test/support/db.ts); these names stay for their importers. */
export { codeOfResponse, objectRows } from "../../support/db";

// ---------------------------------------------------------------- driving the object directly (RPC)

/** A published free event as the object sees it, starting a week from (possibly faked) now. */
export function snapshotFor(overrides: Partial<EventSnapshot> = {}): EventSnapshot {
  const start = Date.now() + 7 * DAY;
  return {
    eventId: `inv-${crypto.randomUUID()}`,
    version: 1,
    status: "published",
    title: "Inventory test",
    capacity: 10,
    perUserLimit: 10,
    price: 0,
    currency: "EUR",
    startsAt: start,
    endsAt: start + 3 * HOUR,
    salesStartAt: null,
    salesEndAt: null,
    checkInOpensAt: start - 2 * HOUR,
    checkInClosesAt: start + 3 * HOUR,
    ...overrides,
  };
}

/** Configures a fresh object with `overrides` and returns its snapshot and stub. */
export async function configuredInventory(overrides: Partial<EventSnapshot> = {}) {
  const snapshot = snapshotFor(overrides);
  const stub = inventory(snapshot.eventId);
  const configured = await stub.configure(snapshot);
  if (!configured.ok) throw new Error(`configure: ${configured.code}`);
  return { snapshot, stub, eventId: snapshot.eventId };
}

/**
 * Takes an object's tables back to schema v11 (before the seat counts of v12): `seat_counts`, its
 * triggers and the guard on deletes go, and v6's `ticket_counts` comes back, counted from the tickets,
 * with its triggers. For tests of the older steps, which then go back further themselves.
 */
export function beforeSeatCounts(sql: SqlStorage): void {
  sql.exec(`
    DROP TRIGGER IF EXISTS seat_counts_insert;
    DROP TRIGGER IF EXISTS seat_counts_update;
    DROP TRIGGER IF EXISTS tickets_kept;
    DROP TABLE IF EXISTS seat_counts;
  `);
  migrateRefunding(sql);
  sql.exec("UPDATE schema_version SET version = 11");
}

export function holdRequest(
  snapshot: EventSnapshot,
  userId: string,
  quantity = 1,
  ttlMs = 10 * 60 * 1000,
  orderId: string = crypto.randomUUID(),
): HoldRequest {
  return { orderId, userId, quantity, ttlMs, contact: { email: `${userId}@example.com`, name: userId }, snapshot };
}
