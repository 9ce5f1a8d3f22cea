/**
 * EventInventory: one object per event, the only place where its capacity, holds, tickets, refund
 * reservations and redemptions change (ASVS 2.3.4, 15.4.2). Every decision is made and written inside
 * one `transactionSync`, with no await in between, so concurrent buyers are strictly serialised by the
 * object's input gate and can never oversell.
 *
 * D1 is a read model of what happens here. Each state change writes outbox rows in the same
 * transaction; the outbox is pushed to D1 right after (idempotent upserts guarded by a projection
 * sequence, so replays are harmless) and retried from the alarm until D1 has it.
 */
import { DurableObject } from "cloudflare:workers";
import { readEnvironment } from "../src/config";
import { LIMITS } from "../src/config/limits";
import { handOverQueued, insertedOutboxIds } from "../src/features/email/enqueue";
import {
  DEVICE_REVOKED,
  type DeviceRevoked,
  type GateContext,
  type GateStats,
  gateStats,
  isRevoked,
  type ManifestTicket,
  manifestPage,
  migrateGate,
  migrateRevokedDevices,
  type OfflineScan,
  type RedeemRequest,
  type RejectedScanRequest,
  recordRejected,
  redeemOnline,
  revokeDevice,
  type ScanAnswer,
  type ScanningDevice,
} from "./event-inventory-gate";
import { acceptLive, broadcastLive, closeViewer, hasLiveViewers, type LiveCounts } from "./event-inventory-live";
import { applyOffline } from "./event-inventory-offline";
import { type InventoryOutboxRow, projectionStatements } from "./event-inventory-projection";

export type EventStatus = "draft" | "published" | "cancelled";

/** What the object needs to know about its event, copied from D1 on every change. */
export interface EventSnapshot {
  eventId: string;
  version: number;
  status: EventStatus;
  title: string;
  capacity: number;
  perUserLimit: number;
  price: number;
  currency: string;
  startsAt: number;
  endsAt: number;
  salesStartAt: number | null;
  salesEndAt: number | null;
  checkInOpensAt: number;
  checkInClosesAt: number;
}

export type InventoryErrorCode =
  | "sold-out"
  | "limit-exceeded"
  | "already-registered"
  | "not-on-sale"
  | "event-started"
  | "hold-expired"
  | "order-not-found"
  | "already-paid"
  | "invalid-transition"
  | "capacity-below-sold"
  | "not-configured"
  /** `claim` on an event that has a price: paid tickets go through checkout (hold, then confirm). */
  | "not-free"
  /** `reserveRefund` on an order a ticket of which was admitted at the gate: used, so not refundable. */
  | "ticket-redeemed";

export type InventoryResult<T> = { ok: true; value: T } | { ok: false; code: InventoryErrorCode; detail: string };

/**
 * `refunded`: a paid order whose money went back (tickets void, capacity free). `refunded_sold_out`: a
 * payment that arrived after its hold lapsed and the seats were gone, refunded instead of overselling.
 */
export type OrderStatus =
  | "held"
  | "confirmed"
  | "released"
  | "expired"
  | "cancelled"
  | "refunded"
  | "refunded_sold_out";

