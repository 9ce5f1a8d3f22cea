/**
 * Worker entry: HTTP through the Hono app, queue consumers (by queue name), cron sweeps, and the
 * Durable Object classes wrangler binds by name.
 */
import { consumeEmailBatch, EMAIL_QUEUE_NAME } from "../queues/email";
import { consumeEmailDeadLetters, EMAIL_DLQ_NAME } from "../queues/email-dlq";
import { consumeOutgoingWebhookBatch, OUTGOING_WEBHOOK_QUEUE_NAME } from "../queues/outgoing-webhooks";
import { scheduled } from "../queues/scheduled";
import { consumeWebhookBatch, WEBHOOK_QUEUE_NAME } from "../queues/webhooks";
import { consumeWebhookDeadLetters, WEBHOOK_DLQ_NAME } from "../queues/webhooks-dlq";
import { createApp } from "./app";
import { getConfig } from "./config";
import { LIMITS } from "./config/limits";
import { log } from "./lib/log";

export { BenchProbe } from "../durable-objects/bench-probe";
export { EventInventory } from "../durable-objects/event-inventory";
export { PostLive } from "../durable-objects/post-live";
export { RateLimiter } from "../durable-objects/rate-limiter";
export { WaitingRoom } from "../durable-objects/waiting-room";

const app = createApp();
/** The same app with the /dev routes, built on first use in an isolate whose configuration enables them. */
let devApp: ReturnType<typeof createApp> | undefined;

/** DEV_ROUTES=1 outside production; an invalid configuration is the plain app's to answer (503). */
function devRoutesEnabled(env: Env): boolean {
  try {
    return getConfig(env).devRoutes;
  } catch {
    return false;
  }
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    if (!devRoutesEnabled(env)) return app.fetch(request, env, ctx);
    devApp ??= createApp({ devRoutes: true });
    return devApp.fetch(request, env, ctx);
  },
  async queue(batch, env) {
    if (batch.queue === EMAIL_QUEUE_NAME) return consumeEmailBatch(batch, env);
    if (batch.queue === EMAIL_DLQ_NAME) return consumeEmailDeadLetters(batch, env);
    if (batch.queue === WEBHOOK_QUEUE_NAME) return consumeWebhookBatch(batch, env);
    if (batch.queue === WEBHOOK_DLQ_NAME) return consumeWebhookDeadLetters(batch, env);
    if (batch.queue === OUTGOING_WEBHOOK_QUEUE_NAME) return consumeOutgoingWebhookBatch(batch, env);
    // A queue bound to this Worker without a consumer here is a deploy mistake: keep the messages.
    log("error", "no consumer for queue", { queue: batch.queue, messages: batch.messages.length });
    batch.retryAll({ delaySeconds: LIMITS.unknownQueueRetrySeconds });
  },
  scheduled: (controller, env, ctx) => {
    ctx.waitUntil(scheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
