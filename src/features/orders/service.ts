/**
 * Orders: the validation layer in front of the inventory (event exists and is on sale, quantity
 * within limits, price from the server only), then the hold — and for free events the confirm —
 * inside the event's EventInventory object, which decides; paid events continue to Stripe Checkout
 * (src/features/payments/checkout.ts). Reads come from the D1 read model.
 */
import type { OrderWithTickets } from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { orders } from "../../db/schema";
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { iso } from "../../lib/time";
import {
  type EventsDeps,
  forgetOrderableEvent,
  inventoryOf,
  orderEvent,
  toSnapshot,
  unwrap,
  withInventoryDeadline,
} from "../events";
import { closeCheckouts, notConfigured, type PaymentsDeps, startCheckout } from "../payments";
import { queuePassRequired } from "../queue";

/** What a paid order needs besides the inventory (see src/features/payments/checkout.ts). */
export interface PaidCheckout {
  /** Null when Stripe is not configured (development): paid orders answer 503 payments-not-configured. */
  payments: PaymentsDeps | null;
  /** Derived from the Idempotency-Key when there is one, so a retried POST lands on the same order. */
  orderId: string | null;
  /** Where Stripe sends the buyer back (already validated). */
  returnBase: string;
  /**
   * The buyer showed a valid queue pass for this event (src/features/queue, checked by the route).
   * Free and paid orders alike: while the event's queue is on, an order without one is refused (428).
   */
  queuePass?: boolean;
}

export interface Buyer {
  id: string;
  email: string;
  name: string;
}

export function toApiOrder(o: OrderWithTickets["order"]) {
  return {
    id: o.id,
    eventId: o.eventId,
    status: o.status,
    quantity: o.quantity,
    amount: o.amount,
    currency: o.currency,
    createdAt: iso(o.createdAt) as string,
  };
}

export function toApiTicket(t: OrderWithTickets["tickets"][number]) {
  return { id: t.id, eventId: t.eventId, serial: t.serial, status: t.status };
}

/**
 * Claims `quantity` tickets for the buyer: free ⇒ 201 { order, tickets }; paid ⇒ seats held and a Stripe
 * Checkout Session opened, 201 { order, checkoutUrl, holdExpiresAt }.
 */
export async function createOrder(
  deps: EventsDeps,
  buyer: Buyer,
  eventId: string,
  quantity: number,
  paid?: PaidCheckout,
  fresh = false,
): Promise<
  | { order: ReturnType<typeof toApiOrder>; tickets: ReturnType<typeof toApiTicket>[] }
  | { order: ReturnType<typeof toApiOrder>; checkoutUrl: string; holdExpiresAt: string }
> {
  const now = deps.now ?? Date.now();
  const event = await orderEvent(deps.db, eventId, now, fresh);
  if (!event || event.status === "draft") throw new DomainError("not-found", "No such event.");
  if (event.status !== "published") throw new DomainError("not-on-sale", "The event is not on sale.");
  if (now >= event.starts_at) throw new DomainError("event-started", "The event has already started.");
  if (
    (event.sales_start_at !== null && now < event.sales_start_at) ||
    (event.sales_end_at !== null && now >= event.sales_end_at)
  ) {
    throw new DomainError("not-on-sale", "Sales are not open.");
  }
  if (quantity > event.per_user_limit) {
    throw new DomainError("limit-exceeded", `At most ${event.per_user_limit} ticket(s) per person.`);
  }
  const queuePass = paid?.queuePass === true;
  // A queue the host switched on is refused here, before the object; `auto` is the object's to judge.
  if (event.queue_mode === "on" && !queuePass) throw queuePassRequired(eventId);
  if (event.price > 0) {
    if (!paid?.payments) throw notConfigured();
    const payments = { ...paid.payments, inventory: withInventoryDeadline(paid.payments.inventory) };
    const checkout = await startCheckout(payments, {
      buyer,
      event,
      orderId: paid.orderId ?? randomId(),
      quantity,
      returnBase: paid.returnBase,
      queuePass,
    });
    return {
      order: toApiOrder(checkout.order),
      checkoutUrl: checkout.checkoutUrl,
      holdExpiresAt: checkout.holdExpiresAt,
    };
  }

  const inventory = inventoryOf(withInventoryDeadline(deps.inventory), eventId);
  // From the Idempotency-Key when there is one: a retry after a timeout lands on the same order.
  const orderId = paid?.orderId ?? randomId();
  // Hold and confirm in one transaction inside the object: one round trip, no window between them.
  const claimed = await inventory.claim({
    orderId,
    userId: buyer.id,
    quantity,
    ttlMs: LIMITS.freeHoldMs,
    contact: { email: buyer.email, name: buyer.name },
    snapshot: toSnapshot(event),
    queuePass,
    sentAt: Date.now(),
  });
  if (!claimed.ok && claimed.code === "queue-pass-required") throw queuePassRequired(eventId);
  if (!claimed.ok && claimed.code === "not-free" && !fresh) {
    // Our copy of the event predates its price: read it again and go to checkout.
    forgetOrderableEvent(eventId);
    return createOrder(deps, buyer, eventId, quantity, paid, true);
  }
  const confirmed = unwrap(claimed);
  return { order: toApiOrder(confirmed.order), tickets: confirmed.tickets.map(toApiTicket) };
}

