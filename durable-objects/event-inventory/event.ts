/**
 * The object's copy of its event: adopting a newer version from D1, and what cancelling it does to
 * every hold and sale. Runs inside the object's `transactionSync`, like ./sales.ts.
 */
import type { Availability, Contact, EventSnapshot, InventoryResult } from "./contract";
import { emit } from "./outbox";
import {
  availability,
  emitOrder,
  emitTicket,
  fail,
  type OrderRow,
  ok,
  orderRow,
  type SalesContext,
  ticketsOf,
} from "./rows";

/**
 * Adopts the event as stored in D1. Older versions are ignored (a delayed call cannot roll the object
 * back); a capacity below what is already sold or held is refused. Cancelling voids every ticket and
 * releases every hold.
 */
export function adopt(tx: SalesContext, snapshot: EventSnapshot): InventoryResult<Availability> {
  const current = tx.event.current;
  // Older or the same: nothing to adopt (a version is never reused for other content).
  if (current && snapshot.version <= current.version) return ok(availability(tx));
  const before = availability(tx);
  if (snapshot.status !== "cancelled" && snapshot.capacity < before.sold + before.held) {
    return fail(
      "capacity-below-sold",
      `Capacity cannot drop below the ${before.sold} sold and ${before.held} held ticket(s).`,
    );
  }
  tx.sql.exec(
    "INSERT INTO snapshot (id, json, version) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json, version = excluded.version",
    JSON.stringify(snapshot),
    snapshot.version,
  );
  tx.event.current = snapshot;
  if (snapshot.status === "cancelled" && current?.status !== "cancelled") cancelEverything(tx);
  return ok(availability(tx));
}

/** The event was cancelled: holds are released, tickets voided, and every holder told. */
function cancelEverything(tx: SalesContext): void {
  const { sql, now } = tx;
  const held = sql.exec<OrderRow>("SELECT * FROM orders WHERE status = 'held'").toArray();
  for (const order of held) {
    sql.exec("UPDATE orders SET status = 'released', updated_at = ? WHERE id = ?", now, order.id);
    emitOrder(tx, orderRow(tx, order.id) as OrderRow);
  }
  const event = tx.event.current;
  const confirmed = sql.exec<OrderRow>("SELECT * FROM orders WHERE status = 'confirmed'").toArray();
  for (const order of confirmed) {
    // A refund in flight (refunding) ends the same way: void, its money on the way back.
    sql.exec(
      "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status IN ('active', 'refunding')",
      now,
      order.id,
    );
    for (const ticket of ticketsOf(tx, order.id)) emitTicket(tx, ticket);
    const contact = JSON.parse(order.contact) as Contact | null;
    if (contact) {
      emit(sql, {
        kind: "email",
        payload: {
          id: `event-cancelled:${order.id}`,
          to: contact.email,
          template: "event-cancelled",
          data: {
            name: contact.name,
            eventId: event?.eventId,
            eventTitle: event?.title,
            orderId: order.id,
            paid: order.amount > 0,
          },
        },
      });
    }
    // Paid orders stay "confirmed" here: the refund (payments) moves them on.
    if (order.amount === 0) {
      sql.exec("UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ?", now, order.id);
      emitOrder(tx, orderRow(tx, order.id) as OrderRow);
    }
  }
}
