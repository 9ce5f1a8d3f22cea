/**
 * Worker entry: HTTP through the Hono app, cron sweeps, and the Durable Object classes wrangler
 * binds by name.
 */
import { scheduled } from "../queues/scheduled";
import { createApp } from "./app";

export { EventInventory } from "../durable-objects/event-inventory";
export { RateLimiter } from "../durable-objects/rate-limiter";

const app = createApp();

export default {
  fetch: app.fetch,
  scheduled: (controller, env, ctx) => {
    ctx.waitUntil(scheduled(controller, env));
  },
} satisfies ExportedHandler<Env>;
