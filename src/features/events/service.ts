/**
 * Events: hosts create, edit, publish and cancel; anyone reads published ones. D1 holds the event;
 * its EventInventory object gets a snapshot after every change. A capacity decrease goes to the
 * object first, which refuses it below sold + held, so there is never a moment where D1 promises
 * more than the object can honour.
 */

import type { EventInventory, EventSnapshot } from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { events } from "../../db/schema";
import type { WebhookEventType } from "../../db/schema-integrations";
import { randomId } from "../../lib/crypto";
import { bumpVersion, cacheKey, type Defer, EDGE_TTL, getOrProduce, readVersions, scopes } from "../../lib/edge-cache";
import { DomainError } from "../../lib/errors";
import { sanitizeDescription } from "../../lib/sanitize";
import { iso } from "../../lib/time";
import {
  insertedWebhookEventIds,
  type OutgoingWebhookMessage,
  wakeWebhookEvents,
  webhookEventStatement,
} from "../webhooks";
import { inventoryOf, unwrap } from "./inventory";
import { forgetOrderableEvent } from "./orderable";
import { customRefundTerms, refundWindowErrors } from "./refund-window";
import { crossFieldErrors, type EventInput } from "./schema";

/** An events row as SQL returns it. */
export type EventRow = RowOf<typeof events>;

export interface EventsDeps {
  db: D1Database;
  inventory: DurableObjectNamespace<EventInventory>;
  now?: number;
  /** Runs work after the response (the request's `defer`); without it, cache stores start at once. */
  defer?: Defer;
  /** Wakes the host's webhooks after a publish or cancel; without it the cron sweep hands them over. */
  webhooks?: Queue<OutgoingWebhookMessage>;
}

export interface Caller {
  id: string;
  roles: readonly string[];
  /** A host's API key acting for them: another host's event is 404 to it, published or not. */
  apiKey?: boolean;
}

const ms = (value: string) => Date.parse(value);

export function toApiEvent(row: EventRow) {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    startsAt: iso(row.starts_at),
    endsAt: iso(row.ends_at),
    timezone: row.timezone,
    venue: { name: row.venue_name, address: row.venue_address, lat: row.lat, lng: row.lng },
    capacity: row.capacity,
    price: row.price,
    currency: row.currency,
    perUserLimit: row.per_user_limit,
    salesStartAt: iso(row.sales_start_at),
    salesEndAt: iso(row.sales_end_at),
    checkInOpensAt: iso(row.check_in_opens_at),
    checkInClosesAt: iso(row.check_in_closes_at),
    coverMediaId: row.cover_media_id,
    status: row.status,
    version: row.version,
    hostId: row.host_id,
    queue: { mode: row.queue_mode, admitPerSecond: row.queue_admit_per_second },
  };
}
export type ApiEvent = ReturnType<typeof toApiEvent>;

export function toSnapshot(row: EventRow): EventSnapshot {
  return {
    eventId: row.id,
    version: row.version,
    status: row.status,
    title: row.title,
    capacity: row.capacity,
    perUserLimit: row.per_user_limit,
    price: row.price,
    currency: row.currency,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    salesStartAt: row.sales_start_at,
    salesEndAt: row.sales_end_at,
    checkInOpensAt: row.check_in_opens_at,
    checkInClosesAt: row.check_in_closes_at,
    queue: { mode: row.queue_mode, admitPerSecond: row.queue_admit_per_second },
  };
}

export function findEvent(db: D1Database, id: string): Promise<EventRow | null> {
  return db.prepare("SELECT * FROM events WHERE id = ?").bind(id).first<EventRow>();
}

function assertValid(row: EventRow): void {
  const errors = crossFieldErrors({
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    salesStartAt: row.sales_start_at,
    salesEndAt: row.sales_end_at,
    checkInOpensAt: row.check_in_opens_at,
    checkInClosesAt: row.check_in_closes_at,
    price: row.price,
    currency: row.currency,
  });
  if (errors.length > 0) {
    throw new DomainError("validation-failed", `${errors.length} field(s) are not valid.`, { errors, in: "json" });
  }
}

/** Moving the start or the doors must not leave the host's refund policy open once check-in is (see refund-window.ts). */
async function assertRefundWindow(db: D1Database, row: EventRow, path: string): Promise<void> {
  const terms = await customRefundTerms(db, row.id);
  if (!terms) return;
  const errors = refundWindowErrors({ startsAt: row.starts_at, checkInOpensAt: row.check_in_opens_at }, terms, path);
  if (errors.length > 0) {
    throw new DomainError("validation-failed", "Refunds would still be open after check-in opens.", {
      errors,
      in: "json",
    });
  }
}

