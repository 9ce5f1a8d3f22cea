/**
 * Development-only load fixtures (never reachable in production: the /dev routes answer 404 there).
 * `on-sale`: one published free event and many buyers with signed access tokens, so the benchmark
 * can have every request come from a different user; `checkOnSale` then counts what was sold, in the
 * EventInventory object and in D1, and reports any oversell.
 * `gate`: one published free event whose check-in is open now, its tickets claimed by as many
 * buyers, scanner devices, and a fresh QR token per ticket, so the benchmark can scan each ticket
 * once; `checkGate` reports the object's gate stats.
 */

import { z } from "zod";
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { fieldErrors } from "../../http/validation";
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { registerSessions, sealedEmail, sealName, signAccessToken } from "../auth";
import { type EventRow, findEvent, inventoryOf, toSnapshot, unwrap } from "../events";
import { mintTicketQr, registerDevice } from "../gate";
import { seedDemo } from "./seed";

export const ON_SALE_MAX_USERS = 50_000;
export const ON_SALE_MAX_CAPACITY = 1_000_000;
/** Statements per `db.batch`: D1 runs a batch as one transaction; 100 keeps each one small. */
const BATCH_STATEMENTS = 100;
const DAY = 24 * 3600 * 1000;
const HOST_ID = "demo-host";
const HOUR = 3600 * 1000;
export const GATE_MAX_TICKETS = 20_000;
export const GATE_MAX_DEVICES = 50;
/** Claims (and QR mints) in flight at once: enough to overlap the round trips, few enough to stay gentle. */
const GATE_CONCURRENCY = 100;
/** A free claim is confirmed in the same call; the hold only has to outlive it. */
const GATE_HOLD_MS = 60_000;

export const OnSaleInput = z
  .object({
    users: z.number().int().min(1).max(ON_SALE_MAX_USERS),
    capacity: z.number().int().min(1).max(ON_SALE_MAX_CAPACITY),
    /** The event's waiting room (the `waiting-room` benchmark); default off. */
    queue: z
      .object({
        mode: z.enum(["off", "auto", "on"]),
        admitPerSecond: z.number().int().min(1).max(LIMITS.queueAdmitPerSecondMax),
      })
      .strict()
      .optional(),
  })
  .strict();
export type OnSaleInput = z.infer<typeof OnSaleInput>;

export interface OnSaleFixture {
  eventId: string;
  /** One access token per buyer, each for a different user and session. */
  tokens: string[];
}

export interface OnSaleCheck {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  /** Active and redeemed tickets of the event in D1 (the read model), after a forced sync. */
  d1Tickets: number;
  distinctTicketIds: number;
  distinctSerials: number;
  /** Users holding more active tickets than the per-user limit. */
  overLimitUsers: number;
  /** max(0, sold - capacity) + (d1Tickets - distinctSerials) + overLimitUsers: must be 0. */
  oversold: number;
  /** Outbox rows the object still has to push to D1 (0 once the sync succeeded). */
  pending: number;
  /**
   * Pushes to D1 the object ran before this check, since it last started (a claim's push carries every
   * sale of its window: sold ÷ pushes is the sales per D1 batch, when the object ran the whole sale).
   */
  pushes: number;
}

export const GateInput = z
  .object({
    tickets: z.number().int().min(1).max(GATE_MAX_TICKETS),
    devices: z.number().int().min(1).max(GATE_MAX_DEVICES),
  })
  .strict();
export type GateInput = z.infer<typeof GateInput>;

export const InventoryFixtureInput = z.object({ capacity: z.number().int().min(1).max(ON_SALE_MAX_CAPACITY) }).strict();
export type InventoryFixtureInput = z.infer<typeof InventoryFixtureInput>;

export interface GateFixture {
  eventId: string;
  /** One `Device` token per registered scanner device (steward role). */
  deviceTokens: string[];
  /** One freshly minted QR token per ticket, each for a different ticket (and holder). */
  ticketTokens: string[];
}

