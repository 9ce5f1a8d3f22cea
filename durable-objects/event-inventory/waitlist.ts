/**
 * The event's waitlist (issue 21, API "Integrations"): a line of people who asked for a ticket once
 * the event was sold out, and the offers made to them as capacity frees. Every decision runs inside
 * the object's `transactionSync`, like ./sales.ts, so a seat is offered once and only once.
 *
 * An offer is a hold: an order row (`held`, one ticket, the offer's id as its id) that counts in
 * `held` like any other, for the event's offer window. Nobody else can buy the seat meanwhile, and
 * the object's alarm (which already expires holds) ends the offer when the window passes. Accepting
 * confirms the hold (free) or turns it into a checkout hold (paid); declining releases it.
 *
 * `serveWaitlist` is the one place offers are made. It runs in the same transaction as whatever may
 * free capacity (a release, a void, a refund, an expired hold, a new capacity, a decline or expiry,
 * unpausing): it first settles offers whose hold ended (expired, or released by a cancel), then
 * offers each free seat to the first in line. A sale (./sales.ts placeHold) calls it too before it
 * takes seats, so a seat that freed with nobody's call (a hold lapsing before the alarm ran) goes to
 * the line first. While nobody is in line it costs a map lookup.
 *
 * Decisions (README, "The waitlist"): one ticket per entry; joining needs remaining 0, counting
 * unpaid holds (they may lapse, and then the line gets them first); a user is in line once at a time
 * and within the per-user limit; while paused no offers are made (joining goes on), and seats that
 * free meanwhile are on sale as usual.
 */
import { LIMITS } from "../../src/config/limits";
import { randomId } from "../../src/lib/crypto";
import type {
  AcceptOfferRequest,
  Contact,
  EventSnapshot,
  InventoryResult,
  OrderWithTickets,
  WaitlistEntry,
  WaitlistJoinRequest,
  WaitlistSettingsRequest,
  WaitlistStatus,
  WaitlistSummary,
} from "./contract";
import { adopt } from "./event";
import { emitAll, type OutboxRecord } from "./outbox";
import { availability, fail, type OrderRow, ok, orderRow, type SalesContext, toOrder, withTickets } from "./rows";
import { confirm, insertOrder, ownedBy, salesGate } from "./sales";

const HOUR_MS = 60 * 60 * 1000;

type EntryRow = {
  user_id: string;
  number: number;
  status: WaitlistStatus;
  /** JSON Contact. */
  contact: string;
  offer_id: string | null;
  offer_expires_at: number | null;
  order_id: string | null;
  created_at: number;
  updated_at: number;
};

type SettingsRow = { paused: number; offer_window_ms: number; next_number: number };

/**
 * Whether the line may have someone in it (waiting or offered), per object: unknown (absent) after a
 * start, true from the first join, false once a look found nobody. A false positive costs a query;
 * a join sets it before it writes, so it is never false while someone is in line.
 */
const lineMayBeActive = new WeakMap<SqlStorage, boolean>();

/**
 * After a transaction rolled back: what it cached of the line may describe rows that are gone (an offer
 * it settled, then undone). The next look reads the line again.
 */
export function forgetLineState(sql: SqlStorage): void {
  lineMayBeActive.delete(sql);
}

function lineActive(sql: SqlStorage): boolean {
  const known = lineMayBeActive.get(sql);
  if (known !== undefined) return known;
  const active = sql
    .exec<{ n: number }>("SELECT EXISTS (SELECT 1 FROM waitlist WHERE status IN ('waiting', 'offered')) AS n")
    .one().n;
  lineMayBeActive.set(sql, active === 1);
  return active === 1;
}

function settings(tx: SalesContext): SettingsRow {
  return (
    tx.sql
      .exec<SettingsRow>("SELECT paused, offer_window_ms, next_number FROM waitlist_settings WHERE id = 1")
      .toArray()[0] ?? {
      paused: 0,
      offer_window_ms: LIMITS.waitlistOfferWindowHoursDefault * HOUR_MS,
      next_number: 1,
    }
  );
}

