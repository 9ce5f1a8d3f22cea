/**
 * Holds and sales of one event: hold, claim, confirm, release, void and extend, each a decision made
 * and written inside one `transactionSync` of the object (the caller, ./index.ts), over a
 * SalesContext as the gate's functions run over a GateContext. Every state change writes its outbox
 * records in the same transaction. Refunds are in ./refunds.ts, the event's own changes in ./event.ts.
 */
import type {
  ConfirmRequest,
  Contact,
  EventSnapshot,
  HoldRequest,
  InventoryOrder,
  InventoryResult,
  OrderWithTickets,
} from "./contract";
import { adopt } from "./event";
import { emitAll, type OutboxRecord } from "./outbox";
import {
  availability,
  emitOrder,
  emitTicket,
  fail,
  type OrderRow,
  ok,
  orderRow,
  type SalesContext,
  type TicketRow,
  ticketsOf,
  toOrder,
  toTicket,
  withTickets,
} from "./rows";
import { serveWaitlist } from "./waitlist";

/** Thrown inside `claim`'s transaction to roll a paid hold back. */
export class NotFree extends Error {}

export function randomTicketId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function salesGate(event: EventSnapshot, now: number): InventoryResult<never> | null {
  if (event.status !== "published") return fail("not-on-sale", "The event is not on sale.");
  if (now >= event.startsAt) return fail("event-started", "The event has already started.");
  if (event.salesStartAt !== null && now < event.salesStartAt) return fail("not-on-sale", "Sales have not opened yet.");
  if (event.salesEndAt !== null && now >= event.salesEndAt) return fail("not-on-sale", "Sales have closed.");
  return null;
}

/**
 * The serial the next ticket gets: the highest minted plus one (an index read: serial is unique), so
 * a sale writes no counter. Never below the counter that numbered tickets before schema v12 (it stays
 * as that left it, equal to the highest plus one; this only guards an object where it was ahead).
 */
export function nextSerial(tx: SalesContext): number {
  return tx.sql
    .exec<{ next: number }>(
      `SELECT MAX(COALESCE((SELECT MAX(serial) FROM tickets), 0) + 1,
         COALESCE((SELECT next_serial FROM counters WHERE id = 1), 1)) AS next`,
    )
    .one().next;
}

/**
 * Tickets the user holds or has bought (active, used or being refunded) plus their unexpired holds, in
 * one statement (this runs for every hold and claim). Their tickets are reached through their orders
 * (the CROSS JOIN keeps that order: orders by user, then tickets by order), so tickets need no index
 * by user.
 */
export function ownedBy(tx: SalesContext, userId: string): number {
  return tx.sql
    .exec<{ n: number }>(
      `SELECT (SELECT COUNT(*) FROM orders o CROSS JOIN tickets t ON t.order_id = o.id
          WHERE o.user_id = ? AND t.status IN ('active', 'redeemed', 'refunding'))
        + (SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE user_id = ? AND status = 'held' AND hold_expires_at > ?) AS n`,
      userId,
      userId,
      tx.now,
    )
    .one().n;
}

/**
 * Holds seats for an order (idempotent by order id): capacity, the per-user limit and the sales
 * window are checked against the event as the caller read it when that is newer than ours.
 */
export function hold(tx: SalesContext, request: HoldRequest): InventoryResult<OrderWithTickets> {
  const held = placeHold(tx, request);
  if (!("row" in held)) return held;
  if (!held.placed) return ok(withTickets(tx, held.row));
  emitOrder(tx, held.row);
  return ok({ order: toOrder(tx, held.row), tickets: [] });
}

/**
 * hold's decision, for hold and claim: the order already there (`placed` false), the new hold's row
 * (`placed` true; stored unless `write` is false, and never read back), or the refusal. Writes no
 * outbox record.
 */
