/**
 * D1 tables of the payments feature (drizzle). Kept apart from schema.ts so features do not edit each
 * other's tables; drizzle.config.ts globs every src/db/schema*.ts. docs/storage.md describes them.
 * Money is integer minor units plus an upper-case ISO 4217 currency; times are epoch milliseconds
 * except `stripe_events.created`, which is Stripe's own (seconds).
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Every Checkout Session created for an order. A buyer retrying after a declined card gets a new
 * attempt (and with it a new Stripe idempotency key); the previous session is expired first.
 */
export const checkoutSessions = sqliteTable(
  "checkout_sessions",
  {
    /** Stripe's `cs_…`. */
    id: text("id").primaryKey(),
    orderId: text("order_id").notNull(),
    attempt: integer("attempt").notNull(),
    eventId: text("event_id").notNull(),
    userId: text("user_id").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    url: text("url"),
    /** `checkout:<order>:<amount>:<currency>:<attempt>` (from attempt 2: `:until:<hold end, s>`), as sent to Stripe. */
    idempotencyKey: text("idempotency_key").notNull(),
    status: text("status", { enum: ["open", "complete", "expired"] }).notNull(),
    /** Stripe's `payment_status` as last seen: unpaid | paid | no_payment_required. */
    paymentStatus: text("payment_status").notNull().default("unpaid"),
    /** Stripe's `expires_at` (ms); the hold behind it lasts as long. */
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
    /**
     * When its capture was seen through: the order confirmed with the payment recorded, or its refund
     * queued (a late payment, a mismatch, a lost order). Null while complete but not yet applied.
     */
    appliedAt: integer("applied_at"),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("checkout_sessions_order_attempt").on(t.orderId, t.attempt),
    index("checkout_sessions_status_expires").on(t.status, t.expiresAt),
    // The hourly reconciliation's look for captures not seen through (src/features/payments/reconcile.ts).
    index("checkout_sessions_unapplied")
      .on(t.expiresAt)
      .where(sql`${t.status} = 'complete' AND ${t.appliedAt} IS NULL`),
  ],
);

/**
 * Money captured: one row per Stripe PaymentIntent (unique, so a re-delivered or reconciled payment is
 * recorded once). Revenue = amount − amount_refunded.
 */
