/**
 * Outgoing webhooks consumer (queue `gatehouse-outgoing-webhooks`, messages `{ webhookEventId }` |
 * `{ deliveryId }`, src/features/webhooks/outbox.ts). A webhook event is fanned out to its host's
 * subscribed endpoints, one `{ deliveryId }` message per new delivery; a delivery message makes one
 * attempt (src/features/webhooks/delivery.ts) and, after a failure with attempts left, sends a fresh
 * message delayed to the next one on the schedule. Messages are handled concurrently (an attempt may
 * wait its full 10 s) and each is settled on its own; every handler is idempotent, so a duplicate or a
 * sweep's re-send is a no-op. The consumer only throws (Queues retries, wrangler.toml retry_delay)
 * when D1 or the queue fails under it.
 */
import { type Config, ConfigError, getConfig } from "../src/config";
import { LIMITS } from "../src/config/limits";
import type { EmailQueue } from "../src/features/email";
import { attemptDelivery, fanOut, type OutgoingWebhookMessage } from "../src/features/webhooks";
import { log } from "../src/lib/log";
import { dropProbes } from "../src/lib/queue-probe";

export const OUTGOING_WEBHOOK_QUEUE_NAME = "gatehouse-outgoing-webhooks";

/** Reads a message body defensively: anything else on the queue is a bug. */
export function parseOutgoingWebhookMessage(body: unknown): OutgoingWebhookMessage | null {
  if (typeof body !== "object" || body === null) return null;
  const { webhookEventId, deliveryId } = body as { webhookEventId?: unknown; deliveryId?: unknown };
  const valid = (id: unknown): id is string => typeof id === "string" && id.length > 0 && id.length <= 300;
  if (valid(webhookEventId)) return { webhookEventId };
  if (valid(deliveryId)) return { deliveryId };
  return null;
}

/** The messages this one leads to, each sent before the message is acknowledged. */
async function handle(env: Env, config: Config, body: OutgoingWebhookMessage): Promise<MessageSendRequest[]> {
  if ("webhookEventId" in body) {
    const ids = await fanOut(env.DB, body.webhookEventId);
    return ids.map((deliveryId) => ({ body: { deliveryId } satisfies OutgoingWebhookMessage }));
  }
  const outcome = await attemptDelivery(
    { db: env.DB, config, emailQueue: env.EMAIL_QUEUE as EmailQueue },
    body.deliveryId,
    "scheduled",
  );
  if (outcome.kind === "attempted" && outcome.retryInSeconds !== null) {
    return [{ body: { deliveryId: body.deliveryId }, delaySeconds: outcome.retryInSeconds }];
  }
  return [];
}

export async function consumeOutgoingWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const messages = dropProbes(batch.messages);
  if (messages.length === 0) return;
  let config: Config;
  try {
    config = getConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Fail closed: nothing is sent under a broken configuration; every message waits for the fix.
    log("error", "configuration invalid: outgoing webhooks paused", { keys: error.keys });
    for (const message of messages) message.retry({ delaySeconds: LIMITS.unknownQueueRetrySeconds });
    return;
  }
  await Promise.all(
    messages.map(async (message) => {
      const body = parseOutgoingWebhookMessage(message.body);
      if (!body) {
        log("error", "outgoing webhooks queue: malformed message dropped", { messageId: message.id });
        message.ack();
        return;
      }
      try {
        const next = await handle(env, config, body);
        if (next.length > 0) await env.OUTGOING_WEBHOOK_QUEUE.sendBatch(next);
        message.ack();
      } catch (error) {
        // D1 or the queue failed: the same message again later. A recorded attempt is not repeated
        // early (the delivery's next_attempt_at says when it is due).
        log("error", "outgoing webhook message failed; retrying", { body, attempts: message.attempts, error });
        message.retry({ delaySeconds: LIMITS.unknownQueueRetrySeconds });
      }
    }),
  );
}