function placeHold(
  tx: SalesContext,
  request: HoldRequest,
  write = true,
): { row: OrderRow; placed: boolean } | InventoryResult<OrderWithTickets> {
  const existing = orderRow(tx, request.orderId);
  if (existing) return { row: existing, placed: false };

  // adopt ignores a copy no newer than ours; checking here first spares its availability read.
  const current = tx.event.current;
  if (!current || request.snapshot.version > current.version) {
    const adopted = adopt(tx, request.snapshot);
    if (!adopted.ok && adopted.code !== "capacity-below-sold") return adopted as InventoryResult<OrderWithTickets>;
  }
  const event = tx.event.current;
  if (!event) return fail("not-configured", "The event is not set up for sales.");
  const gate = salesGate(event, tx.now);
  if (gate) return gate;
  if (!Number.isInteger(request.quantity) || request.quantity < 1) {
    return fail("limit-exceeded", "Quantity must be at least 1.");
  }

  const owned = ownedBy(tx, request.userId);
  if (event.perUserLimit === 1 && owned > 0) {
    return fail("already-registered", "You already have a ticket for this event.");
  }
  if (owned + request.quantity > event.perUserLimit) {
    return fail("limit-exceeded", `At most ${event.perUserLimit} ticket(s) per person; you have ${owned}.`);
  }
  // Seats that freed for the waitlist's line are offered to it before anyone else takes them.
  serveWaitlist(tx);
  const { remaining } = availability(tx);
  if (request.quantity > remaining) {
    return fail("sold-out", remaining === 0 ? "Sold out." : `Only ${remaining} ticket(s) left.`);
  }

  const row: OrderRow = {
    id: request.orderId,
    user_id: request.userId,
    status: "held",
    quantity: request.quantity,
    amount: event.price * request.quantity,
    currency: event.currency,
    hold_expires_at: tx.now + request.ttlMs,
    payment_ref: null,
    contact: JSON.stringify(request.contact),
    created_at: tx.now,
    updated_at: tx.now,
  };
  if (write) insertOrder(tx, row);
  return { row, placed: true };
}

