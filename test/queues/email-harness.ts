/**
 * Drives the Worker's queue handler the way Cloudflare Queues would, under a controlled clock:
 * delivers due messages in batches of 10 (wrangler.toml max_batch_size), applies each message's
 * ack / retry({ delaySeconds }) from `getQueueResult`, re-delivers retried messages with attempts + 1,
 * hands a message that exhausts max_retries to the dead-letter queue, and collects every message
 * the consumer sends to EMAIL_QUEUE (a fake binding) as a new delivery. Also: outbox row fixtures.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { EMAIL_DLQ_NAME } from "../../queues/email-dlq";
import worker from "../../src/index";

/** wrangler.toml [[queues.consumers]] for gatehouse-email. */
const MAX_RETRIES = 5;
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
  /** What the consumer did with the message. */
  outcome: "ack" | "retry";
  delaySeconds?: number;
  at: number;
}

let messageCounter = 0;

export class QueueHarness {
  readonly pending: Delivery[] = [];
  readonly settled: Settled[] = [];
  /** Messages the code under test sent to EMAIL_QUEUE (with their delay). */
  readonly produced: { body: unknown; delaySeconds: number; at: number }[] = [];
  readonly env: Env;

  constructor(overrides: Partial<Record<keyof Env | string, unknown>> = {}) {
    const push = (body: unknown, delaySeconds = 0) => {
      this.produced.push({ body, delaySeconds, at: Date.now() });
      this.enqueue(EMAIL_QUEUE_NAME, body, delaySeconds);
    };
    const queue = {
      send: async (body: unknown, options?: QueueSendOptions) => {
        push(body, options?.delaySeconds ?? 0);
      },
      sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>, options?: QueueSendBatchOptions) => {
        for (const m of messages) push(m.body, m.delaySeconds ?? options?.delaySeconds ?? 0);
      },
    };
    this.env = { ...env, EMAIL_QUEUE: queue, ...overrides } as unknown as Env;
  }

  enqueue(queue: string, body: unknown, delaySeconds = 0, attempts = 1, messageId?: string): void {
    messageCounter += 1;
    this.pending.push({
      messageId: messageId ?? `msg-${messageCounter}`,
      queue,
      body,
      attempts,
      dueAt: Date.now() + delaySeconds * 1000,
    });
  }

  /** Delivers `deliveries` as one batch and applies the consumer's verdicts like Queues does. */
  async deliver(deliveries: Delivery[]): Promise<void> {
    const queue = deliveries[0]?.queue ?? EMAIL_QUEUE_NAME;
    const batch = createMessageBatch(
      queue,
      deliveries.map((d) => ({ id: d.messageId, timestamp: new Date(), attempts: d.attempts, body: d.body })),
    );
    // getQueueResult reports which messages were retried but not their delay: record it on the way.
    const delays = new Map<string, number>();
    let batchDelay: number | undefined;
    for (const message of batch.messages) {
      const retry = message.retry.bind(message);
      message.retry = (options?: QueueRetryOptions) => {
        delays.set(message.id, options?.delaySeconds ?? 0);
        retry(options);
      };
    }
    const retryAll = batch.retryAll.bind(batch);
    batch.retryAll = (options?: QueueRetryOptions) => {
      batchDelay = options?.delaySeconds ?? 0;
      retryAll(options);
    };
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
      const acked = result.explicitAcks.includes(d.messageId) || (result.ackAll && !retried);
      if (acked || (!retried && !threw && !result.retryBatch.retry)) {
        this.settled.push({ delivery: d, outcome: "ack", at: now });
        continue;
      }
      const delaySeconds = delays.get(d.messageId) ?? batchDelay ?? 0;
      this.settled.push({ delivery: d, outcome: "retry", delaySeconds, at: now });
      if (d.attempts > MAX_RETRIES && d.queue === EMAIL_QUEUE_NAME) {
        // Queues hands a message that used up max_retries to the dead-letter queue.
        this.enqueue(EMAIL_DLQ_NAME, d.body);
      } else {
        this.pending.push({ ...d, attempts: d.attempts + 1, dueAt: now + delaySeconds * 1000 });
      }
    }
  }

  /** Takes the messages due now (oldest first), at most one batch of one queue. */
  takeDue(): Delivery[] {
    const now = Date.now();
    const due = this.pending.filter((d) => d.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
    const queue = due[0]?.queue;
    const batch = due.filter((d) => d.queue === queue).slice(0, BATCH_SIZE);
    for (const d of batch) this.pending.splice(this.pending.indexOf(d), 1);
    return batch;
  }

  /**
   * Delivers until nothing is left, moving the (fake) clock to the next due message whenever none
   * is due. Needs `vi.useFakeTimers({ toFake: ["Date"] })`.
   */
  async drain(maxBatches = 500): Promise<void> {
    for (let i = 0; i < maxBatches; i++) {
      const batch = this.takeDue();
      if (batch.length > 0) {
        await this.deliver(batch);
        continue;
      }
      if (this.pending.length === 0) return;
      vi.setSystemTime(Math.min(...this.pending.map((d) => d.dueAt)));
    }
    throw new Error(`queue not drained after ${maxBatches} batches`);
  }

  retriesOf(outboxId: string): Settled[] {
    return this.settled.filter((s) => s.outcome === "retry" && outboxIdOf(s.delivery.body) === outboxId);
  }
}