type OrderRow = Pick<
  RowOf<typeof orders>,
  "id" | "event_id" | "user_id" | "status" | "quantity" | "amount" | "currency" | "hold_expires_at" | "created_at"
>;

/** The caller's order; anyone else's answers 404 exactly like a missing one (no BOLA oracle). */
async function ownOrder(db: D1Database, userId: string, orderId: string): Promise<OrderRow> {
  const row = await db
    .prepare("SELECT * FROM orders WHERE id = ? AND user_id = ?")
    .bind(orderId, userId)
    .first<OrderRow>();
  if (!row) throw new DomainError("not-found", "No such order.");
  return row;
}

export async function getOrder(deps: EventsDeps, userId: string, orderId: string) {
  const row = await ownOrder(deps.db, userId, orderId);
  const tickets = await deps.db
    .prepare("SELECT id, event_id, serial, status FROM tickets WHERE order_id = ? ORDER BY serial")
    .bind(orderId)
    .all<{ id: string; event_id: string; serial: number; status: string }>();
  return {
    order: {
      id: row.id,
      eventId: row.event_id,
      status: row.status,
      quantity: row.quantity,
      amount: row.amount,
      currency: row.currency,
      createdAt: iso(row.created_at) as string,
      holdExpiresAt: iso(row.hold_expires_at),
    },
    tickets: tickets.results.map((t) => ({ id: t.id, eventId: t.event_id, serial: t.serial, status: t.status })),
  };
}

/**
 * Cancels the caller's order: a pending hold is released; a confirmed free order's tickets are
 * voided and the capacity returns at once. Paid orders answer 409 already-paid (refunds instead).
 */
export async function cancelOrder(deps: EventsDeps, userId: string, orderId: string, payments?: PaymentsDeps | null) {
  const row = await ownOrder(deps.db, userId, orderId);
  const inventory = inventoryOf(deps.inventory, row.event_id);
  const current = await inventory.getOrder(orderId);
  if (!current) throw new DomainError("not-found", "No such order.");
  if (current.order.status === "confirmed") {
    const voided = unwrap(await inventory.voidTickets({ orderId, reason: "attendee-cancelled" }));
    return { order: toApiOrder(voided.order), tickets: voided.tickets.map(toApiTicket) };
  }
  // A paid hold: close its checkout at Stripe first, so it cannot be paid once the seats are released.
  if (current.order.status === "held" && current.order.amount > 0 && payments) await closeCheckouts(payments, orderId);
  const released = unwrap(await inventory.release({ orderId, reason: "buyer-cancelled" }));
  return { order: toApiOrder(released), tickets: [] };
}

export async function myTickets(db: D1Database, userId: string, limit: number, cursor?: string) {
  const bindings: unknown[] = [userId];
  let after = "";
  if (cursor) {
    // A foreign cursor decodes to null and is refused below (400, not 500).
    const [createdAt, id] = (decodeCursor(cursor) ?? "").split("|");
    if (!createdAt || !id || !/^\d+$/.test(createdAt)) {
      throw invalidCursorError();
    }
    after = "AND (t.created_at < ? OR (t.created_at = ? AND t.id < ?))";
    bindings.push(Number(createdAt), Number(createdAt), id);
  }
  const rows = await db
    .prepare(
      `SELECT t.id, t.serial, t.status, t.redeemed_at, t.created_at, e.id AS event_id, e.title, e.starts_at,
              e.venue_name, e.venue_address, e.lat, e.lng
       FROM tickets t JOIN events e ON e.id = t.event_id
       WHERE t.user_id = ? ${after}
       ORDER BY t.created_at DESC, t.id DESC LIMIT ?`,
    )
    .bind(...bindings, limit + 1)
    .all<{
      id: string;
      serial: number;
      status: string;
      redeemed_at: number | null;
      created_at: number;
      event_id: string;
      title: string;
      starts_at: number;
      venue_name: string;
      venue_address: string;
      lat: number;
      lng: number;
    }>();
  const page = rows.results.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: page.map((r) => ({
      id: r.id,
      serial: r.serial,
      status: r.status,
      redeemedAt: iso(r.redeemed_at),
      event: {
        id: r.event_id,
        title: r.title,
        startsAt: iso(r.starts_at) as string,
        venue: { name: r.venue_name, address: r.venue_address, lat: r.lat, lng: r.lng },
      },
    })),
    nextCursor: rows.results.length > limit && last ? encodeCursor(`${last.created_at}|${last.id}`) : null,
  };
}
