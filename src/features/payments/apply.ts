/**
 * What each Stripe event does. Every handler is idempotent on its own (the inventory's state machine,
 * unique payment intents, one refund job per payment, deterministic email ids), so a duplicate or a
 * racing delivery is harmless; per-object ordering only keeps an old snapshot from rolling an object
 * back. Money decides: a captured payment is never skipped and never kept without a ticket — it either
 * confirms its order or is refunded.
 */

import type { RowOf } from "../../db/rows";
import type { payments } from "../../db/schema-payments";
import { randomId } from "../../lib/crypto";
import { log } from "../../lib/log";
import { openEmail, openName } from "../auth";
import { emailStatements, enqueueCommitted } from "../email";
import { inventoryOf } from "../events";
import { applyAccountUpdated, applyBillingEvent, isBillingEvent } from "../money";
import { notificationInsert } from "../social";
import type { PaymentsDeps } from "./deps";
import { cursorOf, eventOf, type InboxRow } from "./inbox";
import { isFlagged, mismatchesOf, ownSession, refundMismatch, type SessionClaims } from "./mismatch";
import { queueRefunds, type RefundJob } from "./refunds";
import { idOf, isLiveKey, type Stripe } from "./stripe";

export type ApplyOutcome = "processed" | "skipped" | "ignored";

/** A Checkout Session as far as capture and release need it (from a webhook or from the API). */
export interface SessionFacts {
  sessionId: string;
  orderId: string;
  eventId: string;
  paymentIntent: string | null;
  /** `amount_total`; null if Stripe sent none (never equal to an order's amount). */
  amount: number | null;
  currency: string;
  status: string | null;
  paymentStatus: string;
  /** What the session says it is for: a capture is checked against our own row before it confirms. */
  claims: SessionClaims;
}

function claimsOf(session: Stripe.Checkout.Session): SessionClaims {
  return {
    referenceId: session.client_reference_id ?? null,
    orderId: session.metadata?.orderId ?? null,
    eventId: session.metadata?.eventId ?? null,
    livemode: session.livemode,
  };
}

function facts(session: Stripe.Checkout.Session, orderId: string, eventId: string): SessionFacts {
  return {
    sessionId: session.id,
    orderId,
    eventId,
    paymentIntent: idOf(session.payment_intent),
    amount: session.amount_total ?? null,
    currency: (session.currency ?? "").toUpperCase(),
    status: session.status,
    paymentStatus: session.payment_status,
    claims: claimsOf(session),
  };
}

/** The session's facts, placed by what it names; null when it names no order of any kind. */
export function sessionFacts(session: Stripe.Checkout.Session): SessionFacts | null {
  const orderId = session.client_reference_id ?? session.metadata?.orderId;
  const eventId = session.metadata?.eventId;
  if (!orderId || !eventId) return null;
  return facts(session, orderId, eventId);
}

/**
 * A captured session's facts. One naming no order is still placed by our own row of it, if we have
 * one: a session of ours stripped of its names is checked (and refunded), not ignored.
 */
async function captureFacts(
  deps: PaymentsDeps,
  session: Stripe.Checkout.Session,
  eventLivemode: boolean,
): Promise<SessionFacts | null> {
  let placed = sessionFacts(session);
  if (!placed) {
    const own = await ownSession(deps.db, session.id);
    placed = own ? facts(session, own.order_id, own.event_id) : null;
  }
  if (!placed) return null;
  // The event and the session it carries say the same mode, or neither is believed.
  const livemode = eventLivemode === session.livemode ? session.livemode : null;
  return { ...placed, claims: { ...placed.claims, livemode } };
}

const CAPTURES = new Set(["checkout.session.completed", "checkout.session.async_payment_succeeded"]);

/** Applies one inbox row; throws on a failure worth retrying. */
export async function applyEvent(deps: PaymentsDeps, row: InboxRow): Promise<ApplyOutcome> {
  const event = eventOf(deps.config.pii, row);
  // The Pro subscription orders its events by its own stamp and version (money/subscription.ts).
  if (isBillingEvent(event)) return applyBillingEvent(deps, event);
  const handled = CAPTURES.has(event.type) || HANDLERS[event.type] !== undefined;
  if (!handled) return "ignored";
  if (!CAPTURES.has(event.type)) {
    // Stripe does not deliver in order: an event older than the newest one applied to its object is a
    // stale snapshot. Captures are exempt: money that arrived is honoured or refunded, whatever came first.
    const newest = await cursorOf(deps.db, row.object_id);
    if (newest !== null && newest > row.created) return "skipped";
    return (HANDLERS[event.type] as Handler)(deps, event);
  }
  const captured = await captureFacts(deps, event.data.object as Stripe.Checkout.Session, event.livemode);
  if (!captured) return "ignored";
  return applyCompletedSession(deps, captured, event.id);
}