export function outboxIdOf(body: unknown): string | undefined {
  return (body as { outboxId?: string } | null)?.outboxId;
}

export interface OutboxFixture {
  id?: string;
  to?: string;
  template?: string;
  subject?: string;
  status?: string;
  attempts?: number;
  createdAt?: number;
  queuedAt?: number | null;
  nextAttemptAt?: number | null;
  leaseUntil?: number | null;
  lastError?: string | null;
  /**
   * As the writers mark it from the template. Off by default: the fixtures' bodies are placeholders,
   * whatever template they name. A finished row that carries a secret is inserted without its body,
   * as delivery leaves it.
   */
  carriesSecret?: boolean;
}

/** Inserts an outbox row as the writers do (rendered message), with any delivery state. */
export async function insertOutbox(fixture: OutboxFixture = {}): Promise<string> {
  const id = fixture.id ?? crypto.randomUUID();
  const now = Date.now();
  const status = fixture.status ?? "queued";
  const bodyless = fixture.carriesSecret === true && (status === "sent" || status === "dead_letter");
  await env.DB.prepare(
    `INSERT INTO email_outbox (id, "to", template, subject, text, html, carries_secret, status, attempts, created_at,
       queued_at, next_attempt_at, lease_until, last_error)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
    .bind(
      id,
      fixture.to ?? `${id}@example.com`,
      fixture.template ?? "otp-code",
      bodyless ? null : (fixture.subject ?? `Subject ${id}`),
      bodyless ? null : "text body",
      bodyless ? null : "<p>html body</p>",
      fixture.carriesSecret ? 1 : 0,
      status,
      fixture.attempts ?? 0,
      fixture.createdAt ?? now,
      fixture.queuedAt === undefined ? now : fixture.queuedAt,
      fixture.nextAttemptAt === undefined ? now : fixture.nextAttemptAt,
      fixture.leaseUntil ?? null,
      fixture.lastError ?? null,
    )
    .run();
  return id;
}

export interface OutboxState {
  id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  provider_message_id: string | null;
  sent_at: number | null;
  next_attempt_at: number | null;
  lease_until: number | null;
}

export async function outboxRow(id: string): Promise<OutboxState> {
  const row = await env.DB.prepare(
    "SELECT id, status, attempts, last_error, provider_message_id, sent_at, next_attempt_at, lease_until FROM email_outbox WHERE id = ?",
  )
    .bind(id)
    .first<OutboxState>();
  if (!row) throw new Error(`no outbox row ${id}`);
  return row;
}

export async function deadLettersFor(refId: string) {
  return (
    await env.DB.prepare("SELECT * FROM dead_letters WHERE ref_id = ? ORDER BY created_at")
      .bind(refId)
      .all<{ id: string; source: string; reason: string; payload: string; replayed_at: number | null }>()
  ).results;
}

/** Production-shaped configuration that sends through Resend (faked at fetch in the tests). */
export const RESEND_ENV = { EMAIL_TRANSPORT: "resend", RESEND_API_KEY: "re_test_0123456789abcdef" };

/** A clock that only moves forward within a test file, so RateLimiter state never sees time run back. */
let clock = Date.now();
export function startClock(): number {
  clock += 24 * 60 * 60 * 1000;
  vi.useFakeTimers({ toFake: ["Date"], now: clock });
  return clock;
}
export function stopClock(): void {
  clock = Math.max(clock, Date.now());
  vi.useRealTimers();
}