export const payments = sqliteTable(
  "payments",
  {
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull().unique(),
    orderId: text("order_id").notNull(),
    eventId: text("event_id").notNull(),
    userId: text("user_id").notNull(),
    checkoutSessionId: text("checkout_session_id"),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    /** Cumulative, as Stripe reports it on the charge (only ever grows). */
    amountRefunded: integer("amount_refunded").notNull().default(0),
    status: text("status", { enum: ["succeeded", "partially_refunded", "refunded"] }).notNull(),
    /** Set when a dispute (chargeback) is opened: the order is flagged and the host told. */
    disputedAt: integer("disputed_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("payments_event").on(t.eventId), index("payments_order").on(t.orderId)],
);

/**
 * Refunds we ask Stripe for (sold out after a late payment, event cancelled, attendee request,
 * duplicate payment): at most one per payment, each sent with its own idempotency key, processed from
 * WEBHOOK_QUEUE with the webhook retry schedule. Partial refunds made in Stripe's dashboard only show up
 * as `payments.amount_refunded`.
 */
export const refunds = sqliteTable(
  "refunds",
  {
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull().unique(),
    orderId: text("order_id").notNull(),
    eventId: text("event_id").notNull(),
    reason: text("reason", {
      enum: ["sold-out", "event-cancelled", "requested", "order-cancelled", "duplicate-payment", "checkout-mismatch"],
    }).notNull(),
    /** What the order becomes once the money is back: refunded | refunded_sold_out | none (duplicates). */
    orderOutcome: text("order_outcome", { enum: ["refunded", "refunded_sold_out", "none"] }).notNull(),
    /** `refund:<payment intent>`: a retried call can never refund twice. */
    idempotencyKey: text("idempotency_key").notNull(),
    status: text("status", { enum: ["pending", "succeeded", "dead_letter"] }).notNull(),
    stripeRefundId: text("stripe_refund_id"),
    /** What Stripe refunded (null when the charge had already been refunded elsewhere). */
    amount: integer("amount"),
    /** Failed attempts so far (the retry schedule's position). */
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    /** The next attempt is due then (a message arriving earlier is a chained delay, not a try). */
    nextAttemptAt: integer("next_attempt_at"),
    /** Last hand-over to the queue; the sweep re-sends a row whose message is long overdue. */
    queuedAt: integer("queued_at"),
    /** Random marker of the attempt that recorded success; the refund email is conditioned on it. */
    settledBy: text("settled_by"),
    createdAt: integer("created_at").notNull(),
    completedAt: integer("completed_at"),
  },
  (t) => [index("refunds_status_next").on(t.status, t.nextAttemptAt), index("refunds_event").on(t.eventId)],
);

/**
 * Paid Checkout Sessions that were not what we sold (another amount or currency, the other Stripe mode,
 * or not the session we created for the order they name): never fulfilled, refunded (reason
 * `checkout-mismatch`), kept here for operators. One row per session, so a re-delivered or reconciled
 * capture flags it once.
 */
export const checkoutMismatches = sqliteTable(
  "checkout_mismatches",
  {
    /** Stripe's `cs_…`. */
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull().unique(),
    /** The order the session was created for (our row) or, for a session we never created, the one it names. */
    orderId: text("order_id").notNull(),
    eventId: text("event_id").notNull(),
    /** Whether `checkout_sessions` holds this session (false: it only claims the order). */
    ours: integer("ours", { mode: "boolean" }).notNull(),
    /** JSON array of what differed: `session-order`, `amount`, `currency`, `livemode`. */
    reasons: text("reasons").notNull(),
    /** What Stripe captured (currency upper-cased) … */
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    /** … and what the order costs. */
    expectedAmount: integer("expected_amount").notNull(),
    expectedCurrency: text("expected_currency").notNull(),
    /** The session's mode as Stripe sent it; null when the event and its session disagreed. */
    livemode: integer("livemode", { mode: "boolean" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("checkout_mismatches_created").on(t.createdAt)],
);

/**
 * The webhook inbox: every verified Stripe event, keyed by Stripe's event id (a re-delivery is a
 * no-op). The queue message only names the row; the row is the truth, and holds the raw payload so a
 * retry or an admin replay processes exactly what Stripe signed.
 */
export const stripeEvents = sqliteTable(
  "stripe_events",
  {
    /** Stripe's `evt_…`. */
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    /** The Stripe object the event is about (session, charge, dispute): the ordering key. */
    objectId: text("object_id").notNull(),
    /** Stripe's `created` (seconds). */
    created: integer("created").notNull(),
    livemode: integer("livemode", { mode: "boolean" }).notNull(),
    payload: text("payload").notNull(),
    status: text("status", { enum: ["received", "processed", "skipped", "ignored", "dead_letter"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    nextAttemptAt: integer("next_attempt_at"),
    queuedAt: integer("queued_at"),
    receivedAt: integer("received_at").notNull(),
    processedAt: integer("processed_at"),
  },
  (t) => [
    index("stripe_events_status_next").on(t.status, t.nextAttemptAt),
    index("stripe_events_received").on(t.receivedAt),
  ],
);

/**
 * Per Stripe object, the newest event applied to it: an older event arriving later (Stripe does not
 * promise order) is recorded as skipped instead of rolling the object back.
 */
export const stripeObjectCursors = sqliteTable("stripe_object_cursors", {
  objectId: text("object_id").primaryKey(),
  /** `created` (seconds) of the newest applied event. */
  lastCreated: integer("last_created").notNull(),
  lastEventId: text("last_event_id").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Disputes (chargebacks) opened against a payment: the order is flagged and its host emailed once. */
export const paymentDisputes = sqliteTable(
  "payment_disputes",
  {
    /** Stripe's `dp_…`. */
    id: text("id").primaryKey(),
    paymentIntent: text("payment_intent").notNull(),
    orderId: text("order_id").notNull(),
    eventId: text("event_id").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    reason: text("reason").notNull(),
    status: text("status").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("payment_disputes_event").on(t.eventId)],
);

/**
 * An event's own refund policy, set by its host; events without a row use the default
 * (REFUND_CUTOFF_HOURS, 48 h before the start).
 */
export const refundPolicies = sqliteTable("refund_policies", {
  eventId: text("event_id").primaryKey(),
  /** False: attendees cannot ask for refunds at all (a host cancelling still refunds everyone). */
  refundable: integer("refundable", { mode: "boolean" }).notNull(),
  cutoffHours: integer("cutoff_hours").notNull(),
  updatedAt: integer("updated_at").notNull(),
});
