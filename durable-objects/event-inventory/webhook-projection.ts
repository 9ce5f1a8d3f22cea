/**
 * The outgoing webhooks an event's outbox rows stand for, as statements for the same D1 batch that
 * projects them (./projection.ts): a confirmed order is `order.created`, a refunded one
 * `order.refunded`, a cancelled one `order.cancelled` (a confirmed free order voided by its holder or
 * by the event's cancellation; a paid one is refunded instead), an admitted ticket
 * `ticket.checked_in`. The object does not know the event's host: the writer reads it from D1's
 * events row in the statement. Each webhook's id derives from the order or ticket, so a replayed push
 * writes it once; the statements go after the batch's order and ticket upserts, so `ticketIds` reads
 * the order's tickets as this batch leaves them. The pusher wakes the webhook events the batch wrote.
 */
import { eventWebhookStatement } from "../../src/features/webhooks/outbox";
import type { InventoryOrder, InventoryTicket } from "./contract";
import { decode, type InventoryOutboxRow } from "./outbox";

const iso = (ms: number) => new Date(ms).toISOString();

function orderData(o: InventoryOrder): Record<string, unknown> {
  return { orderId: o.id, eventId: o.eventId, quantity: o.quantity, amount: o.amount, currency: o.currency };
}

function orderWebhook(db: D1Database, o: InventoryOrder): D1PreparedStatement | null {
  const base = { eventId: o.eventId, factId: o.id, at: o.updatedAt };
  if (o.status === "confirmed") {
    return eventWebhookStatement(db, {
      ...base,
      type: "order.created",
      data: { ...orderData(o), createdAt: iso(o.createdAt) },
      ticketIdsOfOrder: o.id,
    });
  }
  // `refunded_sold_out` is left out: that payment never became an order its host was told of.
  if (o.status === "refunded") {
    return eventWebhookStatement(db, {
      ...base,
      type: "order.refunded",
      data: { ...orderData(o), refundedAt: iso(o.updatedAt) },
      ticketIdsOfOrder: o.id,
    });
  }
  if (o.status === "cancelled") {
    return eventWebhookStatement(db, {
      ...base,
      type: "order.cancelled",
      data: { ...orderData(o), cancelledAt: iso(o.updatedAt) },
      ticketIdsOfOrder: o.id,
    });
  }
  return null;
}

function ticketWebhook(db: D1Database, t: InventoryTicket): D1PreparedStatement | null {
  if (t.status !== "redeemed" || t.redeemedAt === null || t.redeemedAt === undefined) return null;
  return eventWebhookStatement(db, {
    type: "ticket.checked_in",
    eventId: t.eventId,
    factId: t.id,
    at: t.redeemedAt,
    data: { ticketId: t.id, orderId: t.orderId, eventId: t.eventId, serial: t.serial, checkedInAt: iso(t.redeemedAt) },
  });
}

export function webhookStatements(db: D1Database, rows: readonly InventoryOutboxRow[]): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  for (const row of rows) {
    const record = decode(row);
    const statement =
      record.kind === "order"
        ? orderWebhook(db, record.payload)
        : record.kind === "ticket"
          ? ticketWebhook(db, record.payload)
          : null;
    if (statement) statements.push(statement);
  }
  return statements;
}