export interface InventoryOrder {
  id: string;
  eventId: string;
  userId: string;
  status: OrderStatus;
  quantity: number;
  amount: number;
  currency: string;
  holdExpiresAt: number | null;
  paymentRef: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * `refunding`: a refund we decided is in flight (reserveRefund, before Stripe is asked): the seat is
 * still sold, the ticket can no longer be admitted; it ends `void` (refund) or `active` again (Stripe
 * refused it for good).
 */
export type TicketStatus = "active" | "void" | "redeemed" | "refunding";

export interface InventoryTicket {
  id: string;
  eventId: string;
  orderId: string;
  userId: string;
  serial: number;
  status: TicketStatus;
  /** When the ticket was admitted at the gate (the admission that counts). */
  redeemedAt: number | null;
  createdAt: number;
}

export interface Availability {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  checkedIn: number;
}

export interface HoldRequest {
  orderId: string;
  userId: string;
  quantity: number;
  ttlMs: number;
  /**
   * Recipient of the order confirmation email; null: nobody to notify (tickets issued for holders
   * without a mailbox, such as the development fixtures' bench holders).
   */
  contact: Contact | null;
  /** The event as the caller read it from D1: adopted when newer than the object's copy. */
  snapshot: EventSnapshot;
}

export interface Contact {
  email: string;
  name: string;
}

export interface ConfirmRequest {
  orderId: string;
  paymentRef?: string;
}

export interface RefundRequest {
  orderId: string;
  outcome: "refunded" | "refunded_sold_out";
}

export interface OrderWithTickets {
  order: InventoryOrder;
  tickets: InventoryTicket[];
}

/** Outbox rows pushed per D1 batch: well under D1's per-batch statement and size limits. */
const OUTBOX_BATCH = 100;
/** Retry schedule for a failed push, from the alarm: 1 s, 5 s, 30 s, then every 2 min. */
const PUSH_RETRY_MS = [1_000, 5_000, 30_000, 120_000];
/** An outbox row still here this long after its commit is pushed by the alarm. */
const OUTBOX_SAFETY_NET_MS = 5_000;

type OrderRow = {
  id: string;
  user_id: string;
  status: OrderStatus;
  quantity: number;
  amount: number;
  currency: string;
  hold_expires_at: number | null;
  payment_ref: string | null;
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

/** Thrown inside `claim`'s transaction to roll a paid hold back. */
class NotFree extends Error {}

const ok = <T>(value: T): InventoryResult<T> => ({ ok: true, value });
const fail = <T>(code: InventoryErrorCode, detail: string): InventoryResult<T> => ({ ok: false, code, detail });

function randomTicketId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Ticket statuses that hold a seat: sold (refunding until the money is back) or used. */
const SOLD = "('active', 'redeemed', 'refunding')";

/**
 * Schema v5: sold (active, redeemed or refunding) and checked-in (redeemed) tickets counted in one
 * row, kept by triggers on every insert, status change and delete of a ticket, so no code path can
 * forget them and availability costs one row read instead of a scan of the tickets. Starts from the
 * tickets already there; safe to re-run.
 */
export function migrateTicketCounts(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS ticket_counts (
      id INTEGER PRIMARY KEY CHECK (id = 1), sold INTEGER NOT NULL, checked_in INTEGER NOT NULL);
    INSERT OR IGNORE INTO ticket_counts (id, sold, checked_in)
      SELECT 1, COUNT(*), COALESCE(SUM(status = 'redeemed'), 0) FROM tickets WHERE status IN ${SOLD};
    CREATE TRIGGER IF NOT EXISTS ticket_counts_insert AFTER INSERT ON tickets BEGIN
      UPDATE ticket_counts SET sold = sold + (NEW.status IN ${SOLD}),
        checked_in = checked_in + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS ticket_counts_update AFTER UPDATE OF status ON tickets BEGIN
      UPDATE ticket_counts
        SET sold = sold - (OLD.status IN ${SOLD}) + (NEW.status IN ${SOLD}),
          checked_in = checked_in - (OLD.status = 'redeemed') + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS ticket_counts_delete AFTER DELETE ON tickets BEGIN
      UPDATE ticket_counts SET sold = sold - (OLD.status IN ${SOLD}),
        checked_in = checked_in - (OLD.status = 'redeemed') WHERE id = 1;
    END;
  `);
}

/**
 * Schema v6: the `refunding` ticket status (see reserveRefund) holds its seat. v5's triggers counted
 * only active and redeemed tickets, so a ticket moving to refunding would have freed its seat before
 * the money was back (and a refund Stripe refused would have sold it twice): they are replaced, and
 * the counts taken again from the tickets. Safe to re-run.
 */
export function migrateRefunding(sql: SqlStorage): void {
  sql.exec(`
    DROP TRIGGER IF EXISTS ticket_counts_insert;
    DROP TRIGGER IF EXISTS ticket_counts_update;
    DROP TRIGGER IF EXISTS ticket_counts_delete;
  `);
  migrateTicketCounts(sql);
  sql.exec(`
    UPDATE ticket_counts SET
      sold = (SELECT COUNT(*) FROM tickets WHERE status IN ${SOLD}),
      checked_in = (SELECT COUNT(*) FROM tickets WHERE status = 'redeemed') WHERE id = 1;
  `);
}

export class EventInventory extends DurableObject<Env> {
  #sql: SqlStorage;
  #snapshot: EventSnapshot | null = null;
  /** The push that will include every outbox row committed so far (shared by concurrent callers). */
  #nextPush: Promise<void> | null = null;
  #inflightPush: Promise<void> | null = null;
  #pushFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#migrate();
      const row = this.#sql.exec<{ json: string }>("SELECT json FROM snapshot WHERE id = 1").toArray()[0];
      this.#snapshot = row ? (JSON.parse(row.json) as EventSnapshot) : null;
    });
  }

  #migrate(): void {
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, version INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY CHECK (id = 1), next_serial INTEGER NOT NULL, projection_seq INTEGER NOT NULL);
      INSERT OR IGNORE INTO counters (id, next_serial, projection_seq) VALUES (1, 1, 0);
      CREATE TABLE IF NOT EXISTS orders (
        id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL, quantity INTEGER NOT NULL,
        amount INTEGER NOT NULL, currency TEXT NOT NULL, hold_expires_at INTEGER, payment_ref TEXT,
        contact TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, status);
      CREATE INDEX IF NOT EXISTS orders_held ON orders (status, hold_expires_at);
      CREATE TABLE IF NOT EXISTS tickets (
        id TEXT PRIMARY KEY, order_id TEXT NOT NULL, user_id TEXT NOT NULL, serial INTEGER NOT NULL UNIQUE,
        status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS tickets_order ON tickets (order_id);
      CREATE INDEX IF NOT EXISTS tickets_user ON tickets (user_id, status);
      CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status);
      CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL);
    `);
    const version =
      this.#sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
    if (version < 1) {
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (1)");
    }
    if (version < 3) {
      // Gate: tickets.redeemed_at, the scan log and redemptions (idempotent, whatever ran before it).
      migrateGate(this.#sql);
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (3)");
    }
    if (version < 4) {
      migrateRevokedDevices(this.#sql);
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (4)");
    }
    if (version < 5) {
      migrateTicketCounts(this.#sql);
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (5)");
    }
    if (version < 6) {
      migrateRefunding(this.#sql);
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (6)");
    }
  }

  // ---------------------------------------------------------------- RPC surface

  /**
   * Adopts the event as stored in D1. Older versions are ignored (a delayed call cannot roll the
   * object back); a capacity below what is already sold or held is refused. Cancelling voids every
   * ticket and releases every hold.
   */
  async configure(snapshot: EventSnapshot): Promise<InventoryResult<Availability>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => this.#adopt(snapshot, now));
    // Even a refusal may have committed something (a lapsed hold marked expired): push it too.
    await this.#afterCommit();
    return result;
  }

  async hold(request: HoldRequest): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => this.#holdTx(request, now));
    // Even a refusal may have committed something (a lapsed hold marked expired): push it too.
    await this.#afterCommit();
    return result;
  }

  /**
   * Free events: the hold and the sale in one transaction and one round trip. Same rules and the
   * same idempotency by order id as `hold` followed by `confirm`, with no window in between.
   */
  async claim(request: HoldRequest): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    let result: InventoryResult<OrderWithTickets>;
    try {
      result = this.ctx.storage.transactionSync((): InventoryResult<OrderWithTickets> => {
        // The held state is not projected: the sale below supersedes it in the same transaction.
        const held = this.#holdTx(request, now, { project: false });
        if (!held.ok || held.value.order.status !== "held") return held;
        // The caller's copy of the event may be older than ours: a price set since means checkout.
        if (held.value.order.amount > 0) throw new NotFree();
        const confirmed = this.#confirmTx({ orderId: request.orderId }, now);
        if (!confirmed.ok) this.#emitOrder(this.#order(request.orderId) as OrderRow);
        return confirmed;
      });
    } catch (error) {
      if (!(error instanceof NotFree)) throw error;
      // The throw rolled the hold back; whatever the adoption wrote went with it.
      return fail("not-free", "The event has a price: tickets go through checkout.");
    }
    await this.#afterCommit();
    return result;
  }

  #holdTx(request: HoldRequest, now: number, options = { project: true }): InventoryResult<OrderWithTickets> {
    const existing = this.#order(request.orderId);
    if (existing) return ok(this.#withTickets(existing));

    const adopted = this.#adopt(request.snapshot, now);
    if (!adopted.ok && adopted.code !== "capacity-below-sold") return adopted as InventoryResult<OrderWithTickets>;
    const event = this.#snapshot;
    if (!event) return fail("not-configured", "The event is not set up for sales.");
    const gate = this.#salesGate(event, now);
    if (gate) return gate;
    if (!Number.isInteger(request.quantity) || request.quantity < 1) {
      return fail("limit-exceeded", "Quantity must be at least 1.");
    }

    const owned = this.#ownedBy(request.userId, now);
    if (event.perUserLimit === 1 && owned > 0) {
      return fail("already-registered", "You already have a ticket for this event.");
    }
    if (owned + request.quantity > event.perUserLimit) {
      return fail("limit-exceeded", `At most ${event.perUserLimit} ticket(s) per person; you have ${owned}.`);
    }
    const { remaining } = this.#availability(now);
    if (request.quantity > remaining) {
      return fail("sold-out", remaining === 0 ? "Sold out." : `Only ${remaining} ticket(s) left.`);
    }

    const expiresAt = now + request.ttlMs;
    this.#sql.exec(
      `INSERT INTO orders (id, user_id, status, quantity, amount, currency, hold_expires_at, contact, created_at, updated_at)
       VALUES (?, ?, 'held', ?, ?, ?, ?, ?, ?, ?)`,
      request.orderId,
      request.userId,
      request.quantity,
      event.price * request.quantity,
      event.currency,
      expiresAt,
      JSON.stringify(request.contact),
      now,
      now,
    );
    const order = this.#order(request.orderId) as OrderRow;
    if (options.project) this.#emitOrder(order);
    return ok({ order: this.#toOrder(order), tickets: [] });
  }

  /**
   * Turns a hold into a sale and mints its tickets in the same transaction. A hold that already
   * expired is honoured only if the capacity is still there (a late payment); otherwise the caller
   * must refund — never an oversell.
   */
  async confirm(request: ConfirmRequest): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync(() => this.#confirmTx(request, now));
    // Even a refusal may have committed something (a lapsed hold marked expired): push it too.
    await this.#afterCommit();
    return result;
  }

  #confirmTx(request: ConfirmRequest, now: number): InventoryResult<OrderWithTickets> {
    const order = this.#order(request.orderId);
    if (!order) return fail("order-not-found", "No such order.");
    if (order.status === "confirmed") return ok(this.#withTickets(order));
    if (order.status === "cancelled") return fail("invalid-transition", "The order was cancelled.");
    // Its money went back: a late or repeated payment event must never mint tickets for it.
    if (order.status === "refunded" || order.status === "refunded_sold_out") {
      return fail("invalid-transition", "The order was refunded.");
    }
    const event = this.#snapshot;
    if (!event || event.status === "cancelled") return fail("not-on-sale", "The event was cancelled.");

    const lapsed = order.status !== "held" || (order.hold_expires_at ?? 0) <= now;
    if (lapsed) {
      // The hold no longer counts: take the capacity again if it is still free.
      if (order.status === "held") this.#expireOrder(order, now);
      if (order.quantity > this.#availability(now).remaining) {
        return fail("hold-expired", "The hold expired and the tickets were taken.");
      }
    }

    let serial = this.#sql
      .exec<{ next_serial: number }>("SELECT next_serial FROM counters WHERE id = 1")
      .one().next_serial;
    for (let i = 0; i < order.quantity; i++) {
      const ticketId = randomTicketId();
      this.#sql.exec(
        "INSERT INTO tickets (id, order_id, user_id, serial, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?)",
        ticketId,
        order.id,
        order.user_id,
        serial,
        now,
        now,
      );
      serial += 1;
    }
    this.#sql.exec("UPDATE counters SET next_serial = ? WHERE id = 1", serial);
    this.#sql.exec(
      "UPDATE orders SET status = 'confirmed', hold_expires_at = NULL, payment_ref = ?, updated_at = ? WHERE id = ?",
      request.paymentRef ?? null,
      now,
      order.id,
    );
    const confirmed = this.#order(order.id) as OrderRow;
    this.#emitOrder(confirmed);
    const tickets = this.#ticketsOf(order.id);
    for (const ticket of tickets) this.#emitTicket(ticket);
    const contact = JSON.parse(confirmed.contact) as Contact | null;
    if (contact) {
      this.#emit("email", {
        id: `order-confirmed:${order.id}`,
        to: contact.email,
        template: "order-confirmed",
        data: {
          name: contact.name,
          eventId: event.eventId,
          eventTitle: event.title,
          startsAt: event.startsAt,
          orderId: order.id,
          serials: tickets.map((t) => t.serial),
        },
      });
    }
    return ok({ order: this.#toOrder(confirmed), tickets: tickets.map((t) => this.#toTicket(t)) });
  }

  /** Releases a pending hold (buyer cancelled, checkout expired). Confirmed orders are not holds. */
  async release(request: { orderId: string; reason: string }): Promise<InventoryResult<InventoryOrder>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<InventoryOrder> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      if (order.status === "confirmed") return fail("already-paid", "The order is already confirmed.");
      if (order.status === "held") {
        this.#sql.exec("UPDATE orders SET status = 'released', updated_at = ? WHERE id = ?", now, order.id);
        const released = this.#order(order.id) as OrderRow;
        this.#emitOrder(released);
        return ok(this.#toOrder(released));
      }
      return ok(this.#toOrder(order));
    });
    // Even a refusal may have committed something (a lapsed hold marked expired): push it too.
    await this.#afterCommit();
    return result;
  }

  /**
   * Voids the tickets of one confirmed order (an attendee giving back a free ticket): capacity
   * returns at once. Paid orders go through refunds instead.
   */
  async voidTickets(request: { orderId: string; reason: string }): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<OrderWithTickets> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      if (order.status === "cancelled") return ok(this.#withTickets(order));
      if (order.status !== "confirmed") return fail("invalid-transition", "Only a confirmed order has tickets.");
      if (order.amount > 0) return fail("already-paid", "Paid tickets are refunded, not voided.");
      this.#voidOrder(order, now);
      return ok(this.#withTickets(this.#order(order.id) as OrderRow));
    });
    // Even a refusal may have committed something (a lapsed hold marked expired): push it too.
    await this.#afterCommit();
    return result;
  }

  // ---------------------------------------------------------------- payments: refunds and checkout retries
  // A refund we decide goes reserveRefund → Stripe → refund (or releaseRefund if Stripe refuses for
  // good). The reservation is what makes "used" and "refunded" exclusive: it checks that no ticket of
  // the order was admitted and takes the tickets out of reach of the gate in one transaction, before
  // any money moves, and a scan of a reserved ticket is refused (refund_pending).

  /**
   * Reserves a paid order's refund before Stripe is asked: refused (ticket-redeemed) if a ticket of
   * the order was admitted; otherwise its active tickets become `refunding` (still sold, no longer
   * admissible). A cancelled event's orders are refunded whatever happened at the gate: the host called
   * the event off. An order without live tickets (a late payment's, a cancelled event's) has nothing
   * to reserve. Idempotent.
   */
  async reserveRefund(request: { orderId: string }): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<OrderWithTickets> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      if (order.status === "refunded" || order.status === "refunded_sold_out") return ok(this.#withTickets(order));
      if (order.amount === 0) return fail("invalid-transition", "A free order has nothing to refund.");
      if (order.status !== "confirmed") return ok(this.#withTickets(order));
      const used = this.#sql
        .exec<{ n: number }>("SELECT COUNT(*) AS n FROM tickets WHERE order_id = ? AND status = 'redeemed'", order.id)
        .one().n;
      if (used > 0 && this.#snapshot?.status !== "cancelled") {
        return fail("ticket-redeemed", "A ticket of this order was already used at the gate.");
      }
      const reserved = this.#sql
        .exec<TicketRow>(
          "UPDATE tickets SET status = 'refunding', updated_at = ? WHERE order_id = ? AND status = 'active' RETURNING *",
          now,
          order.id,
        )
        .toArray();
      for (const ticket of reserved) this.#emitTicket(ticket);
      return ok(this.#withTickets(order));
    });
    await this.#afterCommit();
    return result;
  }

  /**
   * Stripe refused a reserved refund for good (nothing went back): the order's `refunding` tickets are
   * active again. A finished refund, or a ticket voided meanwhile (event cancelled), stays as it is.
   */
  async releaseRefund(request: { orderId: string }): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<OrderWithTickets> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      const released = this.#sql
        .exec<TicketRow>(
          "UPDATE tickets SET status = 'active', updated_at = ? WHERE order_id = ? AND status = 'refunding' RETURNING *",
          now,
          order.id,
        )
        .toArray();
      for (const ticket of released) this.#emitTicket(ticket);
      return ok(this.#withTickets(order));
    });
    await this.#afterCommit();
    return result;
  }

  /**
   * Records that a paid order's money went back: its active or refunding tickets are voided and its
   * seats freed in the same transaction. Not a decision (reserveRefund made ours before Stripe was
   * asked; a refund from Stripe's dashboard is a fact): a ticket already admitted stays redeemed.
   * `refunded_sold_out` is for a payment that landed after its hold lapsed with no seats left: the order
   * never had tickets. Idempotent: a refunded order answers as it is.
   */
  async refund(request: RefundRequest): Promise<InventoryResult<OrderWithTickets>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<OrderWithTickets> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      if (order.status === "refunded" || order.status === "refunded_sold_out") return ok(this.#withTickets(order));
      if (order.amount === 0) return fail("invalid-transition", "A free order has nothing to refund.");
      if (request.outcome === "refunded_sold_out" && order.status === "confirmed") {
        return fail("invalid-transition", "The order holds tickets: it was not sold out.");
      }
      this.#sql.exec(
        "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status IN ('active', 'refunding')",
        now,
        order.id,
      );
      this.#sql.exec(
        "UPDATE orders SET status = ?, hold_expires_at = NULL, updated_at = ? WHERE id = ?",
        request.outcome,
        now,
        order.id,
      );
      const refunded = this.#order(order.id) as OrderRow;
      this.#emitOrder(refunded);
      for (const ticket of this.#ticketsOf(order.id)) this.#emitTicket(ticket);
      return ok(this.#withTickets(refunded));
    });
    await this.#afterCommit();
    return result;
  }

  /**
   * Extends a live hold to `expiresAt` (a buyer retrying checkout gets a fresh Checkout Session, which
   * Stripe wants to live at least 30 minutes). The seats are already counted, so capacity is unchanged;
   * a lapsed or settled hold cannot be revived here.
   */
  async extendHold(request: { orderId: string; expiresAt: number }): Promise<InventoryResult<InventoryOrder>> {
    const now = Date.now();
    const result = this.ctx.storage.transactionSync((): InventoryResult<InventoryOrder> => {
      const order = this.#order(request.orderId);
      if (!order) return fail("order-not-found", "No such order.");
      if (order.status === "confirmed") return fail("already-paid", "The order is already confirmed.");
      if (order.status !== "held" || (order.hold_expires_at ?? 0) <= now) {
        return fail("hold-expired", "The hold has expired; start a new order.");
      }
      if ((order.hold_expires_at ?? 0) < request.expiresAt) {
        this.#sql.exec(
          "UPDATE orders SET hold_expires_at = ?, updated_at = ? WHERE id = ?",
          request.expiresAt,
          now,
          order.id,
        );
        this.#emitOrder(this.#order(order.id) as OrderRow);
      }
      return ok(this.#toOrder(this.#order(order.id) as OrderRow));
    });
    await this.#afterCommit();
    return result;
  }

  // ---------------------------------------------------------------- gate: redemption, offline scans, live counts
  // Decisions: ./event-inventory-gate.ts and ./event-inventory-offline.ts (synchronous, inside
  // transactionSync). Sockets: ./event-inventory-live.ts.

  /**
   * An online scan of a verified token: first scan wins; the same device re-reading within the
   * repeat window gets the same admission; a nonce seen before gets its stored answer. Answers as
   * soon as the decision is stored: the D1 read model follows through the outbox, in the background.
   */
  async redeem(request: RedeemRequest): Promise<ScanAnswer | DeviceRevoked> {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const { answer, changed } = this.ctx.storage.transactionSync(() => redeemOnline(this.#gate(), request));
    if (changed) this.#projectScansSoon();
    return answer;
  }

  /** A scan push is due at the alarm set for it (reset when the alarm runs). */
  #scanPushDue = false;

  /**
   * After a committed scan: live viewers hear of it now; D1 gets it with every other scan of the
   * next LIMITS.gateProjectionDelayMs in one push, from the alarm. The alarm is durable, so the rows
   * reach D1 even if the object goes away meanwhile, and the scan's own call leaves nothing running
   * once it has answered. Moving an alarm that was due sooner (a hold expiry) by that much changes
   * nothing: availability never counts a lapsed hold, and the alarm re-arms for what is left.
   */
  #projectScansSoon(): void {
    this.#liveChanged();
    // While D1 refuses pushes, the backoff alarm already set carries these rows too.
    if (this.#scanPushDue || this.#pushFailures > 0) return;
    this.#scanPushDue = true;
    // Not awaited: the output gate holds the answer until the alarm is stored.
    void this.ctx.storage.setAlarm(Date.now() + LIMITS.gateProjectionDelayMs);
  }

  /** Logs a scan the Worker refused from its token alone (invalid, expired code, other event). */
  recordRejectedScan(request: RejectedScanRequest): ScanAnswer | DeviceRevoked {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    return this.ctx.storage.transactionSync(() => recordRejected(this.#gate(), request));
  }

  /** Offline scans of one device, applied in its time order; answers in the order given. */
  async syncOfflineScans(request: ScanningDevice & { scans: OfflineScan[] }): Promise<ScanAnswer[] | DeviceRevoked> {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const { answers, changed } = this.ctx.storage.transactionSync(() =>
      applyOffline(this.#gate(), request, request.scans),
    );
    if (changed) await this.#afterCommit();
    return answers;
  }

  /**
   * Revokes a device for this event: from now on every call it makes here answers DEVICE_REVOKED,
   * and its live sockets close. The host's revocation lands here before D1 (see
   * src/features/gate/devices.ts), so a Worker that still knows the device from its cache is
   * refused all the same. Idempotent.
   */
  revokeDevice(request: { deviceId: string }): { closedSockets: number } {
    this.ctx.storage.transactionSync(() => revokeDevice(this.#sql, request.deviceId, Date.now()));
    return { closedSockets: closeViewer(this.ctx, `device:${request.deviceId}`, "access revoked") };
  }

  /** Whether this object knows `deviceId` as revoked. */
  deviceRevoked(request: { deviceId: string }): boolean {
    return isRevoked(this.#sql, request.deviceId);
  }

  /** A page of tickets for offline checks (ids, status, redemption time: no personal data). */
  manifest(request: { afterSerial: number; limit: number; deviceId?: string }):
    | {
        generatedAt: number;
        checkInOpensAt: number | null;
        checkInClosesAt: number | null;
        eventStatus: EventStatus | null;
        tickets: ManifestTicket[];
        nextSerial: number | null;
      }
    | DeviceRevoked {
    if (request.deviceId !== undefined && isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const event = this.#snapshot;
    return {
      generatedAt: Date.now(),
      checkInOpensAt: event?.checkInOpensAt ?? null,
      checkInClosesAt: event?.checkInClosesAt ?? null,
      eventStatus: event?.status ?? null,
      ...manifestPage(this.#sql, request.afterSerial, request.limit),
    };
  }

  /** Scan totals by result, conflicts, and the live counts (`deviceId`: asked by that device). */
  gateStats(request: { deviceId?: string } = {}): (GateStats & LiveCounts) | DeviceRevoked {
    if (request.deviceId !== undefined && isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    return { ...gateStats(this.#sql), ...this.#liveCounts() };
  }

  /**
   * WebSocket upgrade for live counts; the Worker authorises the viewer before forwarding. A revoked
   * device viewer answers 401.
   */
  override async fetch(request: Request): Promise<Response> {
    const viewer = new URL(request.url).searchParams.get("viewer") ?? "";
    if (viewer.startsWith("device:") && isRevoked(this.#sql, viewer.slice("device:".length))) {
      return new Response("Device revoked", { status: 401 });
    }
    return acceptLive(this.ctx, request, this.#liveCounts());
  }

  override webSocketMessage(): void {
    // Viewers only listen; "ping" is answered by the runtime (setWebSocketAutoResponse).
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  #liveTimer: ReturnType<typeof setTimeout> | null = null;
  #liveSentAt = 0;

  #gate(): GateContext {
    return {
      sql: this.#sql,
      event: this.#snapshot,
      now: Date.now(),
      emitTicket: (row) => this.#emitTicket(row),
    };
  }

  #liveCounts(): LiveCounts {
    const { capacity, sold, held, remaining, checkedIn } = this.#availability(Date.now());
    const conflicts = this.#sql
      .exec<{ n: number }>("SELECT COUNT(DISTINCT ticket_id) AS n FROM gate_scans WHERE conflict = 1")
      .one().n;
    return { capacity, sold, held, remaining, checkedIn, conflicts };
  }

  /**
   * Something changed: push the counts to live viewers, at most once per LIMITS.liveCoalesceMs. The
   * check runs on every change, so a steady stream of scans still yields a message per interval; a
   * timer sends the final counts once the stream stops (timers alone can lag behind a busy object).
   */
  #liveChanged(): void {
    if (!hasLiveViewers(this.ctx)) return;
    const due = this.#liveSentAt + LIMITS.liveCoalesceMs;
    if (Date.now() >= due) {
      if (this.#liveTimer) clearTimeout(this.#liveTimer);
      this.#liveTimer = null;
      this.#liveBroadcast();
    } else {
      this.#liveTimer ??= setTimeout(() => {
        this.#liveTimer = null;
        this.#liveBroadcast();
      }, due - Date.now());
    }
  }

  #liveBroadcast(): void {
    this.#liveSentAt = Date.now();
    broadcastLive(this.ctx, this.#liveCounts());
  }

  /** Live counts; `sold + held + remaining = capacity` always holds. */
  stats(): Availability {
    return this.#availability(Date.now());
  }

  getOrder(orderId: string): OrderWithTickets | null {
    const order = this.#order(orderId);
    return order ? this.#withTickets(order) : null;
  }

  /** Pushes every pending outbox row to D1 now; resolves once D1 has them (or rejects). */
  async sync(): Promise<{ pending: number }> {
    await this.#push();
    return { pending: this.#outboxSize() };
  }

  /** Expires lapsed holds, retries the outbox push, and re-arms for whichever comes next. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#scanPushDue = false;
    this.ctx.storage.transactionSync(() => {
      const lapsed = this.#sql
        .exec<OrderRow>("SELECT * FROM orders WHERE status = 'held' AND hold_expires_at <= ?", now)
        .toArray();
      for (const order of lapsed) this.#expireOrder(order, now);
    });
    this.#liveChanged();
    try {
      await this.#push();
    } catch {
      // #push re-armed the alarm with backoff.
    }
    await this.#arm();
  }

  // ---------------------------------------------------------------- decisions (inside transactions)

  #adopt(snapshot: EventSnapshot, now: number): InventoryResult<Availability> {
    const current = this.#snapshot;
    // Older or the same: nothing to adopt (a version is never reused for other content).
    if (current && snapshot.version <= current.version) return ok(this.#availability(now));
    const availability = this.#availability(now);
    if (snapshot.status !== "cancelled" && snapshot.capacity < availability.sold + availability.held) {
      return fail(
        "capacity-below-sold",
        `Capacity cannot drop below the ${availability.sold} sold and ${availability.held} held ticket(s).`,
      );
    }
    this.#sql.exec(
      "INSERT INTO snapshot (id, json, version) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET json = excluded.json, version = excluded.version",
      JSON.stringify(snapshot),
      snapshot.version,
    );
    this.#snapshot = snapshot;
    if (snapshot.status === "cancelled" && current?.status !== "cancelled") this.#cancelEverything(now);
    return ok(this.#availability(now));
  }

  #salesGate(event: EventSnapshot, now: number): InventoryResult<never> | null {
    if (event.status !== "published") return fail("not-on-sale", "The event is not on sale.");
    if (now >= event.startsAt) return fail("event-started", "The event has already started.");
    if (event.salesStartAt !== null && now < event.salesStartAt)
      return fail("not-on-sale", "Sales have not opened yet.");
    if (event.salesEndAt !== null && now >= event.salesEndAt) return fail("not-on-sale", "Sales have closed.");
    return null;
  }

  /** Tickets the user holds or has bought (active, used or being refunded) plus their unexpired holds. */
  #ownedBy(userId: string, now: number): number {
    const tickets = this.#sql
      .exec<{ n: number }>(
        "SELECT COUNT(*) AS n FROM tickets WHERE user_id = ? AND status IN ('active', 'redeemed', 'refunding')",
        userId,
      )
      .one().n;
    const held = this.#sql
      .exec<{ n: number | null }>(
        "SELECT SUM(quantity) AS n FROM orders WHERE user_id = ? AND status = 'held' AND hold_expires_at > ?",
        userId,
        now,
      )
      .one().n;
    return tickets + (held ?? 0);
  }

  /**
   * Sold and checked-in tickets as the triggers keep them (see migrateTicketCounts: no scan of the
   * tickets, however many were sold) and unexpired holds, so an expired hold frees capacity before
   * cleanup.
   */
  #availability(now: number): Availability {
    const capacity = this.#snapshot?.capacity ?? 0;
    const counts = this.#sql
      .exec<{ sold: number; checked_in: number }>("SELECT sold, checked_in FROM ticket_counts WHERE id = 1")
      .one();
    const held =
      this.#sql
        .exec<{ n: number | null }>(
          "SELECT SUM(quantity) AS n FROM orders WHERE status = 'held' AND hold_expires_at > ?",
          now,
        )
        .one().n ?? 0;
    return {
      capacity,
      sold: counts.sold,
      held,
      remaining: Math.max(0, capacity - counts.sold - held),
      checkedIn: counts.checked_in,
    };
  }

  #expireOrder(order: OrderRow, now: number): void {
    this.#sql.exec(
      "UPDATE orders SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'held'",
      now,
      order.id,
    );
    this.#emitOrder(this.#order(order.id) as OrderRow);
  }

  #voidOrder(order: OrderRow, now: number): void {
    this.#sql.exec(
      "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status = 'active'",
      now,
      order.id,
    );
    this.#sql.exec("UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ?", now, order.id);
    this.#emitOrder(this.#order(order.id) as OrderRow);
    for (const ticket of this.#ticketsOf(order.id)) this.#emitTicket(ticket);
  }

  #cancelEverything(now: number): void {
    const held = this.#sql.exec<OrderRow>("SELECT * FROM orders WHERE status = 'held'").toArray();
    for (const order of held) {
      this.#sql.exec("UPDATE orders SET status = 'released', updated_at = ? WHERE id = ?", now, order.id);
      this.#emitOrder(this.#order(order.id) as OrderRow);
    }
    const event = this.#snapshot;
    const confirmed = this.#sql.exec<OrderRow>("SELECT * FROM orders WHERE status = 'confirmed'").toArray();
    for (const order of confirmed) {
      // A refund in flight (refunding) ends the same way: void, its money on the way back.
      this.#sql.exec(
        "UPDATE tickets SET status = 'void', updated_at = ? WHERE order_id = ? AND status IN ('active', 'refunding')",
        now,
        order.id,
      );
      for (const ticket of this.#ticketsOf(order.id)) this.#emitTicket(ticket);
      const contact = JSON.parse(order.contact) as Contact | null;
      if (contact) {
        this.#emit("email", {
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
        });
      }
      // Paid orders stay "confirmed" here: the refund (payments) moves them on.
      if (order.amount === 0) {
        this.#sql.exec("UPDATE orders SET status = 'cancelled', updated_at = ? WHERE id = ?", now, order.id);
        this.#emitOrder(this.#order(order.id) as OrderRow);
      }
    }
  }

  // ---------------------------------------------------------------- rows and outbox

  #order(id: string): OrderRow | null {
    return this.#sql.exec<OrderRow>("SELECT * FROM orders WHERE id = ?", id).toArray()[0] ?? null;
  }

  #ticketsOf(orderId: string): TicketRow[] {
    return this.#sql.exec<TicketRow>("SELECT * FROM tickets WHERE order_id = ? ORDER BY serial", orderId).toArray();
  }

  #withTickets(order: OrderRow): OrderWithTickets {
    return { order: this.#toOrder(order), tickets: this.#ticketsOf(order.id).map((t) => this.#toTicket(t)) };
  }

  #toOrder(row: OrderRow): InventoryOrder {
    return {
      id: row.id,
      eventId: this.#snapshot?.eventId ?? "",
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

  #toTicket(row: TicketRow): InventoryTicket {
    return {
      id: row.id,
      eventId: this.#snapshot?.eventId ?? "",
      orderId: row.order_id,
      userId: row.user_id,
      serial: row.serial,
      status: row.status,
      redeemedAt: row.redeemed_at ?? null,
      createdAt: row.created_at,
    };
  }

  #emitOrder(row: OrderRow): void {
    this.#emit("order", this.#toOrder(row));
  }

  #emitTicket(row: TicketRow): void {
    this.#emit("ticket", this.#toTicket(row));
  }

  /** Appends an outbox row; `seq` orders projections so a replay never overwrites newer state. */
  #emit(kind: InventoryOutboxRow["kind"], payload: unknown): void {
    this.#sql.exec(
      "INSERT INTO outbox (kind, payload, created_at) VALUES (?, ?, ?)",
      kind,
      JSON.stringify(payload),
      Date.now(),
    );
  }

  #outboxSize(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  /**
   * After a committed change: push the outbox so the caller reads its own write from D1, and arm the
   * alarm (hold expiry, push retry). A failed push does not fail the call: the state is committed
   * here, and the alarm retries until D1 has it.
   */
  async #afterCommit(): Promise<void> {
    this.#liveChanged();
    try {
      await this.#push();
    } catch {
      // #drain armed a retry.
    }
    await this.#arm();
  }

  /**
   * Pushes outbox rows to D1. Concurrent callers share one push: a caller that arrives while a push
   * is running waits for the next one, which starts after it and includes every row committed so far.
   */
  #push(): Promise<void> {
    if (this.#nextPush) return this.#nextPush;
    const previous = this.#inflightPush ?? Promise.resolve();
    // .then runs after this assignment, so #nextPush is set before the push can clear it.
    const next: Promise<void> = previous
      .catch(() => undefined)
      .then(() => {
        if (this.#nextPush === next) this.#nextPush = null;
        const run = this.#drain();
        this.#inflightPush = run;
        return run.finally(() => {
          if (this.#inflightPush === run) this.#inflightPush = null;
        });
      });
    this.#nextPush = next;
    return next;
  }

  async #drain(): Promise<void> {
    // From the config module, as the Worker reads it: ENVIRONMENT unset is production, here too.
    const production = readEnvironment(this.env) === "production";
    // Only what was committed before this push started: rows written meanwhile belong to the next
    // push, so under a steady stream of orders no caller waits for a lull.
    const upTo = this.#sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM outbox").one().seq ?? 0;
    for (;;) {
      const rows = this.#sql
        .exec<InventoryOutboxRow>(
          "SELECT seq, kind, payload FROM outbox WHERE seq <= ? ORDER BY seq LIMIT ?",
          upTo,
          OUTBOX_BATCH,
        )
        .toArray();
      if (rows.length === 0) {
        this.#pushFailures = 0;
        return;
      }
      try {
        // The same batch marks the new emails queued; rows already queued are not marked again, so
        // a replayed push sends nothing twice (the cron sweep covers a failed hand-off).
        const queuedAt = Date.now();
        const results = await this.env.DB.batch(
          projectionStatements(this.env.DB, rows, { mirrorDevMailbox: !production, queuedAt }),
        );
        await handOverQueued(this.env.DB, this.env.EMAIL_QUEUE, insertedOutboxIds(results), queuedAt);
      } catch (error) {
        this.#pushFailures += 1;
        const delay = PUSH_RETRY_MS[Math.min(this.#pushFailures - 1, PUSH_RETRY_MS.length - 1)] as number;
        await this.#arm(Date.now() + delay);
        throw error;
      }
      const last = rows[rows.length - 1] as InventoryOutboxRow;
      this.#sql.exec("DELETE FROM outbox WHERE seq <= ?", last.seq);
    }
  }

  /** The alarm fires at the earliest of: the next hold expiry, an outbox retry. */
  async #arm(retryAt?: number): Promise<void> {
    const nextHold = this.#sql
      .exec<{ at: number | null }>("SELECT MIN(hold_expires_at) AS at FROM orders WHERE status = 'held'")
      .one().at;
    const candidates = [nextHold, retryAt, this.#outboxSize() > 0 ? Date.now() + OUTBOX_SAFETY_NET_MS : null].filter(
      (v): v is number => typeof v === "number",
    );
    if (candidates.length === 0) return;
    const at = Math.min(...candidates);
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at || current < Date.now()) await this.ctx.storage.setAlarm(at);
  }
}
