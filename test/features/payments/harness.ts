/**
 * Drives the Worker the way production does, with the payments queue under the test's control: HTTP
 * through the default export's `fetch`, the queue through the kit's queue simulator
 * (test/support/queue.ts: gatehouse-webhooks with max_retries 10, then gatehouse-webhooks-dlq), cron
 * through `scheduled`. Messages the code sends to WEBHOOK_QUEUE are delivered when the test says so;
 * EMAIL_QUEUE only records what it was sent (the outbox rows are what tests count).
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { EMAIL_QUEUE_NAME } from "../../../queues/email";
import { WEBHOOK_QUEUE_NAME } from "../../../queues/webhooks";
import { WEBHOOK_DLQ_NAME } from "../../../queues/webhooks-dlq";
import worker from "../../../src/index";
import { freshIp } from "../../helpers";
import { QueueSimulator } from "../../support/queue";
import { type StripeEventJson, signature } from "../../support/stripe";
import { bearer } from "../auth/helpers";

export type { Delivery, Settled } from "../../support/queue";

export class PaymentsHarness extends QueueSimulator {
  constructor(overrides: Record<string, unknown> = {}) {
    // wrangler.toml [[queues.consumers]] gatehouse-webhooks and its dead-letter queue.
    super({
      queues: {
        [WEBHOOK_QUEUE_NAME]: { maxRetries: 10, deadLetterQueue: WEBHOOK_DLQ_NAME },
        [WEBHOOK_DLQ_NAME]: { maxRetries: 10 },
      },
      idPrefix: "pay",
    });
    this.env = {
      ...env,
      WEBHOOK_QUEUE: this.binding(WEBHOOK_QUEUE_NAME),
      EMAIL_QUEUE: this.binding(EMAIL_QUEUE_NAME, { deliver: false }),
      ...overrides,
    } as unknown as Env;
  }

  /** Everything the code under test sent to WEBHOOK_QUEUE. */
  get produced(): unknown[] {
    return this.sent.filter((s) => s.queue === WEBHOOK_QUEUE_NAME).map((s) => s.body);
  }

  /** Emails handed to EMAIL_QUEUE (the outbox rows are what tests count). */
  get emailMessages(): unknown[] {
    return this.sent.filter((s) => s.queue === EMAIL_QUEUE_NAME).map((s) => s.body);
  }

  async fetch(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (!headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", freshIp());
    if (token) for (const [k, v] of Object.entries(bearer(token))) headers.set(k, v);
    return await worker.fetch(
      new Request(`https://gatehouse.test${path}`, { ...rest, headers }),
      this.env,
      createExecutionContext(),
    );
  }

  order(
    eventId: string,
    token: string,
    quantity = 1,
    extra: { headers?: Record<string, string>; body?: Record<string, unknown> } = {},
  ) {
    return this.fetch(`/api/v1/events/${eventId}/orders`, {
      method: "POST",
      token,
      headers: { "Content-Type": "application/json", ...extra.headers },
      body: JSON.stringify({ quantity, ...extra.body }),
    });
  }

  /** POSTs an event to the webhook endpoint, signed like Stripe (or with the given header). */
  async webhook(
    event: StripeEventJson | string,
    options: { timestamp?: number; header?: string } = {},
  ): Promise<Response> {
    const payload = typeof event === "string" ? event : JSON.stringify(event, null, 2);
    const header = options.header ?? (await signature(payload, { timestamp: options.timestamp }));
    return this.fetch("/api/v1/webhooks/stripe", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Stripe-Signature": header },
      body: payload,
    });
  }

  /** Delivers until nothing due is left; delayed messages stay pending unless `advanceClock`. */
  override drain(options: { advanceClock?: boolean; maxBatches?: number } = {}): Promise<void> {
    return super.drain({ ...options, advanceClock: options.advanceClock ?? false });
  }

  /** Runs the cron handler for `cron` at `at`, waiting for its work. */
  async cron(cron: string, at = Date.now()): Promise<void> {
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron, scheduledTime: at }), this.env, ctx);
    await waitOnExecutionContext(ctx);
  }
}