function fixtureEvent(id: string, input: OnSaleInput, now: number): EventRow {
  const start = Math.ceil((now + 30 * DAY) / DAY) * DAY + 18 * 3600 * 1000;
  return {
    id,
    host_id: HOST_ID,
    title: `On-sale fixture: ${input.capacity} tickets for ${input.users} buyers`,
    description: "<p>Created by POST /dev/fixtures/on-sale for the load benchmark.</p>",
    starts_at: start,
    ends_at: start + 4 * 3600 * 1000,
    timezone: "Europe/Amsterdam",
    venue_name: "Bench Hall",
    venue_address: "Benchstraat 1, Amsterdam",
    lat: 52.37,
    lng: 4.89,
    capacity: input.capacity,
    price: 0,
    currency: "EUR",
    per_user_limit: 1,
    sales_start_at: null,
    sales_end_at: null,
    check_in_opens_at: start - 2 * 3600 * 1000,
    check_in_closes_at: start + 4 * 3600 * 1000,
    cover_media_id: null,
    status: "published",
    version: 1,
    created_at: now,
    updated_at: now,
    published_at: now,
    cancelled_at: null,
    queue_mode: input.queue?.mode ?? "off",
    queue_admit_per_second: input.queue?.admitPerSecond ?? LIMITS.queueAdmitPerSecondDefault,
    contacts_purged_at: null,
  };
}

/** On-sale's event, moved so that check-in is open now: it opened an hour ago, the start is in an hour. */
function gateEvent(id: string, input: GateInput, now: number): EventRow {
  const start = now + HOUR;
  return {
    ...fixtureEvent(id, { users: input.tickets, capacity: input.tickets }, now),
    title: `Gate fixture: ${input.tickets} tickets, ${input.devices} devices`,
    description: "<p>Created by POST /dev/fixtures/gate for the load benchmark.</p>",
    starts_at: start,
    ends_at: start + 4 * HOUR,
    check_in_opens_at: now - HOUR,
    check_in_closes_at: start + 4 * HOUR,
  };
}

async function inChunks<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return out;
}

/**
 * Inserts the event (hosted by the demo host, seeding the demo data first when it is missing) and
 * configures its inventory object.
 */