/** Applies (partial) input over a row; fields absent from the input keep their value. */
function merge(base: EventRow, input: Partial<EventInput>, now: number): EventRow {
  const next: EventRow = { ...base, updated_at: now };
  if (input.title !== undefined) next.title = input.title;
  if (input.description !== undefined) next.description = sanitizeDescription(input.description);
  if (input.startsAt !== undefined) next.starts_at = ms(input.startsAt);
  if (input.endsAt !== undefined) next.ends_at = ms(input.endsAt);
  if (input.timezone !== undefined) next.timezone = input.timezone;
  if (input.venue !== undefined) {
    next.venue_name = input.venue.name;
    next.venue_address = input.venue.address;
    next.lat = input.venue.lat;
    next.lng = input.venue.lng;
  }
  if (input.capacity !== undefined) next.capacity = input.capacity;
  if (input.price !== undefined) next.price = input.price;
  if (input.currency !== undefined) next.currency = input.currency;
  if (input.perUserLimit !== undefined) next.per_user_limit = input.perUserLimit;
  if (input.salesStartAt !== undefined)
    next.sales_start_at = input.salesStartAt === null ? null : ms(input.salesStartAt);
  if (input.salesEndAt !== undefined) next.sales_end_at = input.salesEndAt === null ? null : ms(input.salesEndAt);
  if (input.checkInOpensAt !== undefined) next.check_in_opens_at = ms(input.checkInOpensAt);
  if (input.checkInClosesAt !== undefined) next.check_in_closes_at = ms(input.checkInClosesAt);
  if (input.coverMediaId !== undefined) next.cover_media_id = input.coverMediaId;
  if (input.queue !== undefined) {
    next.queue_mode = input.queue.mode;
    next.queue_admit_per_second = input.queue.admitPerSecond ?? base.queue_admit_per_second;
  }
  return next;
}

