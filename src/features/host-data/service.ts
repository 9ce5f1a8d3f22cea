/**
 * A host's own data, as lists their systems can page through (a CRM, accounting, a door list): their
 * events, and an event's orders, attendees and check-ins. The same for a signed-in host and for their
 * API keys (routes.ts names each list's scope); ownership is events' own check (ownedEvent: an API
 * key gets 404 for any other host's event). Keyset cursors, so a page never skips or repeats a row
 * while new orders arrive: events and orders newest first on (created_at, id), attendees and
 * check-ins in ticket serial order.
 */
import type { RowOf } from "../../db/rows";
import type { orders } from "../../db/schema";
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { invalidCursorError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import { iso } from "../../lib/time";
import { openName } from "../auth";
import { type Caller, type EventRow, type EventsDeps, inventoryOf, ownedEvent, toApiEvent } from "../events";

export interface PageQuery {
  limit: number;
  cursor?: string;
}

/** (created_at, id) of the last row of a newest-first page, or null when the query starts at the top. */
function timeCursor(raw: string | undefined): { at: number; id: string } | null {
  if (!raw) return null;
  const [at, id] = decodeCursor(raw)?.split("|") ?? [];
  if (!at || !id || !/^\d+$/.test(at)) throw invalidCursorError();
  return { at: Number(at), id };
}

/** The serial after which a serial-ordered page starts (0 at the top). */
function serialCursor(raw: string | undefined): number {
  if (!raw) return 0;
  const text = decodeCursor(raw);
  if (!text || !/^\d{1,15}$/.test(text)) throw invalidCursorError();
  return Number(text);
}

function nextPage<T>(
  rows: T[],
  limit: number,
  cursorOf: (last: T) => string,
): { page: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}

/** The host's events, every status (drafts too), newest first. */
export async function listHostEvents(db: D1Database, hostId: string, query: PageQuery) {
  const after = timeCursor(query.cursor);
  const { results } = await db
    .prepare(
      `SELECT * FROM events
       WHERE host_id = ?1 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(hostId, after?.at ?? null, after?.id ?? "", query.limit + 1)
    .all<EventRow>();
  const { page, nextCursor } = nextPage(results, query.limit, (last) => `${last.created_at}|${last.id}`);
  return { items: page.map(toApiEvent), nextCursor };
}

type OrderRow = RowOf<typeof orders>;

/** The event's orders, every status, newest first. */
export async function listEventOrders(deps: EventsDeps, host: Caller, eventId: string, query: PageQuery) {
  const event = await ownedEvent(deps, host, eventId);
  const after = timeCursor(query.cursor);
  const { results } = await deps.db
    .prepare(
      `SELECT id, event_id, user_id, status, quantity, amount, currency, created_at FROM orders
       WHERE event_id = ?1 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(event.id, after?.at ?? null, after?.id ?? "", query.limit + 1)
    .all<
      Pick<OrderRow, "id" | "event_id" | "user_id" | "status" | "quantity" | "amount" | "currency" | "created_at">
    >();
  const { page, nextCursor } = nextPage(results, query.limit, (last) => `${last.created_at}|${last.id}`);
  return {
    items: page.map((o) => ({
      id: o.id,
      eventId: o.event_id,
      status: o.status,
      quantity: o.quantity,
      amount: o.amount,
      currency: o.currency,
      createdAt: iso(o.created_at),
      buyerId: o.user_id,
    })),
    nextCursor,
  };
}

/**
 * Where users' emails are sealed (src/lib/pii.ts; accounts name it USER_EMAIL_CONTEXT): a stored email
 * is opened for the list, a row not yet sealed passes as it is.
 */
const USER_EMAIL = "users.email";

/** The event's tickets with their holders' names and emails, in serial order (a door list). */
export async function listAttendees(
  deps: EventsDeps & { pii: PiiCipher },
  host: Caller,
  eventId: string,
  query: PageQuery,
) {
  const event = await ownedEvent(deps, host, eventId);
  const afterSerial = serialCursor(query.cursor);
  const { results } = await deps.db
    .prepare(
      `SELECT t.id, t.serial, t.status, t.order_id, t.redeemed_at, u.id AS holder_id, u.name, u.email
       FROM tickets t JOIN users u ON u.id = t.user_id
       WHERE t.event_id = ? AND t.serial > ? ORDER BY t.serial LIMIT ?`,
    )
    .bind(event.id, afterSerial, query.limit + 1)
    .all<{
      id: string;
      serial: number;
      status: string;
      order_id: string;
      redeemed_at: number | null;
      holder_id: string;
      name: string;
      email: string;
    }>();
  const { page, nextCursor } = nextPage(results, query.limit, (last) => String(last.serial));
  return {
    items: page.map((t) => ({
      ticketId: t.id,
      serial: t.serial,
      status: t.status,
      orderId: t.order_id,
      redeemedAt: iso(t.redeemed_at),
      holder: { id: t.holder_id, name: openName(deps.pii, t.name), email: deps.pii.open(t.email, USER_EMAIL) },
    })),
    nextCursor,
  };
}

/**
 * The event's admissions in serial order, from its inventory object: the one place that knows which
 * device admitted each ticket (the D1 read model keeps only the time).
 */
export async function listCheckIns(deps: EventsDeps, host: Caller, eventId: string, query: PageQuery) {
  const event = await ownedEvent(deps, host, eventId);
  const afterSerial = serialCursor(query.cursor);
  const { items, nextSerial } = await inventoryOf(deps.inventory, event.id).checkIns({
    afterSerial,
    limit: query.limit,
  });
  return {
    items: items.map((i) => ({ ...i, redeemedAt: iso(i.redeemedAt) })),
    nextCursor: nextSerial === null ? null : encodeCursor(String(nextSerial)),
  };
}