async function insertEvent(env: Env, config: Config, event: EventRow, now: number): Promise<void> {
  const host = await env.DB.prepare("SELECT id FROM users WHERE id = ?").bind(HOST_ID).first();
  if (!host) await seedDemo(env, config, now);
  await env.DB.prepare(
    `INSERT INTO events (id, host_id, title, description, starts_at, ends_at, timezone, venue_name, venue_address, lat, lng,
      capacity, price, currency, per_user_limit, sales_start_at, sales_end_at, check_in_opens_at, check_in_closes_at,
      cover_media_id, status, version, created_at, updated_at, published_at, cancelled_at, queue_mode,
      queue_admit_per_second)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      event.id,
      event.host_id,
      event.title,
      event.description,
      event.starts_at,
      event.ends_at,
      event.timezone,
      event.venue_name,
      event.venue_address,
      event.lat,
      event.lng,
      event.capacity,
      event.price,
      event.currency,
      event.per_user_limit,
      event.sales_start_at,
      event.sales_end_at,
      event.check_in_opens_at,
      event.check_in_closes_at,
      event.cover_media_id,
      event.status,
      event.version,
      event.created_at,
      event.updated_at,
      event.published_at,
      event.cancelled_at,
      event.queue_mode,
      event.queue_admit_per_second,
    )
    .run();
  unwrap(await inventoryOf(env.EVENT_INVENTORY, event.id).configure(toSnapshot(event)));
}

async function runBatches(db: D1Database, statements: D1PreparedStatement[]): Promise<void> {
  for (let i = 0; i < statements.length; i += BATCH_STATEMENTS) {
    await db.batch(statements.slice(i, i + BATCH_STATEMENTS));
  }
}

/**
 * Creates the event (see insertEvent) and `users` password-less buyers with one session each.
 */
export async function createOnSaleFixture(
  env: Env,
  config: Config,
  input: OnSaleInput,
  now = Date.now(),
): Promise<OnSaleFixture> {
  const event = fixtureEvent(randomId(), input, now);
  await insertEvent(env, config, event, now);

  // Lower-case hex keeps the emails already normalised (see normalizeEmail).
  const run = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
  const insertUser = env.DB.prepare(
    `INSERT INTO users (id, email, email_index, name, password_hash, email_verified_at, roles, session_epoch, created_at, updated_at)
     VALUES (?, ?, ?, ?, NULL, ?, '["attendee"]', 0, ?, ?)`,
  );
  const insertSession = env.DB.prepare(
    "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'otp', ?, ?, ?)",
  );
  const statements: D1PreparedStatement[] = [];
  const tokens: string[] = [];
  const opens: Parameters<typeof registerSessions>[1][number][] = [];
  const expiresAt = now + config.sessionMaxSeconds * 1000;
  for (let i = 0; i < input.users; i++) {
    const userId = randomId();
    const sessionId = randomId();
    const email = `onsale-${run}-${i}@fixtures.gatehouse.local`;
    const name = `Buyer ${i + 1}`;
    const stored = sealedEmail(config.pii, email);
    statements.push(
      insertUser.bind(userId, stored.email, stored.emailIndex, sealName(config.pii, name), now, now, now),
      insertSession.bind(sessionId, userId, now, now, expiresAt),
    );
    opens.push({ userId, sid: sessionId, epoch: 0, now, expiresAt, account: { roles: ["attendee"], email, name } });
    tokens.push(await signAccessToken(config.jwtKeys, { sub: userId, sid: sessionId, epoch: 0 }, now));
  }
  // A user and its session always land in the same batch (the count per batch is even).
  await runBatches(env.DB, statements);
  // Registered in their session books as a sign-in does, so a buyer's first order reads no D1 either.
  await registerSessions(env.RATE_LIMITER, opens);
  return { eventId: event.id, tokens };
}

/**
 * The `inventory` benchmark's event: on-sale's, without buyers (POST /dev/bench/inventory makes up a
 * new one per claim, with no account: the object only needs a user id).
 */
export async function createInventoryFixture(
  env: Env,
  config: Config,
  input: InventoryFixtureInput,
  now = Date.now(),
): Promise<{ eventId: string }> {
  const event: EventRow = {
    ...fixtureEvent(randomId(), { users: input.capacity, capacity: input.capacity }, now),
    title: `Inventory fixture: ${input.capacity} tickets`,
    description: "<p>Created by POST /dev/fixtures/inventory for the load benchmark.</p>",
  };
  await insertEvent(env, config, event, now);
  return { eventId: event.id };
}

/**
 * The gate fixture: the event, one free ticket claimed through its EventInventory object for each of
 * `tickets` distinct buyers (user ids only: no accounts, the tickets only need a holder), `devices`
 * steward devices registered as the host would, and a QR token per ticket minted as
 * GET /api/v1/tickets/:id/qr does (valid for TICKET_TOKEN_TTL_SECONDS from now).
 */
export async function createGateFixture(
  env: Env,
  config: Config,
  input: GateInput,
  now = Date.now(),
): Promise<GateFixture> {
  const event = gateEvent(randomId(), input, now);
  await insertEvent(env, config, event, now);
  const inventory = inventoryOf(env.EVENT_INVENTORY, event.id);
  const snapshot = toSnapshot(event);
  const run = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
  const indexes = Array.from({ length: input.tickets }, (_, i) => i);
  const holders = await inChunks(indexes, GATE_CONCURRENCY, async () => {
    const userId = randomId();
    const claimed = unwrap(
      await inventory.claim({
        orderId: randomId(),
        userId,
        quantity: 1,
        ttlMs: GATE_HOLD_MS,
        // Nobody to email: thousands of confirmations would only load the machine the bench measures.
        contact: null,
        snapshot,
      }),
    );
    return claimed.tickets.map((t) => ({ userId, ticketId: t.id }));
  });
  // The QR mint reads the ticket from D1: push the object's outbox there first.
  const pending = await syncAll(inventory);
  if (pending > 0) throw new Error(`gate fixture: ${pending} outbox rows did not reach D1`);

  const deps = {
    db: env.DB,
    inventory: env.EVENT_INVENTORY,
    config,
    meta: { requestId: `fixture-${run}`, ip: null, userAgent: "dev fixture" },
  };
  const host = { id: HOST_ID, roles: ["attendee", "host"] };
  const deviceTokens: string[] = [];
  for (let i = 0; i < input.devices; i++) {
    const device = await registerDevice(deps, host, event.id, { name: `Bench gate ${i + 1}`, role: "steward" });
    deviceTokens.push(device.token);
  }
  const ticketTokens = await inChunks(
    holders.flat(),
    GATE_CONCURRENCY,
    async ({ userId, ticketId }) => (await mintTicketQr(deps, userId, ticketId)).token,
  );
  return { eventId: event.id, deviceTokens, ticketTokens };
}

/**
 * Emails the email consumer still has in hand: written but not yet sent or dead-lettered, and not
 * (yet) stuck — a stuck row (its queue message lost, as a local restart drops them) waits for the
 * cron sweep, not for the consumer, so it is no work in flight (the same conditions as
 * requeueStuckEmails, negated).
 */
export async function emailBacklog(env: Env, now = Date.now()): Promise<{ emails: number }> {
  const stuckBefore = now - LIMITS.emailStuckAfterSeconds * 1000;
  const row = await env.DB.prepare(
    `SELECT COUNT(*) AS n FROM email_outbox
     WHERE (status = 'pending' AND created_at > ?1)
        OR (status = 'queued' AND COALESCE(next_attempt_at, queued_at, created_at) > ?2)
        OR (status = 'sending' AND lease_until > ?2)`,
  )
    .bind(now - LIMITS.emailPendingGraceSeconds * 1000, stuckBefore)
    .first<{ n: number }>();
  return { emails: row?.n ?? 0 };
}

/** The event's gate stats as its object keeps them (scans by result, checked in); unknown events 404. */
export async function checkGate(env: Env, eventId: string) {
  if (!(await findEvent(env.DB, eventId))) throw new DomainError("not-found", "No such event.");
  return inventoryOf(env.EVENT_INVENTORY, eventId).gateStats();
}

/**
 * Pushes the object's outbox to D1, then compares the object's counts with the D1 read model.
 * Unknown events answer 404.
 */
/**
 * Pushes the object's whole outbox to D1: one sync sends at most LIMITS.inventoryDrainMaxBatches
 * batches, so a backlog takes several, each its own call. Answers what is left once a sync moves
 * nothing more (D1 refusing).
 */
async function syncAll(inventory: ReturnType<typeof inventoryOf>): Promise<number> {
  let { pending } = await inventory.sync();
  for (;;) {
    if (pending === 0) return 0;
    const next = (await inventory.sync()).pending;
    if (next >= pending) return next;
    pending = next;
  }
}

export async function checkOnSale(env: Env, eventId: string): Promise<OnSaleCheck> {
  const event = await findEvent(env.DB, eventId);
  if (!event) throw new DomainError("not-found", "No such event.");
  const inventory = inventoryOf(env.EVENT_INVENTORY, eventId);
  const { pushes } = await inventory.pushStats();
  const pending = await syncAll(inventory);
  const stats = await inventory.stats();
  const sold = "status IN ('active', 'redeemed')";
  const [d1, overLimit] = await Promise.all([
    env.DB.prepare(
      `SELECT COUNT(*) AS d1Tickets, COUNT(DISTINCT id) AS distinctTicketIds, COUNT(DISTINCT serial) AS distinctSerials
       FROM tickets WHERE event_id = ? AND ${sold}`,
    )
      .bind(eventId)
      .first<{ d1Tickets: number; distinctTicketIds: number; distinctSerials: number }>(),
    env.DB.prepare(
      `SELECT COUNT(*) AS overLimitUsers FROM
        (SELECT user_id FROM tickets WHERE event_id = ? AND ${sold} GROUP BY user_id HAVING COUNT(*) > ?)`,
    )
      .bind(eventId, event.per_user_limit)
      .first<{ overLimitUsers: number }>(),
  ]);
  if (!d1 || !overLimit) throw new Error("COUNT queries answered no row");
  const { overLimitUsers } = overLimit;
  return {
    capacity: stats.capacity,
    sold: stats.sold,
    held: stats.held,
    remaining: stats.remaining,
    d1Tickets: d1.d1Tickets,
    distinctTicketIds: d1.distinctTicketIds,
    distinctSerials: d1.distinctSerials,
    overLimitUsers,
    oversold: Math.max(0, stats.sold - stats.capacity) + (d1.d1Tickets - d1.distinctSerials) + overLimitUsers,
    pending,
    pushes,
  };
}

/** Parses the fixture body: 400 malformed-json or validation-failed, like the API's own routes. */
export function parseOnSaleInput(request: { json(): Promise<unknown> }): Promise<OnSaleInput> {
  return parseFixtureInput(request, OnSaleInput);
}

/** Parses the gate fixture body, with the same 400 answers. */
export function parseGateInput(request: { json(): Promise<unknown> }): Promise<GateInput> {
  return parseFixtureInput(request, GateInput);
}

/** Parses a development route's JSON body against `schema`, with the same 400 answers. */
export async function parseFixtureInput<T>(request: { json(): Promise<unknown> }, schema: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await request.json();
  } catch {
    throw new DomainError("malformed-json", "The request body could not be parsed as JSON.");
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error.issues);
    throw new DomainError("validation-failed", `${errors.length} field(s) are not valid.`, { errors, in: "json" });
  }
  return parsed.data;
}
