/**
 * Cancelling an event, end to end. The events feature makes it terminal (the event's inventory voids
 * every ticket and emails the holders); payments hands each paid order's refund to its queue. This
 * module depends on both so that neither depends on the other. Should the refunds fail to be queued
 * after the cancellation committed, the hourly reconciliation queues the missing ones
 * (src/features/payments/reconcile.ts).
 */
import type { AppContext } from "../../context";
import { type ApiEvent, type Caller, cancelEvent, eventsDeps } from "../events";
import type { PaymentsQueue } from "../payments";
import { queueEventRefunds } from "../payments";

export async function cancelEventAndRefund(c: AppContext, caller: Caller, eventId: string): Promise<ApiEvent> {
  const cancelled = await cancelEvent(eventsDeps(c), caller, eventId);
  // Every paid order gets its money back: one refund job per payment, processed from the queue.
  await queueEventRefunds({ db: c.env.DB, webhookQueue: c.env.WEBHOOK_QUEUE as PaymentsQueue }, eventId);
  return cancelled;
}
