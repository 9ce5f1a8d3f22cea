/**
 * Attendee refunds: the event's refund policy (its host's, or the default — allowed until
 * REFUND_CUTOFF_HOURS, 48 h, before the start — and never after check-in opens, see
 * ../events/refund-window.ts) and the request itself. A request stores the refund job, then has the
 * event's inventory reserve the refund: the object refuses it if a ticket was admitted, and otherwise
 * takes the tickets out of reach of the gate (`refunding`) in the same transaction, so a ticket is
 * used or refunded, never both. Stripe is asked from the queue; the seats go back on sale once the
 * money is on its way back.
 */
import type { InventoryOrder, InventoryTicket } from "../../../durable-objects/event-inventory/contract";
import { DomainError } from "../../lib/errors";
import {
  type Caller,
  type EventsDeps,
  findEvent,
  inventoryOf,
  ownedEvent,
  refundDeadline,
  refundWindowErrors,
  unwrap,
} from "../events";
import type { PaymentsDeps } from "./deps";
import { dropRefusedRefund, queueRefunds } from "./refunds";

export interface RefundPolicy {
  refundable: boolean;
  cutoffHours: number;
  /** Whether the event set it (false: the deployment's default applies). */
  custom: boolean;
}

export async function refundPolicyOf(
  db: D1Database,
  eventId: string,
  defaultCutoffHours: number,
): Promise<RefundPolicy> {
  const row = await db
    .prepare("SELECT refundable, cutoff_hours FROM refund_policies WHERE event_id = ?")
    .bind(eventId)
    .first<{ refundable: number; cutoff_hours: number }>();
  return row
    ? { refundable: row.refundable === 1, cutoffHours: row.cutoff_hours, custom: true }
    : { refundable: true, cutoffHours: defaultCutoffHours, custom: false };
}

/** The host sets their event's policy (it applies to requests from now on). */
export async function setRefundPolicy(
  deps: EventsDeps,
  caller: Caller,
  eventId: string,
  input: { refundable: boolean; cutoffHours: number },
): Promise<RefundPolicy> {
  const event = await ownedEvent(deps, caller, eventId);
  const errors = refundWindowErrors(
    { startsAt: event.starts_at, checkInOpensAt: event.check_in_opens_at },
    input,
    "cutoffHours",
  );
  if (errors.length > 0) {
    throw new DomainError("validation-failed", "Refunds would still be open after check-in opens.", {
      errors,
      in: "json",
    });
  }
  await deps.db
    .prepare(
      `INSERT INTO refund_policies (event_id, refundable, cutoff_hours, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (event_id) DO UPDATE SET refundable = excluded.refundable, cutoff_hours = excluded.cutoff_hours,
         updated_at = excluded.updated_at`,
    )
    .bind(eventId, input.refundable ? 1 : 0, input.cutoffHours, Date.now())
    .run();
  return { ...input, custom: true };
}

export interface RefundRequestResult {
  order: InventoryOrder;
  tickets: InventoryTicket[];
  refund: { status: "pending" | "succeeded"; amount: number; currency: string };
}

/** The buyer asks for their money back under the event's policy: 202 with the refund pending. */
export async function requestRefund(deps: PaymentsDeps, userId: string, orderId: string): Promise<RefundRequestResult> {
  const row = await deps.db
    .prepare("SELECT event_id, amount FROM orders WHERE id = ? AND user_id = ?")
    .bind(orderId, userId)
    .first<{ event_id: string; amount: number }>();
  if (!row) throw new DomainError("not-found", "No such order.");
  if (row.amount === 0) throw new DomainError("invalid-transition", "Free tickets are cancelled, not refunded.");
  const event = await findEvent(deps.db, row.event_id);
  if (!event) throw new DomainError("not-found", "No such order.");

  const inventory = inventoryOf(deps.inventory, row.event_id);
  const current = await inventory.getOrder(orderId);
  if (!current) throw new DomainError("not-found", "No such order.");
  const payment = await deps.db
    .prepare("SELECT payment_intent, amount, currency, amount_refunded FROM payments WHERE payment_intent = ?")
    .bind(current.order.paymentRef ?? "")
    .first<{ payment_intent: string; amount: number; currency: string; amount_refunded: number }>();
  const job = payment
    ? await deps.db
        .prepare("SELECT status FROM refunds WHERE payment_intent = ?")
        .bind(payment.payment_intent)
        .first<{ status: string }>()
    : null;
  if (current.order.status === "refunded" && payment && job) {
    // Asked before: the same answer.
    return {
      ...current,
      refund: {
        status: job.status === "succeeded" ? "succeeded" : "pending",
        amount: payment.amount,
        currency: payment.currency,
      },
    };
  }
  if (current.order.status !== "confirmed") {
    throw new DomainError("invalid-transition", "Only a paid, confirmed order can be refunded.");
  }
  if (!payment) throw new DomainError("conflict", "The payment is still being recorded; retry in a minute.");
  if (job?.status === "dead_letter") {
    // Stripe refused this payment's refund for good: asking again cannot change that; a person will look.
    throw new DomainError(
      "conflict",
      "An earlier refund of this order could not be completed; support will follow up.",
    );
  }
  // The money went back but the order was not marked (logged when it happened): nothing to reserve for.
  if (job?.status === "succeeded") throw new DomainError("conflict", "This order's payment was already refunded.");

  // A refund already on its way (asked before, or the event was cancelled) is answered as it is.
  if (job?.status !== "pending") {
    const policy = await refundPolicyOf(deps.db, event.id, deps.payments.refundCutoffHours);
    const until = refundDeadline(
      { startsAt: event.starts_at, checkInOpensAt: event.check_in_opens_at },
      policy.cutoffHours,
    );
    if (!policy.refundable) throw new DomainError("refund-not-allowed", "This event does not offer refunds.");
    if (Date.now() >= until) {
      throw new DomainError(
        "refund-not-allowed",
        `Refunds were possible until ${policy.cutoffHours} h before the start, and never once check-in opens.`,
        { refundableUntil: new Date(until).toISOString() },
      );
    }
    // The job first: from here on the money goes back even if this request dies before the next line
    // (the job reserves the refund with the inventory itself before it asks Stripe).
    await queueRefunds(deps, [
      { paymentIntent: payment.payment_intent, orderId, eventId: event.id, reason: "requested", outcome: "refunded" },
    ]);
  }
  const reserved = await inventory.reserveRefund({ orderId });
  if (!reserved.ok && reserved.code === "ticket-redeemed") {
    // Admitted at the gate before the object saw this request: no refund, and no job left to ask for one.
    await dropRefusedRefund(deps.db, payment.payment_intent);
  }
  return {
    ...unwrap(reserved),
    refund: { status: "pending", amount: payment.amount - payment.amount_refunded, currency: payment.currency },
  };
}
