/**
 * Worker entry: HTTP through the Hono app, queue consumers (by queue name), cron sweeps, and the
 * Durable Object classes wrangler binds by name.
 */
import { consumeEmailBatch, EMAIL_QUEUE_NAME } from "../queues/email";
import { consumeEmailDeadLetters, EMAIL_DLQ_NAME } from "../queues/email-dlq";
import { scheduled } from "../queues/scheduled";
import { consumeWebhookBatch, WEBHOOK_QUEUE_NAME } from "../queues/webhooks";
import { consumeWebhookDeadLetters, WEBHOOK_DLQ_NAME } from "../queues/webhooks-dlq";
import { createApp } from "./app";
import { LIMITS } from "./config/limits";
import { log } from "./lib/log";

export { EventInventory } from "../durable-objects/event-inventory";
export { RateLimiter } from "../durable-objects/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue === EMAIL_QUEUE_NAME) return consumeEmailBatch(batch, env);
    if (batch.queue === EMAIL_DLQ_NAME) return consumeEmailDeadLetters(batch, env);
    if (batch.queue === WEBHOOK_QUEUE_NAME) return consumeWebhookBatch(batch, env);
    if (batch.queue === WEBHOOK_DLQ_NAME) return consumeWebhookDeadLetters(batch, env);
    // A queue bound to this Worker without a consumer here is a deploy mistake: keep the messages.
    log("error", "no consumer for queue", { queue: batch.queue, messages: batch.messages.length });
    batch.retryAll({ delaySeconds: LIMITS.unknownQueueRetrySeconds });
  },
  scheduled: (controller, env, ctx) => {
    ctx.waitUntil(scheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