type Handler = (deps: PaymentsDeps, event: Stripe.Event) => Promise<ApplyOutcome>;

const HANDLERS: Partial<Record<string, Handler>> = {
  "checkout.session.expired": (deps, event) => releaseFor(deps, event, "checkout-expired"),
  "checkout.session.async_payment_failed": (deps, event) => releaseFor(deps, event, "payment-failed"),
  "charge.refunded": (deps, event) => applyChargeRefunded(deps, event.data.object as Stripe.Charge),
  "charge.dispute.created": (deps, event) => applyDispute(deps, event.data.object as Stripe.Dispute),
  // A Connect event (it names the connected `account`): the payout flags, ordered per account.
  "account.updated": (deps, event) => applyAccountUpdated(deps.db, event.data.object as Stripe.Account, event.created),
};

async function releaseFor(deps: PaymentsDeps, event: Stripe.Event, reason: string): Promise<ApplyOutcome> {
  const facts = sessionFacts(event.data.object as Stripe.Checkout.Session);
  if (!facts) return "ignored";
  await applyReleasedSession(deps, facts, reason);
  return "processed";
}

/**
 * A session that completed. Paid (or nothing to pay): confirm the order with this payment intent and
 * record the payment; an asynchronous method still settling waits for `async_payment_succeeded`. Our
 * own row of the session decides which order it pays for; a session that is not exactly what we sold
 * for that order (see mismatch.ts) is refunded and flagged instead, and its hold released.
 * `origin`: the Stripe event id, or `reconcile`.
 */
export async function applyCompletedSession(
  deps: PaymentsDeps,
  session: SessionFacts,
  origin = "reconcile",
): Promise<ApplyOutcome> {
  const outcome = await settleCompletedSession(deps, session, origin);
  // Seen through (confirmed, or its refund queued): the hourly reconciliation stops looking at it. A
  // throw above leaves it unmarked, so a capture whose every retry failed is still found and applied.
  if (session.paymentStatus === "paid" && session.paymentIntent) {
    await deps.db
      .prepare("UPDATE checkout_sessions SET applied_at = ? WHERE id = ? AND applied_at IS NULL")
      .bind(Date.now(), session.sessionId)
      .run();
  }
  return outcome;
}

