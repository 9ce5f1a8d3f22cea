/**
 * The outgoing webhooks' safety net (the five-minute cron, queues/scheduled.ts): nothing is lost when a
 * wake-up message is. It re-enqueues webhook events still not fanned out a minute after they were
 * written, and pending deliveries whose attempt is long overdue (their message was lost, or a
 * consumer died holding the lease). Bounded per run; the next run takes the rest. Safe to run twice or
 * concurrently: fan-out and the attempt's claim make every extra message a no-op.
 */
import { LIMITS } from "../../config/limits";
import type { OutgoingWebhookMessage } from "./outbox";

export async function requeueWebhooks(
  db: D1Database,
  queue: Queue<OutgoingWebhookMessage>,
  now = Date.now(),
): Promise<{ events: number; deliveries: number }> {
  const [events, deliveries] = await db.batch([
    db
      .prepare(
        "SELECT id FROM webhook_events WHERE fanned_out_at IS NULL AND created_at <= ? ORDER BY created_at LIMIT ?",
      )
      .bind(now - LIMITS.webhookFanoutGraceMs, LIMITS.webhookSweepMaxRows),
    db
      .prepare(
        `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
         ORDER BY next_attempt_at LIMIT ?`,
      )
      .bind(now - LIMITS.webhookDeliveryOverdueMs, LIMITS.webhookSweepMaxRows),
  ]);
  const messages: { body: OutgoingWebhookMessage }[] = [
    ...((events?.results ?? []) as { id: string }[]).map((r) => ({ body: { webhookEventId: r.id } })),
    ...((deliveries?.results ?? []) as { id: string }[]).map((r) => ({ body: { deliveryId: r.id } })),
  ];
  for (let i = 0; i < messages.length; i += LIMITS.queueSendBatchMax) {
    await queue.sendBatch(messages.slice(i, i + LIMITS.queueSendBatchMax));
  }
  return { events: events?.results.length ?? 0, deliveries: deliveries?.results.length ?? 0 };
}
