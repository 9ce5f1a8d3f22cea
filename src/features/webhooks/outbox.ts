/**
 * The one writer of `webhook_events`, the outbox of outgoing webhooks. A feature that changes a host's
 * resource adds `webhookEventStatement` to the D1 batch that records the change, so the webhook exists
 * exactly when the fact does (never lost, never sent for a change that rolled back). After the batch
 * commits it calls `wakeWebhookEvents` (best effort: a message the queue did not take is found by the
 * cron sweep). EventInventory's push uses both, like the email outbox writer.
 *
 * The row's id is the `webhook-id` of every delivery and retry. It is derived from the fact
 * (`msg_<type>_<fact id>`), so a replayed writer (a retried push, a webhook processed twice) inserts
 * the row once.
 */
import type { WebhookEventType } from "../../db/schema-integrations";
import { log } from "../../lib/log";

/** The message on OUTGOING_WEBHOOK_QUEUE: a wake-up naming a row; the row is the truth. */
export type OutgoingWebhookMessage = { webhookEventId: string } | { deliveryId: string };

export interface WebhookEventInput {
  type: WebhookEventType;
  /** The host whose endpoints receive it (the event's host, the tip's creator). */
  hostId: string;
  /** The id of the fact (order, refund, ticket, event, tip, offer): makes the row id deterministic. */
  factId: string;
  /** The body's `data`: what a host's system needs, never another person's secrets. */
  data: Record<string, unknown>;
  at: number;
}

export function webhookEventId(type: WebhookEventType, factId: string): string {
  return `msg_${type}_${factId}`;
}

/** INSERT OR IGNORE of the webhook event; batch it with the statements that record the fact. */
export function webhookEventStatement(db: D1Database, input: WebhookEventInput): D1PreparedStatement {
  return db
    .prepare("INSERT OR IGNORE INTO webhook_events (id, host_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)")
    .bind(webhookEventId(input.type, input.factId), input.hostId, input.type, JSON.stringify(input.data), input.at);
}

/**
 * Sends one wake-up per webhook event id. Never throws: a row the queue did not take still has
 * `fanned_out_at` null, and the cron sweep hands it over later.
 */
export async function wakeWebhookEvents(queue: Queue<OutgoingWebhookMessage>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    for (let i = 0; i < ids.length; i += 100) {
      await queue.sendBatch(ids.slice(i, i + 100).map((webhookEventId) => ({ body: { webhookEventId } })));
    }
  } catch (error) {
    log("warn", "webhook wake-up failed; the sweep will hand the events over", { count: ids.length, error });
  }
}
