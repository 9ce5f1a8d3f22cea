/**
 * Outgoing webhooks (Standard Webhooks v1, docs/webhooks.md): what other features use. Writers batch
 * `webhookEventStatement` with their fact and `wakeWebhookEvents` after the commit; the app mounts the
 * endpoints' routes; the queue consumer and the cron run fan-out, attempts and the sweep. Features
 * import it only through this file (README, Code map).
 */
export { attemptDelivery, type DeliveryDeps, ENDPOINT_DISABLED_ERROR } from "./delivery";
export { fanOut } from "./fanout";
export * from "./outbox";
export { webhookEndpointRoutes } from "./routes";
export { WEBHOOK_SECRET_CONTEXT } from "./signing";
export { requeueWebhooks } from "./sweep";
