/**
 * Refunds of paid orders, inside the object's `transactionSync` like ./sales.ts. A refund we decide
 * goes reserveRefund → Stripe → refund (or releaseRefund if Stripe refuses for good). The reservation
 * is what makes "used" and "refunded" exclusive: it checks that no ticket of the order was admitted
 * and takes the tickets out of reach of the gate in one transaction, before any money moves, and a
 * scan of a reserved ticket is refused (refund_pending).
 */
import type { InventoryResult, OrderWithTickets, RefundRequest } from "./contract";
import {
  emitOrder,
  emitTicket,
  fail,
  type OrderRow,
  ok,
  orderRow,
  type SalesContext,
  type TicketRow,
  ticketsOf,
  withTickets,
} from "./rows";

/**
 * Reserves a paid order's refund before Stripe is asked: refused (ticket-redeemed) if a ticket of the
 * order was admitted; otherwise its active tickets become `refunding` (still sold, no longer
 * admissible). A cancelled event's orders are refunded whatever happened at the gate: the host called
 * the event off. An order without live tickets (a late payment's, a cancelled event's) has nothing to
 * reserve. Idempotent.
 */
export function reserveRefund(tx: SalesContext, request: { orderId: string }): InventoryResult<OrderWithTickets> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  if (order.status === "refunded" || order.status === "refunded_sold_out") return ok(withTickets(tx, order));
  if (order.amount === 0) return fail("invalid-transition", "A free order has nothing to refund.");
  if (order.status !== "confirmed") return ok(withTickets(tx, order));
  const used = tx.sql
    .exec<{ n: number }>("SELECT COUNT(*) AS n FROM tickets WHERE order_id = ? AND status = 'redeemed'", order.id)
    .one().n;
  if (used > 0 && tx.event.current?.status !== "cancelled") {
    return fail("ticket-redeemed", "A ticket of this order was already used at the gate.");
  }
  const reserved = tx.sql
    .exec<TicketRow>(
      "UPDATE tickets SET status = 'refunding', updated_at = ? WHERE order_id = ? AND status = 'active' RETURNING *",
      tx.now,
      order.id,
    )
    .toArray();
  for (const ticket of reserved) emitTicket(tx, ticket);
  return ok(withTickets(tx, order));
}

/**
 * Stripe refused a reserved refund for good (nothing went back): the order's `refunding` tickets are
 * active again. A finished refund, or a ticket voided meanwhile (event cancelled), stays as it is.
 */
export function releaseRefund(tx: SalesContext, request: { orderId: string }): InventoryResult<OrderWithTickets> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  const released = tx.sql
    .exec<TicketRow>(
      "UPDATE tickets SET status = 'active', updated_at = ? WHERE order_id = ? AND status = 'refunding' RETURNING *",
      tx.now,
      order.id,
    )
    .toArray();
  for (const ticket of released) emitTicket(tx, ticket);
  return ok(withTickets(tx, order));
}

/**
 * Records that a paid order's money went back: its active or refunding tickets are voided and its
 * seats freed in the same transaction. Not a decision (reserveRefund made ours before Stripe was
 * asked; a refund from Stripe's dashboard is a fact): a ticket already admitted stays redeemed.
 * `refunded_sold_out` is for a payment that landed after its hold lapsed with no seats left: the order
 * never had tickets. Idempotent: a refunded order answers as it is.
 */
export function refund(tx: SalesContext, request: RefundRequest): InventoryResult<OrderWithTickets> {
  const order = orderRow(tx, request.orderId);
  if (!order) return fail("order-not-found", "No such order.");
  if (order.status === "refunded" || order.status === "refunded_sold_out") return ok(withTickets(tx, order));
  if (order.amount === 0) return fail("invalid-transition", "A free order has nothing to refund.");
  if (request.outcome === "refunded_sold_out" && order.status === "confirmed") {
    return fail("invalid-transition", "The order holds tickets: it was not sold out.");
  }
  tx.sql.exec(
    "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status IN ('active', 'refunding')",
    tx.now,
    order.id,
  );
  tx.sql.exec(
    "UPDATE orders SET status = ?, hold_expires_at = NULL, updated_at = ? WHERE id = ?",
    request.outcome,
    tx.now,
    order.id,
  );
  const refunded = orderRow(tx, order.id) as OrderRow;
  emitOrder(tx, refunded);
  for (const ticket of ticketsOf(tx, order.id)) emitTicket(tx, ticket);
  return ok(withTickets(tx, refunded));
}
