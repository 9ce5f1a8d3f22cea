/**
 * D1 tables of money for hosts and creators (drizzle): Stripe Connect accounts for payouts, tips, and
 * the Pro subscription with its Stripe customer. docs/storage.md describes them. Money is integer minor
 * units plus an upper-case ISO 4217 currency; times are epoch milliseconds except the `stripe_*_created`
 * columns, which are Stripe's own event times (seconds) used to order webhooks per object.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "./schema";

/**
 * A host's or creator's Stripe Connect (Express) account. The row is inserted before Stripe is called,
 * and the account is created with an idempotency key derived from the user id, so a crash between the
 * two never makes a second account: the retry gets the same one back and fills `stripe_account_id`.
 */
export const payoutAccounts = sqliteTable(
  "payout_accounts",
  {
    userId: text("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Stripe's `acct_…`; null until Stripe has answered the create. */
    stripeAccountId: text("stripe_account_id"),
    chargesEnabled: integer("charges_enabled", { mode: "boolean" }).notNull().default(false),
    payoutsEnabled: integer("payouts_enabled", { mode: "boolean" }).notNull().default(false),
    detailsSubmitted: integer("details_submitted", { mode: "boolean" }).notNull().default(false),
    /** JSON: Stripe's `requirements` (currently_due, past_due, disabled_reason) as last seen. */
    requirements: text("requirements").notNull().default("{}"),
    /** `created` (seconds) of the newest `account.updated` applied: older events never roll it back. */
    stripeEventCreated: integer("stripe_event_created").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("payout_accounts_stripe").on(t.stripeAccountId)],
);

export const TIP_STATUSES = ["pending", "succeeded", "failed", "refunded", "partially_refunded", "disputed"] as const;

/**
 * A tip from a fan (signed in, or a guest with an email) to a creator, paid on the creator's connected
 * account. The row is inserted in the same batch that finds the creator, before Stripe is called.
 */
export const tips = sqliteTable(
  "tips",
  {
    id: text("id").primaryKey(),
    /** The creator; set null if their account is erased (the payment record stays for accounting). */
    recipientId: text("recipient_id").references(() => users.id, { onDelete: "set null" }),
    /** The fan when signed in; null for a guest or once their account is erased. */
    senderId: text("sender_id").references(() => users.id, { onDelete: "set null" }),
    /** A guest's email for the receipt (personal data: see docs/privacy.md once it exists). */
    guestEmail: text("guest_email"),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    /** Plain text, ≤ 280 characters, shown to the creator escaped. */
    message: text("message"),
    status: text("status", { enum: TIP_STATUSES }).notNull(),
    /** Platform fee taken (`application_fee_amount`). */
    feeAmount: integer("fee_amount").notNull().default(0),
    stripeAccountId: text("stripe_account_id").notNull(),
    checkoutSessionId: text("checkout_session_id"),
    paymentIntent: text("payment_intent"),
    checkoutUrl: text("checkout_url"),
    /** Cumulative, as Stripe reports it (only ever grows). */
    refundedAmount: integer("refunded_amount").notNull().default(0),
    refundedAt: integer("refunded_at"),
    /** The client's Idempotency-Key scope and key, also sent to Stripe (derived). */
    idempotencyKey: text("idempotency_key").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("tips_idempotency").on(t.idempotencyKey),
    uniqueIndex("tips_checkout_session").on(t.checkoutSessionId),
    uniqueIndex("tips_payment_intent").on(t.paymentIntent),
    index("tips_recipient_created").on(t.recipientId, t.createdAt),
    index("tips_sender_created").on(t.senderId, t.createdAt),
    index("tips_status_created").on(t.status, t.createdAt),
    check(
      "tips_sender_or_guest",
      sql`${t.senderId} IS NOT NULL OR ${t.guestEmail} IS NOT NULL OR ${t.status} <> 'pending'`,
    ),
    check("tips_refunded_le_amount", sql`${t.refundedAmount} <= ${t.amount}`),
  ],
);

/** A user's Stripe customer, created once (row first, Stripe idempotency key derived from the user id). */
export const billingCustomers = sqliteTable(
  "billing_customers",
  {
    userId: text("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Stripe's `cus_…`; null until Stripe has answered the create. */
    stripeCustomerId: text("stripe_customer_id"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [uniqueIndex("billing_customers_stripe").on(t.stripeCustomerId)],
);

export const SUBSCRIPTION_STATUSES = [
  "active",
  "trialing",
  "past_due",
  "unpaid",
  "canceled",
  "incomplete",
  "incomplete_expired",
  "paused",
] as const;

/**
 * A user's Pro subscription as Stripe last told us. Webhooks apply only when their event time is newer
 * than `stripe_event_created` (an older event never overwrites a newer state), and every update is
 * guarded by `version` (optimistic locking). Entitlements derive from `status` (src/config).
 */
export const subscriptions = sqliteTable(
  "subscriptions",
  {
    /** Stripe's `sub_…`. */
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    stripeCustomerId: text("stripe_customer_id").notNull(),
    priceId: text("price_id").notNull(),
    status: text("status", { enum: SUBSCRIPTION_STATUSES }).notNull(),
    currentPeriodEnd: integer("current_period_end"),
    cancelAtPeriodEnd: integer("cancel_at_period_end", { mode: "boolean" }).notNull().default(false),
    stripeEventCreated: integer("stripe_event_created").notNull().default(0),
    version: integer("version").notNull().default(1),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("subscriptions_user").on(t.userId), index("subscriptions_status").on(t.status)],
);

/** When each hourly reconciliation last finished (`tips`, `subscriptions`, `payouts`): /health reports its age. */
export const reconciliationRuns = sqliteTable("reconciliation_runs", {
  name: text("name").primaryKey(),
  finishedAt: integer("finished_at").notNull(),
  /** JSON: what the run looked at and fixed. */
  summary: text("summary").notNull().default("{}"),
});