export async function createEvent(deps: EventsDeps, host: Caller, input: EventInput): Promise<ApiEvent> {
  if (!host.roles.includes("host")) throw new DomainError("forbidden", "Become a host to create events.");
  const now = deps.now ?? Date.now();
  const startsAt = ms(input.startsAt);
  const endsAt = ms(input.endsAt);
  const blank: EventRow = {
    id: randomId(),
    host_id: host.id,
    title: "",
    description: "",
    starts_at: startsAt,
    ends_at: endsAt,
    timezone: input.timezone,
    venue_name: "",
    venue_address: "",
    lat: 0,
    lng: 0,
    capacity: input.capacity,
    price: input.price,
    currency: input.currency,
    per_user_limit: input.perUserLimit ?? (input.price === 0 ? LIMITS.perUserTicketsFree : LIMITS.perUserTicketsPaid),
    sales_start_at: null,
    sales_end_at: null,
    check_in_opens_at: startsAt - LIMITS.checkInLeadMs,
    check_in_closes_at: endsAt,
    cover_media_id: null,
    status: "draft",
    version: 1,
    created_at: now,
    updated_at: now,
    published_at: null,
    cancelled_at: null,
    queue_mode: "off",
    queue_admit_per_second: LIMITS.queueAdmitPerSecondDefault,
    contacts_purged_at: null,
  };
  const row = merge(blank, input, now);
  if (input.startsAt !== undefined && input.checkInOpensAt === undefined) {
    row.check_in_opens_at = row.starts_at - LIMITS.checkInLeadMs;
  }
  if (input.checkInClosesAt === undefined) row.check_in_closes_at = row.ends_at;
  assertValid(row);
  if (row.starts_at <= now) {
    throw new DomainError("validation-failed", "The event must start in the future.", {
      errors: [{ path: "startsAt", message: "must be in the future" }],
    });
  }
  const columns = Object.keys(row) as (keyof EventRow)[];
  await deps.db
    .prepare(`INSERT INTO events (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
    .bind(...columns.map((column) => row[column]))
    .run();
  await configureInventory(deps, row);
  return toApiEvent(row);
}

/**
 * The owner's event, or 404 for anyone else's draft (no existence oracle) and 403 for a public one;
 * an API key gets 404 for every event not its host's (it acts on its own host's events only).
 */
export async function ownedEvent(deps: EventsDeps, caller: Caller, id: string): Promise<EventRow> {
  const row = await findEvent(deps.db, id);
  if (!row || (row.host_id !== caller.id && (row.status === "draft" || caller.apiKey))) {
    throw new DomainError("not-found", "No such event.");
  }
  if (row.host_id !== caller.id) throw new DomainError("forbidden", "Only the event's host can do this.");
  return row;
}

async function configureInventory(deps: EventsDeps, row: EventRow): Promise<void> {
  unwrap(await inventoryOf(deps.inventory, row.id).configure(toSnapshot(row)));
}

/**
 * The host's webhook for a publish or a cancel (event.published, event.cancelled), batched with the
 * update: written only if, after it, the event is at the new version in the new status (a lost race
 * to an edit writes none; one to the same transition writes the same row, its id being the event's).
 */
function transitionWebhook(db: D1Database, before: EventRow, next: EventRow): D1PreparedStatement[] {
  if (before.status === next.status || (next.status !== "published" && next.status !== "cancelled")) return [];
  const type: WebhookEventType = next.status === "published" ? "event.published" : "event.cancelled";
  const data = {
    eventId: next.id,
    title: next.title,
    status: next.status,
    startsAt: iso(next.starts_at),
    endsAt: iso(next.ends_at),
    timezone: next.timezone,
    capacity: next.capacity,
    price: next.price,
    currency: next.currency,
    at: iso(next.updated_at),
  };
  return [
    webhookEventStatement(
      db,
      { type, hostId: next.host_id, factId: next.id, data, at: next.updated_at },
      {
        onlyIf: {
          sql: "EXISTS (SELECT 1 FROM events WHERE id = ? AND version = ? AND status = ?)",
          bindings: [next.id, next.version, next.status],
        },
      },
    ),
  ];
}

/** Writes the new row if nobody else wrote since `expected`; returns false on a lost race. */
async function writeIfVersion(
  db: D1Database,
  row: EventRow,
  expected: number,
  extra: D1PreparedStatement[] = [],
): Promise<{ written: boolean; results: D1Result[] }> {
  // Every column but the key and the creation facts, named once from the row itself.
  const columns = (Object.keys(row) as (keyof EventRow)[]).filter(
    (column) => column !== "id" && column !== "host_id" && column !== "created_at",
  );
  // The edge-cache versions move in the same batch (nearby.ts, getEvent below); a lost race bumps
  // them for nothing, which costs one cache miss.
  const results = await db.batch([
    db
      .prepare(`UPDATE events SET ${columns.map((column) => `${column} = ?`).join(", ")} WHERE id = ? AND version = ?`)
      .bind(...columns.map((column) => row[column]), row.id, expected),
    bumpVersion(db, scopes.events),
    bumpVersion(db, scopes.event(row.id)),
    ...extra,
  ]);
  return { written: results[0]?.meta.changes === 1, results };
}

/**
 * Commits a change: a capacity decrease is agreed with the inventory first; D1 is written only if
 * the version is still the one read; the inventory then adopts the new snapshot. Losing the D1 race
 * re-syncs the inventory from whatever D1 now holds.
 */
async function commit(deps: EventsDeps, before: EventRow, next: EventRow): Promise<EventRow> {
  if (next.capacity < before.capacity) await configureInventory(deps, next);
  const { written, results } = await writeIfVersion(
    deps.db,
    next,
    before.version,
    transitionWebhook(deps.db, before, next),
  );
  if (!written) {
    const current = await findEvent(deps.db, before.id);
    if (current) await inventoryOf(deps.inventory, current.id).configure(toSnapshot(current));
    throw new DomainError("version-conflict", "The event changed since you read it. Reload and retry.", {
      currentVersion: current?.version,
    });
  }
  await configureInventory(deps, next);
  forgetOrderableEvent(next.id);
  await wakeWebhookEvents(deps.webhooks, insertedWebhookEventIds(results));
  return next;
}

export async function updateEvent(
  deps: EventsDeps,
  caller: Caller,
  id: string,
  input: Partial<EventInput> & { version: number },
): Promise<ApiEvent> {
  const before = await ownedEvent(deps, caller, id);
  if (before.status === "cancelled") throw new DomainError("invalid-transition", "A cancelled event cannot be edited.");
  if (input.version !== before.version) {
    throw new DomainError("version-conflict", "The event changed since you read it. Reload and retry.", {
      currentVersion: before.version,
    });
  }
  const now = deps.now ?? Date.now();
  const next = merge(before, input, now);
  next.version = before.version + 1;
  assertValid(next);
  if (next.starts_at !== before.starts_at || next.check_in_opens_at !== before.check_in_opens_at) {
    await assertRefundWindow(deps.db, next, input.checkInOpensAt !== undefined ? "checkInOpensAt" : "startsAt");
  }
  // A published event turning paid needs the same payout account as publishing a paid one.
  if (before.status === "published" && before.price === 0 && next.price > 0) await assertPayoutsReady(deps.db, next);
  return toApiEvent(await commit(deps, before, next));
}

/**
 * Paid tickets are sold only for a host Stripe lets take charges (their payout account, money's
 * payout_accounts table, read here directly: money depends on events, never the other way). Checked
 * before anything is written, so a refusal changes nothing.
 */
async function assertPayoutsReady(db: D1Database, row: EventRow): Promise<void> {
  if (row.price === 0) return;
  const ready = await db
    .prepare(
      "SELECT 1 AS ok FROM payout_accounts WHERE user_id = ? AND charges_enabled = 1 AND stripe_account_id IS NOT NULL",
    )
    .bind(row.host_id)
    .first<{ ok: number }>();
  if (!ready) {
    throw new DomainError(
      "payouts-not-ready",
      "Paid tickets need a payout account that can take payments: set up payouts on /host (POST /api/v1/me/payouts/account) and finish Stripe's onboarding, or make the tickets free.",
    );
  }
}

/** A published event whose end has come: it took place, and cancelling it is no longer offered. */
export function hasEnded(row: Pick<EventRow, "status" | "ends_at">, now: number): boolean {
  return row.status === "published" && row.ends_at <= now;
}

export async function publishEvent(deps: EventsDeps, caller: Caller, id: string): Promise<ApiEvent> {
  const before = await ownedEvent(deps, caller, id);
  if (before.status !== "draft")
    throw new DomainError("invalid-transition", `A ${before.status} event cannot be published.`);
  const now = deps.now ?? Date.now();
  if (before.starts_at <= now) throw new DomainError("invalid-transition", "The event has already started.");
  await assertPayoutsReady(deps.db, before);
  const next: EventRow = {
    ...before,
    status: "published",
    published_at: now,
    updated_at: now,
    version: before.version + 1,
  };
  return toApiEvent(await commit(deps, before, next));
}

/**
 * Cancelling is terminal: the inventory voids every ticket and emails the attendees. The money is
 * payments' part: callers cancel through src/features/event-cancellation, which queues the refunds.
 * An event that took place cannot be cancelled after the fact: once a published event has ended, its
 * tickets were used or not, and voiding them would refund the whole house and rewrite its check-ins.
 * During the event it still can (an evacuation, a storm). A draft has nothing sold and may go any time.
 */
export async function cancelEvent(deps: EventsDeps, caller: Caller, id: string): Promise<ApiEvent> {
  const before = await ownedEvent(deps, caller, id);
  if (before.status === "cancelled") throw new DomainError("invalid-transition", "The event is already cancelled.");
  const now = deps.now ?? Date.now();
  if (hasEnded(before, now)) {
    throw new DomainError("invalid-transition", "The event has ended: it can no longer be cancelled.");
  }
  const next: EventRow = {
    ...before,
    status: "cancelled",
    cancelled_at: now,
    updated_at: now,
    version: before.version + 1,
  };
  return toApiEvent(await commit(deps, before, next));
}

/**
 * A public event (drafts only for their host) with live availability from its inventory. The row is
 * edge-cached for 30 minutes under the event's version (`event:<id>` in cache_versions, bumped with
 * every edit, publish and cancel): a hit costs one small D1 read instead of the row, and an edit is
 * seen at once in every data centre. Availability is never cached: it is read from the event's
 * inventory object on every request. `onCache` learns whether the row came from the cache.
 */
export async function getEvent(deps: EventsDeps, caller: Caller | null, id: string, onCache?: (hit: boolean) => void) {
  const versions = await readVersions(deps.db, [scopes.event(id)]);
  const defer = deps.defer ?? ((task) => void task());
  // A missing event throws inside the producer, so nothing is stored for ids that do not exist.
  const { value: row, hit } = await getOrProduce(
    cacheKey("event", { id, v: versions[scopes.event(id)] }),
    EDGE_TTL.event,
    defer,
    async () => {
      const found = await findEvent(deps.db, id);
      if (!found) throw new DomainError("not-found", "No such event.");
      return found;
    },
  );
  onCache?.(hit);
  if ((row.status === "draft" || caller?.apiKey) && row.host_id !== caller?.id) {
    throw new DomainError("not-found", "No such event.");
  }
  const stats = await inventoryOf(deps.inventory, id).stats();
  return {
    ...toApiEvent(row),
    availability: { capacity: stats.capacity, sold: stats.sold, held: stats.held, remaining: stats.remaining },
  };
}