function storeSettings(tx: SalesContext, row: SettingsRow): void {
  tx.sql.exec(
    `INSERT INTO waitlist_settings (id, paused, offer_window_ms, next_number) VALUES (1, ?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET paused = excluded.paused, offer_window_ms = excluded.offer_window_ms,
       next_number = excluded.next_number`,
    row.paused,
    row.offer_window_ms,
    row.next_number,
  );
}

function entryOf(tx: SalesContext, userId: string): EntryRow | null {
  return tx.sql.exec<EntryRow>("SELECT * FROM waitlist WHERE user_id = ?", userId).toArray()[0] ?? null;
}

function entryByOffer(tx: SalesContext, offerId: string, userId: string): EntryRow | null {
  const row = tx.sql.exec<EntryRow>("SELECT * FROM waitlist WHERE offer_id = ?", offerId).toArray()[0];
  // Another user's offer answers exactly like a missing one.
  return row && row.user_id === userId ? row : null;
}

function toEntry(tx: SalesContext, row: EntryRow): WaitlistEntry {
  return {
    eventId: tx.event.current?.eventId ?? "",
    userId: row.user_id,
    number: row.number,
    status: row.status,
    offerId: row.offer_id,
    offerExpiresAt: row.offer_expires_at,
    orderId: row.order_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Writes the entry's new state and its outbox record (with any others of the same change, in order). */
function update(tx: SalesContext, row: EntryRow, change: Partial<EntryRow>, also: OutboxRecord[] = []): EntryRow {
  const next: EntryRow = { ...row, ...change, updated_at: tx.now };
  tx.sql.exec(
    `UPDATE waitlist SET status = ?, offer_id = ?, offer_expires_at = ?, order_id = ?, updated_at = ? WHERE user_id = ?`,
    next.status,
    next.offer_id,
    next.offer_expires_at,
    next.order_id,
    next.updated_at,
    next.user_id,
  );
  emitAll(tx.sql, [...also, { kind: "waitlist", payload: toEntry(tx, next) }]);
  return next;
}

/** 1 + the entries still waiting ahead of `number`. */
function positionOf(tx: SalesContext, number: number): number {
  return (
    tx.sql
      .exec<{ n: number }>("SELECT COUNT(*) AS n FROM waitlist WHERE status = 'waiting' AND number < ?", number)
      .one().n + 1
  );
}

/** Adopts the caller's copy of the event when it is newer (as a hold does). */
function adoptNewer(tx: SalesContext, snapshot: EventSnapshot): InventoryResult<never> | null {
  const current = tx.event.current;
  if (current && snapshot.version <= current.version) return null;
  const adopted = adopt(tx, snapshot);
  if (!adopted.ok && adopted.code !== "capacity-below-sold") return adopted as InventoryResult<never>;
  return null;
}

/** The per-user limit, for one more ticket (joining, and again when an offer is made). */
function withinLimit(tx: SalesContext, event: EventSnapshot, userId: string): InventoryResult<never> | null {
  const owned = ownedBy(tx, userId);
  if (event.perUserLimit === 1 && owned > 0)
    return fail("already-registered", "You already have a ticket for this event.");
  if (owned + 1 > event.perUserLimit) {
    return fail("limit-exceeded", `At most ${event.perUserLimit} ticket(s) per person; you have ${owned}.`);
  }
  return null;
}

/**
 * Joins the line (one ticket): only while the event is on sale and sold out, once at a time, within
 * the per-user limit. Answers the place in line among those still waiting.
 */
export function joinWaitlist(tx: SalesContext, request: WaitlistJoinRequest): InventoryResult<{ position: number }> {
  const refused = adoptNewer(tx, request.snapshot);
  if (refused) return refused;
  const event = tx.event.current;
  if (!event) return fail("not-configured", "The event is not set up for sales.");
  const gate = salesGate(event, tx.now);
  if (gate) return gate;
  const existing = entryOf(tx, request.userId);
  if (existing && (existing.status === "waiting" || existing.status === "offered")) {
    return fail("already-waiting", "You are already on this event's waitlist.");
  }
  const limit = withinLimit(tx, event, request.userId);
  if (limit) return limit;
  // A seat that freed with nobody's call (a hold that lapsed) goes to those already in line first.
  serveWaitlist(tx);
  if (availability(tx).remaining > 0) {
    return fail("not-sold-out", "Tickets are still available: order one instead.");
  }

  lineMayBeActive.set(tx.sql, true);
  const current = settings(tx);
  const number = current.next_number;
  storeSettings(tx, { ...current, next_number: number + 1 });
  const row: EntryRow = {
    user_id: request.userId,
    number,
    status: "waiting",
    contact: JSON.stringify(request.contact),
    offer_id: null,
    offer_expires_at: null,
    order_id: null,
    created_at: tx.now,
    updated_at: tx.now,
  };
  tx.sql.exec(
    `INSERT INTO waitlist (user_id, number, status, contact, offer_id, offer_expires_at, order_id, created_at, updated_at)
     VALUES (?, ?, 'waiting', ?, NULL, NULL, NULL, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET number = excluded.number, status = 'waiting', contact = excluded.contact,
       offer_id = NULL, offer_expires_at = NULL, order_id = NULL, created_at = excluded.created_at,
       updated_at = excluded.updated_at`,
    row.user_id,
    row.number,
    row.contact,
    row.created_at,
    row.updated_at,
  );
  emitAll(tx.sql, [{ kind: "waitlist", payload: toEntry(tx, row) }]);
  return ok({ position: positionOf(tx, number) });
}

/** Releases an open offer's hold (declined or left), the seat going to the next in line. */
function releaseOffer(tx: SalesContext, entry: EntryRow): OutboxRecord[] {
  const order = entry.offer_id ? orderRow(tx, entry.offer_id) : null;
  if (order?.status !== "held") return [];
  tx.sql.exec("UPDATE orders SET status = 'released', updated_at = ? WHERE id = ?", tx.now, order.id);
  return [{ kind: "order", payload: toOrder(tx, orderRow(tx, order.id) as OrderRow) }];
}

/** Leaves the line; an open offer is declined (its seat goes to the next). Ended entries stay as they are. */
export function leaveWaitlist(
  tx: SalesContext,
  request: { userId: string },
): InventoryResult<{ status: WaitlistStatus }> {
  const entry = entryOf(tx, request.userId);
  if (!entry) return fail("offer-not-found", "You are not on this event's waitlist.");
  if (entry.status === "waiting") return ok({ status: update(tx, entry, { status: "left" }).status });
  if (entry.status === "offered") {
    const declined = update(tx, entry, { status: "declined" }, releaseOffer(tx, entry));
    serveWaitlist(tx);
    return ok({ status: declined.status });
  }
  return ok({ status: entry.status });
}

/** Declines an open offer: its hold is released and the seat offered to the next in line. */
export function declineOffer(
  tx: SalesContext,
  request: { offerId: string; userId: string },
): InventoryResult<{ status: WaitlistStatus }> {
  serveWaitlist(tx);
  const entry = entryByOffer(tx, request.offerId, request.userId);
  if (!entry) return fail("offer-not-found", "No such offer.");
  if (entry.status === "accepted") return fail("invalid-transition", "The offer was already accepted.");
  if (entry.status !== "offered") return ok({ status: entry.status });
  const declined = update(tx, entry, { status: "declined" }, releaseOffer(tx, entry));
  serveWaitlist(tx);
  return ok({ status: declined.status });
}

/**
 * Accepts an open offer: free, its hold is confirmed (tickets minted, the confirmation emailed, as a
 * claim); paid, the hold becomes a checkout hold ending at `checkoutExpiresAt` (the caller opens the
 * Checkout Session for it, as for any paid order). No queue pass is asked: the offer is the admission.
 * Repeating it answers the order as it is now; after the window it is offer-expired and nothing changes.
 */
export function acceptOffer(tx: SalesContext, request: AcceptOfferRequest): InventoryResult<OrderWithTickets> {
  // An offer whose window passed before the alarm ran ends here, as the alarm would end it (and its
  // ticket goes to the next in line).
  serveWaitlist(tx);
  const entry = entryByOffer(tx, request.offerId, request.userId);
  if (!entry) return fail("offer-not-found", "No such offer.");
  const order = orderRow(tx, request.offerId);
  if (entry.status === "accepted" && order) {
    if (order.status === "held" && (order.hold_expires_at ?? 0) <= tx.now) {
      return fail("offer-expired", "The checkout for this offer expired.");
    }
    if (order.status === "held" || order.status === "confirmed") return ok(withTickets(tx, order));
    return fail("offer-expired", "This offer's order is no longer open.");
  }
  if (entry.status === "expired") return fail("offer-expired", "The offer expired and went to the next in line.");
  if (entry.status !== "offered" || !order) return fail("invalid-transition", "This offer is no longer open.");
  const event = tx.event.current;
  if (!event) return fail("not-configured", "The event is not set up for sales.");
  const gate = salesGate(event, tx.now);
  if (gate) return gate;

  if (order.amount === 0) {
    const confirmed = confirm(tx, { orderId: order.id });
    if (!confirmed.ok) return confirmed;
    update(tx, entry, { status: "accepted", order_id: order.id });
    return confirmed;
  }
  if (request.checkoutExpiresAt === undefined)
    return fail("not-free", "The event has a price: accept through checkout.");
  tx.sql.exec(
    "UPDATE orders SET hold_expires_at = ?, updated_at = ? WHERE id = ?",
    request.checkoutExpiresAt,
    tx.now,
    order.id,
  );
  const held = orderRow(tx, order.id) as OrderRow;
  update(tx, entry, { status: "accepted", order_id: order.id }, [{ kind: "order", payload: toOrder(tx, held) }]);
  return ok(withTickets(tx, held));
}

/** The host's settings: pausing stops new offers (unpausing offers what is free); the window applies to new offers. */
export function configureWaitlist(
  tx: SalesContext,
  request: WaitlistSettingsRequest,
): InventoryResult<WaitlistSummary> {
  const refused = adoptNewer(tx, request.snapshot);
  if (refused) return refused;
  const current = settings(tx);
  storeSettings(tx, {
    ...current,
    paused: request.paused === undefined ? current.paused : request.paused ? 1 : 0,
    offer_window_ms:
      request.offerWindowHours === undefined ? current.offer_window_ms : request.offerWindowHours * HOUR_MS,
  });
  serveWaitlist(tx);
  return ok(waitlistSummary(tx));
}

export function waitlistSummary(tx: SalesContext): WaitlistSummary {
  const counts = tx.sql
    .exec<{ waiting: number; offered: number }>(
      `SELECT COALESCE(SUM(status = 'waiting'), 0) AS waiting, COALESCE(SUM(status = 'offered'), 0) AS offered
       FROM waitlist WHERE status IN ('waiting', 'offered')`,
    )
    .one();
  const current = settings(tx);
  return {
    waiting: counts.waiting,
    offered: counts.offered,
    paused: current.paused === 1,
    offerWindowHours: current.offer_window_ms / HOUR_MS,
  };
}

/**
 * Ends offers whose hold ended without the waitlist's doing: lapsed (marked expired here if the alarm
 * has not yet), released (the user cancelled the order: declined; the event was cancelled: expired),
 * or confirmed (accepted).
 */
function settleOffers(tx: SalesContext): void {
  if (!lineActive(tx.sql)) return;
  const open = tx.sql
    .exec<EntryRow & { order_status: string | null; hold_expires_at: number | null }>(
      `SELECT w.*, o.status AS order_status, o.hold_expires_at FROM waitlist w LEFT JOIN orders o ON o.id = w.offer_id
       WHERE w.status = 'offered'`,
    )
    .toArray();
  for (const entry of open) {
    const live = entry.order_status === "held" && (entry.hold_expires_at ?? 0) > tx.now;
    if (live) continue;
    const also: OutboxRecord[] = [];
    let status: WaitlistStatus;
    if (entry.order_status === "held" || entry.order_status === "expired" || entry.order_status === null) {
      if (entry.order_status === "held") {
        tx.sql.exec("UPDATE orders SET status = 'expired', updated_at = ? WHERE id = ?", tx.now, entry.offer_id);
        also.push({ kind: "order", payload: toOrder(tx, orderRow(tx, entry.offer_id as string) as OrderRow) });
      }
      status = "expired";
    } else if (entry.order_status === "confirmed") {
      status = "accepted";
    } else {
      status = tx.event.current?.status === "cancelled" ? "expired" : "declined";
    }
    update(tx, entry, { status, order_id: status === "accepted" ? entry.offer_id : entry.order_id }, also);
  }
}

/**
 * Offers every free seat to the first in line, one ticket each, in this transaction (see the file's
 * header). Nobody is offered while the line is paused or the event is not on sale; a cancelled
 * event's line ends (expired).
 */
export function serveWaitlist(tx: SalesContext): void {
  if (!lineActive(tx.sql)) return;
  settleOffers(tx);
  const event = tx.event.current;
  if (!event) return;
  if (event.status === "cancelled") {
    for (const entry of waiting(tx, -1)) update(tx, entry, { status: "expired" });
    lineMayBeActive.set(tx.sql, false);
    return;
  }
  const current = settings(tx);
  if (current.paused === 1 || salesGate(event, tx.now)) return;
  let { remaining } = availability(tx);
  while (remaining > 0) {
    const [next] = waiting(tx, 1);
    if (!next) break;
    // Bought their tickets meanwhile (the line was paused, or through another order): they have what
    // they may have, so their place is given up.
    if (withinLimit(tx, event, next.user_id)) {
      update(tx, next, { status: "left" });
      continue;
    }
    offer(tx, next, event, current);
    remaining -= 1;
  }
  if (remaining > 0) {
    // Nobody waits: the flag may go down once no offer is open either.
    const open = tx.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM waitlist WHERE status = 'offered'").one().n;
    if (open === 0) lineMayBeActive.set(tx.sql, false);
  }
}

function waiting(tx: SalesContext, limit: number): EntryRow[] {
  return tx.sql
    .exec<EntryRow>("SELECT * FROM waitlist WHERE status = 'waiting' ORDER BY number LIMIT ?", limit)
    .toArray();
}

/** The hold, the entry's new state, and the email with the link to accept, in one outbox insert. */
function offer(tx: SalesContext, entry: EntryRow, event: EventSnapshot, current: SettingsRow): void {
  const offerId = randomId();
  // Never past the end of sales (its close, else the start): an offer that outlived them could not be
  // accepted, and the seat would wait for nobody. salesGate let this offer be made, so the end is ahead.
  const salesEnd = Math.min(event.startsAt, event.salesEndAt ?? Number.POSITIVE_INFINITY);
  const expiresAt = Math.min(tx.now + current.offer_window_ms, salesEnd);
  const hold: OrderRow = {
    id: offerId,
    user_id: entry.user_id,
    status: "held",
    quantity: 1,
    amount: event.price,
    currency: event.currency,
    hold_expires_at: expiresAt,
    payment_ref: null,
    contact: entry.contact,
    created_at: tx.now,
    updated_at: tx.now,
  };
  insertOrder(tx, hold);
  // null once the person was erased (./contacts.ts), who has left the line by then: no email to send.
  const contact = JSON.parse(entry.contact) as Contact | null;
  const records: OutboxRecord[] = [{ kind: "order", payload: toOrder(tx, hold) }];
  if (contact) {
    records.push({
      kind: "email",
      payload: {
        id: `waitlist-offer:${offerId}`,
        to: contact.email,
        template: "waitlist-offer",
        data: { name: contact.name, eventId: event.eventId, eventTitle: event.title, offerId, expiresAt },
      },
    });
  }
  update(tx, entry, { status: "offered", offer_id: offerId, offer_expires_at: expiresAt, order_id: null }, records);
}