async function settleCompletedSession(
  deps: PaymentsDeps,
  session: SessionFacts,
  origin: string,
): Promise<ApplyOutcome> {
  const now = Date.now();
  await deps.db
    .prepare("UPDATE checkout_sessions SET status = 'complete', payment_status = ?, updated_at = ? WHERE id = ?")
    .bind(session.paymentStatus, now, session.sessionId)
    .run();
  if (session.paymentStatus !== "paid" || !session.paymentIntent) return "processed";
  const pi = session.paymentIntent;

  const own = await ownSession(deps.db, session.sessionId);
  // What the session names is only a claim; the order it was created for is ours to know.
  const s = own ? { ...session, orderId: own.order_id, eventId: own.event_id } : session;
  const inventory = inventoryOf(deps.inventory, s.eventId);
  const known = await inventory.getOrder(s.orderId);
  if (!known) {
    if (!own) {
      log("warn", "payment for an order this deployment does not know: ignored", { sessionId: s.sessionId });
      return "ignored";
    }
    log("error", "payment for a lost order: refunding", { sessionId: s.sessionId, orderId: s.orderId });
    await queueRefunds(deps, [job(s, pi, "order-cancelled", "none")]);
    return "processed";
  }
  const reasons = mismatchesOf({
    claims: s.claims,
    captured: s,
    own,
    order: known.order,
    liveKey: isLiveKey(deps.payments.secretKey),
  });
  if (reasons.length > 0) {
    await refundMismatch(deps, {
      sessionId: s.sessionId,
      paymentIntent: pi,
      order: known.order,
      own: own !== null,
      reasons,
      captured: s,
      livemode: s.claims.livemode,
      origin,
    });
    // Only the hold this session was opened for: a session we never created cannot touch an order.
    if (own) await releaseHold(deps, s, "checkout-mismatch");
    return "processed";
  }

  const confirmed = await inventory.confirm({ orderId: s.orderId, paymentRef: pi });
  // The buyer's in-app notice when this payment confirmed the order (once per order: a redelivered
  // event inserts nothing), in the ledger's batch.
  const notice =
    confirmed.ok && confirmed.value.order.paymentRef === pi
      ? [
          notificationInsert(deps.db, {
            recipientId: known.order.userId,
            actorId: null,
            kind: "order",
            orderId: s.orderId,
            at: now,
          }),
        ]
      : [];
  // The ledger records what was captured, whatever happens to the order next (unique per intent).
  await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO payments (id, payment_intent, order_id, event_id, user_id, checkout_session_id, amount, currency,
         amount_refunded, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 'succeeded', ?, ?) ON CONFLICT (payment_intent) DO NOTHING`,
      )
      .bind(
        randomId(),
        pi,
        s.orderId,
        s.eventId,
        known.order.userId,
        s.sessionId,
        known.order.amount,
        known.order.currency,
        now,
        now,
      ),
    ...notice,
  ]);

  if (confirmed.ok) {
    // Confirmed by an earlier payment (the buyer paid two sessions): this charge is a duplicate.
    if (confirmed.value.order.paymentRef !== pi) {
      await queueRefunds(deps, [job(s, pi, "duplicate-payment", "none")]);
    }
    return "processed";
  }
  switch (confirmed.code) {
    case "hold-expired":
      // Late payment, seats gone: never oversell, never keep the money.
      log("warn", "late payment after the seats were sold: refunding", { orderId: s.orderId });
      await queueRefunds(deps, [job(s, pi, "sold-out", "refunded_sold_out")]);
      return "processed";
    case "not-on-sale":
      await queueRefunds(deps, [job(s, pi, "event-cancelled", "refunded")]);
      return "processed";
    case "invalid-transition":
      await queueRefunds(deps, [job(s, pi, "order-cancelled", "refunded")]);
      return "processed";
    default:
      throw new Error(`confirm failed: ${confirmed.code}: ${confirmed.detail}`);
  }
}

function job(s: SessionFacts, pi: string, reason: RefundJob["reason"], outcome: RefundJob["outcome"]): RefundJob {
  return { paymentIntent: pi, orderId: s.orderId, eventId: s.eventId, reason, outcome };
}

/** A session that can no longer be paid (expired, or its asynchronous payment failed) releases its hold. */
export async function applyReleasedSession(deps: PaymentsDeps, s: SessionFacts, reason: string): Promise<void> {
  await deps.db
    .prepare("UPDATE checkout_sessions SET status = 'expired', payment_status = ?, updated_at = ? WHERE id = ?")
    .bind(s.paymentStatus, Date.now(), s.sessionId)
    .run();
  await releaseHold(deps, s, reason);
}

/** Releases the order's hold, unless a newer checkout attempt for it is what holds the seats now. */
async function releaseHold(
  deps: PaymentsDeps,
  s: Pick<SessionFacts, "sessionId" | "orderId" | "eventId">,
  reason: string,
): Promise<void> {
  const newer = await deps.db
    .prepare(
      `SELECT 1 FROM checkout_sessions WHERE order_id = ?1
         AND attempt > COALESCE((SELECT attempt FROM checkout_sessions WHERE id = ?2), 0) LIMIT 1`,
    )
    .bind(s.orderId, s.sessionId)
    .first();
  if (newer) return;
  // A retry stretches the hold before it expires this session and records the next: in between, only
  // the object can tell that the hold is no longer this session's (its end is past this session's).
  const own = await deps.db
    .prepare("SELECT expires_at FROM checkout_sessions WHERE id = ?")
    .bind(s.sessionId)
    .first<{ expires_at: number }>();
  const released = await inventoryOf(deps.inventory, s.eventId).release({
    orderId: s.orderId,
    reason,
    // The session's end is the hold's, in whole seconds.
    ...(own ? { heldUntilAtMost: own.expires_at + 999 } : {}),
  });
  // Confirmed meanwhile (paid first), or stretched for a newer checkout: nothing to release. Unknown:
  // not a hold of ours.
  const kept = ["already-paid", "order-not-found", "hold-extended"];
  if (!released.ok && !kept.includes(released.code)) {
    throw new Error(`release failed: ${released.code}`);
  }
}

type PaymentRow = Pick<
  RowOf<typeof payments>,
  "payment_intent" | "order_id" | "event_id" | "user_id" | "amount" | "currency" | "amount_refunded"
>;

/** The payment an event is about; a charge of ours not recorded yet is retried, a foreign one ignored. */
async function paymentFor(
  deps: PaymentsDeps,
  paymentIntent: string | null,
  metadata: Stripe.Metadata | null | undefined,
): Promise<PaymentRow | null> {
  const payment = paymentIntent
    ? await deps.db.prepare("SELECT * FROM payments WHERE payment_intent = ?").bind(paymentIntent).first<PaymentRow>()
    : null;
  if (payment || !paymentIntent || !metadata?.orderId) return payment;
  // A flagged capture is refunded, never recorded: there is nothing to update and nothing to wait for.
  if (await isFlagged(deps.db, paymentIntent)) return null;
  throw new Error("payment not recorded yet; its checkout event is still on its way");
}

/**
 * `charge.refunded` carries the charge's cumulative `amount_refunded`: partial ⇒ recorded (revenue
 * drops); full ⇒ the order's tickets are voided and its seats freed — unless this charge was a
 * duplicate and the order stands on another payment.
 */
async function applyChargeRefunded(deps: PaymentsDeps, charge: Stripe.Charge): Promise<ApplyOutcome> {
  const payment = await paymentFor(deps, idOf(charge.payment_intent), charge.metadata);
  if (!payment) return "ignored";
  const refunded = Math.min(payment.amount, Math.max(payment.amount_refunded, charge.amount_refunded));
  await deps.db
    .prepare(
      `UPDATE payments SET amount_refunded = ?, status = ?, updated_at = ? WHERE payment_intent = ? AND amount_refunded <= ?`,
    )
    .bind(
      refunded,
      refunded >= payment.amount ? "refunded" : refunded > 0 ? "partially_refunded" : "succeeded",
      Date.now(),
      payment.payment_intent,
      refunded,
    )
    .run();
  const full = charge.refunded || refunded >= payment.amount;
  if (!full) return "processed";
  // Our own refund job decides what the order becomes (sold out, duplicate…); this event may beat it.
  const job = await deps.db
    .prepare("SELECT order_outcome FROM refunds WHERE payment_intent = ?")
    .bind(payment.payment_intent)
    .first<{ order_outcome: RefundJob["outcome"] }>();
  const outcome = job?.order_outcome ?? "refunded";
  if (outcome === "none") return "processed";
  const inventory = inventoryOf(deps.inventory, payment.event_id);
  const current = await inventory.getOrder(payment.order_id);
  if (!current || (current.order.status === "confirmed" && current.order.paymentRef !== payment.payment_intent)) {
    return "processed";
  }
  const result = await inventory.refund({ orderId: payment.order_id, outcome });
  if (!result.ok) log("warn", "full refund not applied to the order", { orderId: payment.order_id, code: result.code });
  return "processed";
}

/** A chargeback: the order is flagged (payment + dispute rows) and its host is emailed, once. */
async function applyDispute(deps: PaymentsDeps, dispute: Stripe.Dispute): Promise<ApplyOutcome> {
  const payment = await paymentFor(deps, idOf(dispute.payment_intent), dispute.metadata);
  if (!payment) return "ignored";
  const now = Date.now();
  const host = await deps.db
    .prepare("SELECT u.email, u.name, e.title FROM events e JOIN users u ON u.id = e.host_id WHERE e.id = ?")
    .bind(payment.event_id)
    .first<{ email: string; name: string; title: string }>();
  const inserted = {
    sql: "EXISTS (SELECT 1 FROM payment_disputes WHERE id = ? AND created_at = ?)",
    bindings: [dispute.id, now],
  };
  const results = await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO payment_disputes (id, payment_intent, order_id, event_id, amount, currency, reason, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .bind(
        dispute.id,
        payment.payment_intent,
        payment.order_id,
        payment.event_id,
        dispute.amount,
        dispute.currency.toUpperCase(),
        dispute.reason,
        dispute.status,
        now,
      ),
    deps.db
      .prepare("UPDATE payments SET disputed_at = COALESCE(disputed_at, ?), updated_at = ? WHERE payment_intent = ?")
      .bind(now, now, payment.payment_intent),
    ...(host
      ? emailStatements(
          deps.db,
          deps.config,
          openEmail(deps.config.pii, host.email),
          {
            template: "payment-disputed",
            name: openName(deps.config.pii, host.name),
            eventTitle: host.title,
            orderId: payment.order_id,
            amount: dispute.amount,
            currency: dispute.currency.toUpperCase(),
            reason: dispute.reason,
          },
          now,
          { onlyIf: inserted },
        )
      : []),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
  log("warn", "payment disputed", { orderId: payment.order_id, disputeId: dispute.id, reason: dispute.reason });
  return "processed";
}