/** Stores a new order row as it is. */
export function insertOrder(tx: SalesContext, row: OrderRow): void {
  tx.sql.exec(
    `INSERT INTO orders (id, user_id, status, quantity, amount, currency, hold_expires_at, payment_ref, contact, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    row.id,
    row.user_id,
    row.status,
    row.quantity,
    row.amount,
    row.currency,
    row.hold_expires_at,
    row.payment_ref,
    row.contact,
    row.created_at,
    row.updated_at,
  );
}

/** Stores a newly minted ticket, `active` (the seat counts need no write for it: see ./schema.ts, v12). */
export function insertTicket(tx: SalesContext, ticket: TicketRow): void {
  tx.sql.exec(
    "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
    ticket.id,
    ticket.order_id,
    ticket.user_id,
    ticket.serial,
    ticket.created_at,
    ticket.created_at,
  );
}

/**
 * Free events: the hold and the sale in one transaction. Same rules and the same idempotency by order
 * id as `hold` followed by `confirm`, with no window in between. Throws NotFree (rolling the whole
 * transaction back) when the event has a price.
 */
export function claim(tx: SalesContext, request: HoldRequest): InventoryResult<OrderWithTickets> {
  const held = placeHold(tx, request, false);
  if (!("row" in held)) return held;
  if (held.row.status !== "held") return ok(withTickets(tx, held.row));
  // The caller's copy of the event may be older than ours: a price set since means checkout.
  if (held.row.amount > 0) throw new NotFree();
  // A new hold that has not lapsed is sold at once: its row is stored once, already confirmed (the
  // held state would be overwritten within this transaction, and is not projected).
  if (held.placed && (held.row.hold_expires_at ?? 0) > tx.now) {
    return confirmOrder(tx, held.row, { orderId: request.orderId }, false);
  }
  if (held.placed) insertOrder(tx, held.row);
  const confirmed = confirmOrder(tx, held.row, { orderId: request.orderId });
  if (!confirmed.ok) emitOrder(tx, orderRow(tx, request.orderId) as OrderRow);
  return confirmed;
}

/**
 * Turns a hold into a sale and mints its tickets in the same transaction. A hold that already expired
 * is honoured only if the capacity is still there (a late payment); otherwise the caller must refund —
 * never an oversell.
 */
export function confirm(tx: SalesContext, request: ConfirmRequest): InventoryResult<OrderWithTickets> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  return confirmOrder(tx, order, request);
}

/**
 * confirm, given the order's row: as stored, or (`stored` false) a new, unlapsed hold not yet written,
 * which is then inserted confirmed instead of updated.
 */
function confirmOrder(
  tx: SalesContext,
  order: OrderRow,
  request: ConfirmRequest,
  stored = true,
): InventoryResult<OrderWithTickets> {
  const { sql, now } = tx;
  if (order.status === "confirmed") return ok(withTickets(tx, order));
  if (order.status === "cancelled") return fail("invalid-transition", "The order was cancelled.");
  // Its money went back: a late or repeated payment event must never mint tickets for it.
  if (order.status === "refunded" || order.status === "refunded_sold_out") {
    return fail("invalid-transition", "The order was refunded.");
  }
  const event = tx.event.current;
  if (!event || event.status === "cancelled") return fail("not-on-sale", "The event was cancelled.");

  const lapsed = order.status !== "held" || (order.hold_expires_at ?? 0) <= now;
  if (lapsed) {
    // The hold no longer counts: take the capacity again if it is still free.
    if (order.status === "held") expireOrder(tx, order);
    if (order.quantity > availability(tx).remaining) {
      return fail("hold-expired", "The hold expired and the tickets were taken.");
    }
  }

  // Serials first..first+quantity-1, right after the highest minted (see nextSerial).
  const next = nextSerial(tx) + order.quantity;
  // A held, expired or released order has no tickets (only this function mints, and it confirms the
  // order in the same transaction): its tickets are exactly the ones minted here, in serial order.
  const tickets: TicketRow[] = [];
  for (let serial = next - order.quantity; serial < next; serial++) {
    const ticket: TicketRow = {
      id: randomTicketId(),
      order_id: order.id,
      user_id: order.user_id,
      serial,
      status: "active",
      redeemed_at: null,
      created_at: now,
    };
    insertTicket(tx, ticket);
    tickets.push(ticket);
  }
  const paymentRef = request.paymentRef ?? null;
  const confirmed: OrderRow = {
    ...order,
    status: "confirmed",
    hold_expires_at: null,
    payment_ref: paymentRef,
    updated_at: now,
  };
  if (stored) {
    sql.exec(
      "UPDATE orders SET status = 'confirmed', hold_expires_at = NULL, payment_ref = ?, updated_at = ? WHERE id = ?",
      paymentRef,
      now,
      order.id,
    );
  } else {
    insertOrder(tx, confirmed);
  }
  const records: OutboxRecord[] = [
    { kind: "order", payload: toOrder(tx, confirmed) },
    ...tickets.map((t): OutboxRecord => ({ kind: "ticket", payload: toTicket(tx, t) })),
  ];
  const contact = JSON.parse(confirmed.contact) as Contact | null;
  if (contact) records.push(confirmationEmail(event, order.id, contact, tickets));
  // The order, its tickets and the email, in this order, in one insert.
  emitAll(sql, records);
  return ok({ order: toOrder(tx, confirmed), tickets: tickets.map((t) => toTicket(tx, t)) });
}

/** The buyer's confirmation of a sale, as its outbox record (its id makes a replayed push send it once). */
export function confirmationEmail(
  event: Pick<EventSnapshot, "eventId" | "title" | "startsAt">,
  orderId: string,
  contact: Contact,
  tickets: readonly TicketRow[],
): OutboxRecord {
  return {
    kind: "email",
    payload: {
      id: `order-confirmed:${orderId}`,
      to: contact.email,
      template: "order-confirmed",
      data: {
        name: contact.name,
        eventId: event.eventId,
        eventTitle: event.title,
        startsAt: event.startsAt,
        orderId,
        serials: tickets.map((t) => t.serial),
      },
    },
  };
}

/** Releases a pending hold (buyer cancelled, checkout expired). Confirmed orders are not holds. */
export function release(
  tx: SalesContext,
  request: { orderId: string; heldUntilAtMost?: number },
): InventoryResult<InventoryOrder> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  if (order.status === "confirmed") return fail("already-paid", "The order is already confirmed.");
  // A checkout session's end releases only the hold it was opened for: one stretched since for a new
  // session (the buyer's retry) is that session's now.
  if (
    order.status === "held" &&
    request.heldUntilAtMost !== undefined &&
    (order.hold_expires_at ?? 0) > request.heldUntilAtMost
  ) {
    return fail("hold-extended", "The hold was extended for a newer checkout.");
  }
  if (order.status === "held") {
    tx.sql.exec("UPDATE orders SET status = 'released', updated_at = ? WHERE id = ?", tx.now, order.id);
    const released = orderRow(tx, order.id) as OrderRow;
    emitOrder(tx, released);
    return ok(toOrder(tx, released));
  }
  return ok(toOrder(tx, order));
}

/**
 * Voids the tickets of one confirmed order (an attendee giving back a free ticket): capacity returns
 * at once. Paid orders go through refunds instead.
 */
export function voidTickets(tx: SalesContext, request: { orderId: string }): InventoryResult<OrderWithTickets> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  if (order.status === "cancelled") return ok(withTickets(tx, order));
  if (order.status !== "confirmed") return fail("invalid-transition", "Only a confirmed order has tickets.");
  if (order.amount > 0) return fail("already-paid", "Paid tickets are refunded, not voided.");
  tx.sql.exec(
    "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status = 'active'",
    tx.now,
    order.id,
  );
  tx.sql.exec("UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ?", tx.now, order.id);
  emitOrder(tx, orderRow(tx, order.id) as OrderRow);
  for (const ticket of ticketsOf(tx, order.id)) emitTicket(tx, ticket);
  return ok(withTickets(tx, orderRow(tx, order.id) as OrderRow));
}

/**
 * Extends a live hold to `expiresAt` (a buyer retrying checkout gets a fresh Checkout Session, which
 * Stripe wants to live at least 30 minutes). The seats are already counted, so capacity is unchanged;
 * a lapsed or settled hold cannot be revived here.
 */
export function extendHold(
  tx: SalesContext,
  request: { orderId: string; expiresAt: number },
): InventoryResult<InventoryOrder> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  if (order.status === "confirmed") return fail("already-paid", "The order is already confirmed.");
  if (order.status !== "held" || (order.hold_expires_at ?? 0) <= tx.now) {
    return fail("hold-expired", "The hold has expired; start a new order.");
  }
  if ((order.hold_expires_at ?? 0) < request.expiresAt) {
    tx.sql.exec(
      "UPDATE orders SET hold_expires_at = ?, updated_at = ? WHERE id = ?",
      request.expiresAt,
      tx.now,
      order.id,
    );
    emitOrder(tx, orderRow(tx, order.id) as OrderRow);
  }
  return ok(toOrder(tx, orderRow(tx, order.id) as OrderRow));
}

function expireOrder(tx: SalesContext, order: OrderRow): void {
  tx.sql.exec(
    "UPDATE orders SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'held'",
    tx.now,
    order.id,
  );
  emitOrder(tx, orderRow(tx, order.id) as OrderRow);
}

/** Marks every hold whose time is up `expired` (the alarm's job; availability already ignores them). */
export function expireLapsed(tx: SalesContext): void {
  const lapsed = tx.sql
    .exec<OrderRow>("SELECT * FROM orders WHERE status = 'held' AND hold_expires_at <= ?", tx.now)
    .toArray();
  for (const order of lapsed) expireOrder(tx, order);
}
