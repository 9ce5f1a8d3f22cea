/**
 * Drives the Worker the way production does, with the payments queue under the test's control: HTTP
 * through the default export's `fetch`, the queue through its `queue` handler (createMessageBatch /
 * getQueueResult), cron through `scheduled`. Messages the code sends to WEBHOOK_QUEUE are collected
 * and delivered when the test says so; retried ones come back with attempts + 1 after their delay
 * (the clock is moved when `drain` is asked to), and past max_retries they go to the dead-letter queue.
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { WEBHOOK_QUEUE_NAME } from "../../../queues/webhooks";
import { WEBHOOK_DLQ_NAME } from "../../../queues/webhooks-dlq";
import worker from "../../../src/index";
import { freshIp } from "../../helpers";
import { type StripeEventJson, signature } from "../../support/stripe";
import { bearer } from "../auth/helpers";

/** wrangler.toml [[queues.consumers]] gatehouse-webhooks. */
const MAX_RETRIES = 10;
const BATCH_SIZE = 10;

export interface Delivery {
  messageId: string;
  queue: string;
  body: unknown;
  attempts: number;
  dueAt: number;
}

export interface Settled {
  delivery: Delivery;
  outcome: "ack" | "retry";
  delaySeconds?: number;
}

let counter = 0;

export class PaymentsHarness {
  readonly pending: Delivery[] = [];
  readonly settled: Settled[] = [];
  /** Everything the code under test sent to WEBHOOK_QUEUE. */
  readonly produced: unknown[] = [];
  /** Emails handed to EMAIL_QUEUE (the outbox rows are what tests count). */
  readonly emailMessages: unknown[] = [];
  env: Env;

  constructor(overrides: Record<string, unknown> = {}) {
    const push = (body: unknown, delaySeconds = 0) => {
      this.produced.push(body);
      this.enqueue(WEBHOOK_QUEUE_NAME, body, delaySeconds);
    };
    const webhookQueue = {
      send: async (body: unknown, options?: QueueSendOptions) => push(body, options?.delaySeconds ?? 0),
      sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => {
        for (const m of messages) push(m.body, m.delaySeconds ?? 0);
      },
    };
    const emailQueue = {
      send: async (body: unknown) => {
        this.emailMessages.push(body);
      },
      sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>) => {
        for (const m of messages) this.emailMessages.push(m.body);
      },
    };
    this.env = { ...env, WEBHOOK_QUEUE: webhookQueue, EMAIL_QUEUE: emailQueue, ...overrides } as unknown as Env;
  }

  enqueue(queue: string, body: unknown, delaySeconds = 0, attempts = 1): void {
    counter += 1;
    this.pending.push({ messageId: `pay-${counter}`, queue, body, attempts, dueAt: Date.now() + delaySeconds * 1000 });
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

  /** Delivers `deliveries` as one batch and applies the verdicts like Queues does. */
  async deliver(deliveries: Delivery[]): Promise<void> {
    const queue = deliveries[0]?.queue ?? WEBHOOK_QUEUE_NAME;
    const batch = createMessageBatch(
      queue,
      deliveries.map((d) => ({ id: d.messageId, timestamp: new Date(), attempts: d.attempts, body: d.body })),
    );
    const delays = new Map<string, number>();
    for (const message of batch.messages) {
      const retry = message.retry.bind(message);
      message.retry = (options?: QueueRetryOptions) => {
        delays.set(message.id, options?.delaySeconds ?? 0);
        retry(options);
      };
    }
    const ctx = createExecutionContext();
    let threw = false;
    try {
      await worker.queue(batch, this.env);
    } catch {
      threw = true;
    }
    const result = await getQueueResult(batch, ctx);
    const now = Date.now();
    for (const d of deliveries) {
      const retried = result.retryMessages.find((r) => r.msgId === d.messageId);
      const acked = result.explicitAcks.includes(d.messageId);
      if (acked || (!retried && !threw && !result.retryBatch.retry)) {
        this.settled.push({ delivery: d, outcome: "ack" });
        continue;
      }
      const delaySeconds = delays.get(d.messageId) ?? retried?.delaySeconds ?? result.retryBatch.delaySeconds ?? 0;
      this.settled.push({ delivery: d, outcome: "retry", delaySeconds });
      if (d.attempts > MAX_RETRIES && d.queue === WEBHOOK_QUEUE_NAME) this.enqueue(WEBHOOK_DLQ_NAME, d.body);
      else this.pending.push({ ...d, attempts: d.attempts + 1, dueAt: now + delaySeconds * 1000 });
    }
  }

  takeDue(): Delivery[] {
    const now = Date.now();
    const due = this.pending.filter((d) => d.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
    const queue = due[0]?.queue;
    const batch = due.filter((d) => d.queue === queue).slice(0, BATCH_SIZE);
    for (const d of batch) this.pending.splice(this.pending.indexOf(d), 1);
    return batch;
  }

  /**
   * Delivers until nothing due is left. With `advanceClock` (needs `vi.useFakeTimers({ toFake:
   * ["Date"] })`) the clock jumps to each next delayed message, so whole retry schedules play out.
   */
  async drain(options: { advanceClock?: boolean; maxBatches?: number } = {}): Promise<void> {
    for (let i = 0; i < (options.maxBatches ?? 500); i++) {
      const batch = this.takeDue();
      if (batch.length > 0) {
        await this.deliver(batch);
        continue;
      }
      if (this.pending.length === 0 || !options.advanceClock) return;
      vi.setSystemTime(Math.min(...this.pending.map((d) => d.dueAt)));
    }
    throw new Error("payments queue not drained");
  }

  /** Runs the cron handler for `cron` at `at`, waiting for its work. */
  async cron(cron: string, at = Date.now()): Promise<void> {
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron, scheduledTime: at }), this.env, ctx);
    await waitOnExecutionContext(ctx);
  }
}
