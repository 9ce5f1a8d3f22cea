/**
 * Whether a paid Checkout Session is what we sold, and what happens when it is not. A capture is
 * fulfilled only if the session is the one we created for the order (our `checkout_sessions` row, and
 * the session names that order and event in `client_reference_id` and `metadata`), it captured the
 * order's amount in the order's currency, and it lives in the Stripe mode of our key. Anything else is
 * never fulfilled: the money goes back (one refund job per payment, so once however often Stripe
 * re-delivers), and the session is flagged — a row operators read, an audit entry and a warning.
 */
import type { InventoryOrder } from "../../../durable-objects/event-inventory/contract";
import { log } from "../../lib/log";
import { auditStatement } from "../audit";
import type { PaymentsDeps } from "./deps";
import { queueRefunds } from "./refunds";

export type MismatchReason = "session-order" | "amount" | "currency" | "livemode";

/** What a session says about itself, as Stripe sent it. */
export interface SessionClaims {
  referenceId: string | null;
  orderId: string | null;
  eventId: string | null;
  /** The session's `livemode`; null when the webhook event and its session disagree (trust neither). */
  livemode: boolean | null;
}

/** Our own record of a session (`checkout_sessions`), if we created it. */
export interface OwnSession {
  order_id: string;
  event_id: string;
}

export function ownSession(db: D1Database, sessionId: string): Promise<OwnSession | null> {
  return db
    .prepare("SELECT order_id, event_id FROM checkout_sessions WHERE id = ?")
    .bind(sessionId)
    .first<OwnSession>();
}

/**
 * Everything that differs between a captured session and the order it would confirm; empty: fulfil.
 * `captured.currency` may come in Stripe's lower case; orders keep ISO upper case.
 */
export function mismatchesOf(input: {
  claims: SessionClaims;
  captured: { amount: number | null; currency: string };
  own: OwnSession | null;
  order: Pick<InventoryOrder, "id" | "eventId" | "amount" | "currency">;
  liveKey: boolean;
}): MismatchReason[] {
  const { claims, captured, own, order } = input;
  const reasons: MismatchReason[] = [];
  // Both names must agree with our row: Stripe shows either one in places, and a session whose
  // fields disagree was not made by createSession.
  if (
    own === null ||
    own.order_id !== order.id ||
    own.event_id !== order.eventId ||
    claims.referenceId !== order.id ||
    claims.orderId !== order.id ||
    claims.eventId !== order.eventId
  ) {
    reasons.push("session-order");
  }
  if (captured.amount !== order.amount) reasons.push("amount");
  if (captured.currency.toUpperCase() !== order.currency.toUpperCase()) reasons.push("currency");
  // A test-mode payment must never issue live tickets (and a live one never lands on a test deployment).
  if (claims.livemode !== input.liveKey) reasons.push("livemode");
  return reasons;
}

export interface Mismatch {
  sessionId: string;
  paymentIntent: string;
  /** The order the session was created for, or (not ours) the one it names. */
  order: InventoryOrder;
  own: boolean;
  reasons: MismatchReason[];
  captured: { amount: number | null; currency: string };
  livemode: boolean | null;
  /** What applied it: the Stripe event id, or `reconcile` (kept as the audit entry's request id). */
  origin: string;
}

/**
 * Refunds and flags a mismatched capture. The refund job comes first: from there on the money goes
 * back even if this attempt dies (the event is retried, and every step is idempotent). The flag row
 * and its audit entry are one batch, the entry conditioned on this call having inserted the row, so
 * a re-delivery adds neither twice. The hold is the caller's to release.
 */
export async function refundMismatch(deps: PaymentsDeps, m: Mismatch): Promise<void> {
  const { order } = m;
  await queueRefunds(deps, [
    {
      paymentIntent: m.paymentIntent,
      orderId: order.id,
      eventId: order.eventId,
      reason: "checkout-mismatch",
      // The order never stood on this payment: refunding it must not touch the order.
      outcome: "none",
    },
  ]);
  const now = Date.now();
  const amount = m.captured.amount ?? 0;
  const currency = m.captured.currency.toUpperCase();
  const detail = {
    sessionId: m.sessionId,
    paymentIntent: m.paymentIntent,
    orderId: order.id,
    eventId: order.eventId,
    own: m.own,
    reasons: m.reasons,
    captured: { amount, currency, livemode: m.livemode },
    expected: { amount: order.amount, currency: order.currency },
  };
  await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO checkout_mismatches (id, payment_intent, order_id, event_id, ours, reasons, amount, currency,
           expected_amount, expected_currency, livemode, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      )
      .bind(
        m.sessionId,
        m.paymentIntent,
        order.id,
        order.eventId,
        m.own ? 1 : 0,
        JSON.stringify(m.reasons),
        amount,
        currency,
        order.amount,
        order.currency,
        m.livemode === null ? null : m.livemode ? 1 : 0,
        now,
      ),
    await auditStatement(
      deps.db,
      deps.config,
      { requestId: m.origin, ip: null, userAgent: null },
      { action: "payments.checkout-mismatch", outcome: "denied", userId: order.userId, detail },
      now,
      // changes(): what the flag insert just before it in this batch did (1: this call flagged the
      // session). A racing duplicate may share `now`, so a created_at match would not tell them apart.
      { sql: "changes() = 1", bindings: [] },
    ),
  ]);
  log("warn", "paid checkout session does not match its order: not fulfilled, refunding", detail);
}

/** Whether a payment intent was flagged here (refunded, never recorded as a payment). */
export async function isFlagged(db: D1Database, paymentIntent: string): Promise<boolean> {
  return (
    (await db.prepare("SELECT 1 FROM checkout_mismatches WHERE payment_intent = ?").bind(paymentIntent).first()) !==
    null
  );
}
