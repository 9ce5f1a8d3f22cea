/**
 * Refunds we ask Stripe for. Each is a job row (at most one per payment, so however many paths decide
 * "refund this" — late payment sold out, event cancelled, attendee request, duplicate charge,
 * reconciliation — Stripe is asked once), sent with its own idempotency key `refund:<payment intent>`
 * and processed from the queue with the webhook retry schedule. Before Stripe is asked, the order's
 * EventInventory reserves the refund (a used ticket refuses it; otherwise the tickets can no longer be
 * admitted). Success: the order becomes refunded (tickets void, seats free), the payment is marked
 * refunded and the buyer is emailed, once; a refusal from Stripe gives the tickets back.
 */
import type { RefundRequest } from "../../../durable-objects/event-inventory/contract";
import type { RowOf } from "../../db/rows";
import type { refunds } from "../../db/schema-payments";
import { randomId } from "../../lib/crypto";
import { log } from "../../lib/log";
import { openEmail, openName } from "../auth";
import { emailStatements, enqueueCommitted } from "../email";
import { inventoryOf } from "../events";
import { refundTermsFor } from "../money";
import { conditionalInsert } from "../social";
import type { PaymentsDeps } from "./deps";
import { type PaymentsQueue, sendPaymentsMessages } from "./queue";
import { classifyStripeError, type Stripe } from "./stripe";

export type RefundReason =
  | "sold-out"
  | "event-cancelled"
  | "requested"
  | "order-cancelled"
  | "duplicate-payment"
  | "checkout-mismatch";
export type OrderOutcome = RefundRequest["outcome"] | "none";

export type RefundRow = RowOf<typeof refunds>;

export interface RefundJob {
  paymentIntent: string;
  orderId: string;
  eventId: string;
  reason: RefundReason;
  outcome: OrderOutcome;
}

export function refundIdempotencyKey(paymentIntent: string): string {
  return `refund:${paymentIntent}`;
}

