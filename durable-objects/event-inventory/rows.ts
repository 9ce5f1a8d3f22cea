/**
 * The object's order and ticket rows: the transaction context every sales function takes, reads of
 * orders, tickets and availability, their RPC shapes, and the outbox records that project them to D1.
 */
import type {
  Availability,
  EventSnapshot,
  InventoryErrorCode,
  InventoryOrder,
  InventoryResult,
  InventoryTicket,
  OrderStatus,
  OrderWithTickets,
  TicketStatus,
} from "./contract";
import { emit } from "./outbox";

/** The object's copy of its event, shared with every context so an adoption is seen by the next read. */
export interface EventCopy {
  current: EventSnapshot | null;
}

/**
 * What a sales decision needs, for one `transactionSync` (as GateContext is for the gate): the
 * object's SQLite, its event, and the time of the call.
 */
export interface SalesContext {
  sql: SqlStorage;
  event: EventCopy;
  now: number;
}

export type OrderRow = {
  id: string;
  user_id: string;
  status: OrderStatus;
  quantity: number;
  amount: number;
  currency: string;
  hold_expires_at: number | null;
  payment_ref: string | null;
  /** JSON Contact, or JSON null: nobody to email. */
  contact: string;
  created_at: number;
  updated_at: number;
};

export type TicketRow = {
  id: string;
  order_id: string;
  user_id: string;
  serial: number;
  status: TicketStatus;
  /** Schema v3 (gate); null until redeemed. */
  redeemed_at: number | null;
  created_at: number;
};

export const ok = <T>(value: T): InventoryResult<T> => ({ ok: true, value });
export const fail = <T>(code: InventoryErrorCode, detail: string): InventoryResult<T> => ({ ok: false, code, detail });

export function orderRow(tx: SalesContext, id: string): OrderRow | null {
  return tx.sql.exec<OrderRow>("SELECT * FROM orders WHERE id = ?", id).toArray()[0] ?? null;
}

export function ticketsOf(tx: SalesContext, orderId: string): TicketRow[] {
  return tx.sql.exec<TicketRow>("SELECT * FROM tickets WHERE order_id = ? ORDER BY serial", orderId).toArray();
}

export function toOrder(tx: SalesContext, row: OrderRow): InventoryOrder {
  return {
    id: row.id,
    eventId: tx.event.current?.eventId ?? "",
    userId: row.user_id,
    status: row.status,
    quantity: row.quantity,
    amount: row.amount,
    currency: row.currency,
    holdExpiresAt: row.hold_expires_at,
    paymentRef: row.payment_ref,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toTicket(tx: SalesContext, row: TicketRow): InventoryTicket {
  return {
    id: row.id,
    eventId: tx.event.current?.eventId ?? "",
    orderId: row.order_id,
    userId: row.user_id,
    serial: row.serial,
    status: row.status,
    redeemedAt: row.redeemed_at ?? null,
    createdAt: row.created_at,
  };
}

export function withTickets(tx: SalesContext, order: OrderRow): OrderWithTickets {
  return { order: toOrder(tx, order), tickets: ticketsOf(tx, order.id).map((t) => toTicket(tx, t)) };
}

/** Writes the order's current row to the outbox, for the D1 read model. */
export function emitOrder(tx: SalesContext, row: OrderRow): void {
  emit(tx.sql, { kind: "order", payload: toOrder(tx, row) });
}

/** Writes the ticket's current row to the outbox, for the D1 read model. */
export function emitTicket(tx: SalesContext, row: TicketRow): void {
  emit(tx.sql, { kind: "ticket", payload: toTicket(tx, row) });
}

/**
 * Sold tickets (the highest serial less those that hold no seat) and checked-in ones, as the triggers
 * keep them (see migrateSeatCounts in ./schema.ts: no scan of the tickets, however many were sold),
 * and unexpired holds (an index range), so an expired hold frees capacity before cleanup.
 */
export function availability(tx: SalesContext): Availability {
  const capacity = tx.event.current?.capacity ?? 0;
  // One statement: every hold and claim reads this, some twice.
  const counts = tx.sql
    .exec<{ sold: number; checked_in: number; held: number }>(
      `SELECT COALESCE((SELECT MAX(serial) FROM tickets), 0) - unsold AS sold, checked_in,
         (SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE status = 'held' AND hold_expires_at > ?) AS held
       FROM seat_counts WHERE id = 1`,
      tx.now,
    )
    .one();
  return {
    capacity,
    sold: counts.sold,
    held: counts.held,
    remaining: Math.max(0, capacity - counts.sold - counts.held),
    checkedIn: counts.checked_in,
  };
}
