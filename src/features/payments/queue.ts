/**
 * Messages on WEBHOOK_QUEUE (`gatehouse-webhooks`) and its dead-letter queue. A message is only a
 * wake-up naming a D1 row (an inbox event or a refund job); the row is the truth, so a duplicate or
 * stale message is harmless. Handing a row to the queue marks it `queued_at` first; a send that fails
 * leaves it for the cron sweep, so nothing is lost and the caller never fails because of the queue.
 */
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";

export type PaymentsMessage = { eventId: string } | { refundId: string };
export type PaymentsQueue = Queue<PaymentsMessage>;

const ID = /^[A-Za-z0-9_:-]{1,255}$/;

/** Reads a message body defensively: anything else on the queue is a bug, not work. */
export function parsePaymentsMessage(body: unknown): PaymentsMessage | null {
  if (typeof body !== "object" || body === null) return null;
  const { eventId, refundId } = body as { eventId?: unknown; refundId?: unknown };
  if (typeof eventId === "string" && ID.test(eventId)) return { eventId };
  if (typeof refundId === "string" && ID.test(refundId)) return { refundId };
  return null;
}

/** Sends wake-ups for rows already marked queued; returns false (and logs) when the queue refused. */
export async function sendPaymentsMessages(
  queue: PaymentsQueue | undefined,
  messages: readonly PaymentsMessage[],
): Promise<boolean> {
  if (messages.length === 0) return true;
  if (!queue) return false;
  try {
    for (let i = 0; i < messages.length; i += LIMITS.queueSendBatchMax) {
      await queue.sendBatch(messages.slice(i, i + LIMITS.queueSendBatchMax).map((body) => ({ body })));
    }
    return true;
  } catch (error) {
    log("warn", "payments enqueue failed; the sweep will retry", { count: messages.length, error });
    return false;
  }
}