/** The insert of a job (nothing if the payment already has one), to run alone or in a batch. */
export function refundJobStatement(db: D1Database, job: RefundJob, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO refunds (id, payment_intent, order_id, event_id, reason, order_outcome, idempotency_key, status,
         attempts, queued_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (payment_intent) DO NOTHING RETURNING id`,
    )
    .bind(
      randomId(),
      job.paymentIntent,
      job.orderId,
      job.eventId,
      job.reason,
      job.outcome,
      refundIdempotencyKey(job.paymentIntent),
      now,
      now,
    );
}

/** Ids of the jobs a batch of `refundJobStatement`s really inserted. */
function insertedIds(results: readonly D1Result[]): string[] {
  return results.flatMap((r) => (r.results ?? []).map((row) => (row as { id: string }).id));
}

/** Creates the jobs (one per payment at most) and hands the new ones to the queue. */
export async function queueRefunds(
  deps: { db: D1Database; webhookQueue?: PaymentsQueue },
  jobs: readonly RefundJob[],
): Promise<string[]> {
  if (jobs.length === 0) return [];
  const now = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < jobs.length; i += 50) {
    const results = await deps.db.batch(jobs.slice(i, i + 50).map((job) => refundJobStatement(deps.db, job, now)));
    ids.push(...insertedIds(results));
  }
  if (
    !(await sendPaymentsMessages(
      deps.webhookQueue,
      ids.map((refundId) => ({ refundId })),
    ))
  ) {
    // Left with queued_at set: the sweep treats them as lost after LIMITS.webhookStuckAfterSeconds.
    log("warn", "refund jobs stored but not queued", { count: ids.length });
  }
  return ids;
}

/**
 * Every captured, not fully refunded payment of a cancelled event gets a refund job. Safe to call
 * again (cron reconciliation does, in case the request that cancelled died half-way).
 */
export async function queueEventRefunds(
  deps: { db: D1Database; webhookQueue?: PaymentsQueue },
  eventId: string,
): Promise<string[]> {
  const { results } = await deps.db
    .prepare(
      `SELECT p.payment_intent, p.order_id FROM payments p
       WHERE p.event_id = ? AND p.amount_refunded < p.amount
         AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_intent = p.payment_intent)`,
    )
    .bind(eventId)
    .all<{ payment_intent: string; order_id: string }>();
  return queueRefunds(
    deps,
    results.map((p) => ({
      paymentIntent: p.payment_intent,
      orderId: p.order_id,
      eventId,
      reason: "event-cancelled" as const,
      outcome: "refunded" as const,
    })),
  );
}

export function readRefund(db: D1Database, id: string): Promise<RefundRow | null> {
  return db.prepare("SELECT * FROM refunds WHERE id = ?").bind(id).first<RefundRow>();
}

export type RefundAttempt = { kind: "done" } | { kind: "failed"; transient: boolean; message: string };

/**
 * Stripe refused a job for good (dead-lettered): the tickets it reserved are usable again. Not after
 * transient failures, even the last: the money may have gone back without the answer reaching us.
 */
export async function releaseRefusedRefund(deps: PaymentsDeps, job: RefundRow): Promise<void> {
  if (job.order_outcome === "none") return;
  const released = await inventoryOf(deps.inventory, job.event_id).releaseRefund({ orderId: job.order_id });
  if (!released.ok && released.code !== "order-not-found") {
    log("error", "refused refund's tickets could not be released", { refundId: job.id, code: released.code });
  }
}

/**
 * Deletes a job its order's inventory refused (a ticket was used at the gate) before Stripe was ever
 * asked: nothing to retry, and a later refund of the same payment (its event cancelled) may be queued.
 */
export async function dropRefusedRefund(db: D1Database, paymentIntent: string): Promise<void> {
  await db.prepare("DELETE FROM refunds WHERE payment_intent = ? AND status = 'pending'").bind(paymentIntent).run();
}

/**
 * What the job does to its order. A job refunds one payment; it touches the order only while the order
 * does not stand on another payment. A late payment's sold-out refund queued while the seats were gone
 * can run after a seat freed and another payment of the same order confirmed it (two sessions paid):
 * then it gives back its own payment only, and the order keeps the tickets the other one bought.
 */
async function orderOutcomeOf(deps: PaymentsDeps, job: RefundRow): Promise<RefundRow["order_outcome"]> {
  if (job.order_outcome === "none") return "none";
  const current = await inventoryOf(deps.inventory, job.event_id).getOrder(job.order_id);
  const standsOn = current?.order.paymentRef;
  if (standsOn && standsOn !== job.payment_intent) {
    log("warn", "refund of a payment the order does not stand on: the order is left as it is", { refundId: job.id });
    return "none";
  }
  return job.order_outcome;
}

/**
 * One attempt at a job: the inventory reserves the refund (idempotent; refused if a ticket of the
 * order was used, and then Stripe is never asked), Stripe (idempotent by key), the inventory records
 * it (idempotent), then the ledger and the email in one D1 batch conditioned on this attempt being
 * the one that settled the job.
 */
export async function attemptRefund(deps: PaymentsDeps, job: RefundRow): Promise<RefundAttempt> {
  const outcome = await orderOutcomeOf(deps, job);
  if (outcome !== "none") {
    const reserved = await inventoryOf(deps.inventory, job.event_id).reserveRefund({ orderId: job.order_id });
    if (!reserved.ok && reserved.code === "ticket-redeemed") {
      await dropRefusedRefund(deps.db, job.payment_intent);
      log("warn", "refund refused: a ticket of the order was used at the gate", { refundId: job.id });
      return { kind: "done" };
    }
    // Anything else (an order this object never had) cannot be admitted either: the money goes back.
  }
  let refund: Stripe.Refund | null = null;
  try {
    // A destination charge also takes back the host's transfer and the platform fee, in proportion.
    const terms = await refundTermsFor(deps, job.event_id, job.payment_intent);
    refund = await deps.stripe.refunds.create(
      {
        payment_intent: job.payment_intent,
        ...terms,
        reason: job.reason === "duplicate-payment" ? "duplicate" : "requested_by_customer",
        metadata: { orderId: job.order_id, eventId: job.event_id, refundJob: job.id, reason: job.reason },
      },
      { idempotencyKey: job.idempotency_key },
    );
  } catch (error) {
    const failure = classifyStripeError(error);
    // Refunded already (from the dashboard, or by a charge.refunded we applied): the money is back.
    if (!(failure.kind === "permanent" && failure.code === "charge_already_refunded")) {
      return { kind: "failed", transient: failure.kind === "transient", message: failure.message };
    }
  }

  if (outcome !== "none") {
    const result = await inventoryOf(deps.inventory, job.event_id).refund({
      orderId: job.order_id,
      outcome,
    });
    if (!result.ok && result.code !== "order-not-found") {
      log("error", "refunded order could not be marked in its inventory", { refundId: job.id, code: result.code });
    }
  }

  const now = Date.now();
  const marker = randomId();
  const recipient = await deps.db
    .prepare(
      `SELECT p.user_id, u.email, u.name, e.title, p.amount, p.currency FROM payments p
       JOIN users u ON u.id = p.user_id JOIN events e ON e.id = p.event_id WHERE p.payment_intent = ?`,
    )
    .bind(job.payment_intent)
    .first<{ user_id: string; email: string; name: string; title: string; amount: number; currency: string }>();
  const settled = { sql: "EXISTS (SELECT 1 FROM refunds WHERE id = ? AND settled_by = ?)", bindings: [job.id, marker] };
  const results = await deps.db.batch([
    deps.db
      .prepare(
        `UPDATE refunds SET status = 'succeeded', stripe_refund_id = ?, amount = ?, completed_at = ?, settled_by = ?,
           last_error = NULL, next_attempt_at = NULL
         WHERE id = ? AND status = 'pending'`,
      )
      .bind(refund?.id ?? null, refund?.amount ?? null, now, marker, job.id),
    // Our refunds are always of what is left: the payment is now refunded in full.
    deps.db
      .prepare(
        `UPDATE payments SET amount_refunded = amount, status = 'refunded', updated_at = ?
         WHERE payment_intent = ? AND EXISTS (SELECT 1 FROM refunds WHERE id = ? AND settled_by = ?)`,
      )
      .bind(now, job.payment_intent, job.id, marker),
    ...(recipient
      ? emailStatements(
          deps.db,
          deps.config,
          openEmail(deps.config.pii, recipient.email),
          {
            template: "refund-issued",
            name: openName(deps.config.pii, recipient.name),
            eventTitle: recipient.title,
            amount: refund?.amount ?? recipient.amount,
            currency: recipient.currency,
          },
          now,
          { onlyIf: settled },
        )
      : []),
    // The buyer's in-app notice with the email: by this attempt only, and once per order (its dedupe key).
    ...(recipient
      ? [
          conditionalInsert(
            deps.db,
            { recipientId: recipient.user_id, actorId: null, kind: "refund", orderId: job.order_id, at: now },
            settled,
          ),
        ]
      : []),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
  log("info", "refund issued", { refundId: job.id, reason: job.reason, stripeRefundId: refund?.id ?? null });
  return { kind: "done" };
}
