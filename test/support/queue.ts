/**
 * Cloudflare Queues, simulated for the Worker's `queue` handler under a controlled clock: messages
 * wait until their `delaySeconds` have passed, go out in batches of one queue (wrangler.toml
 * max_batch_size), and each message's fate follows what the consumer did with it (as Queues decides
 * it): an explicit ack() or retry() wins, then the batch's ackAll() or retryAll(), then a handler
 * that threw retries every message left, and a handler that returned acks them. A retried message
 * comes back after its delay with attempts + 1; one that used up max_retries goes to its queue's
 * dead-letter queue. Messages the code sends through the simulator's bindings are recorded (`sent`)
 * and, for a queue the simulator consumes, delivered like any other.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env as baseEnv } from "cloudflare:workers";
import { vi } from "vitest";
import worker from "../../src/index";

/** One consumed queue as wrangler.toml configures its consumer. */
export interface QueueSpec {
  maxRetries: number;
  deadLetterQueue?: string;
}

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

/** A message the code under test sent through one of the simulator's bindings. */
export interface Sent {
  queue: string;
  body: unknown;
  delaySeconds: number;
  at: number;
}

export interface QueueSimulatorOptions {
  /** The queues this simulator delivers, by name (a dead-letter queue is delivered once listed too). */
  queues: Record<string, QueueSpec>;
  /** wrangler.toml max_batch_size. */
  batchSize?: number;
  /** Prefix of generated message ids. */
  idPrefix?: string;
  /** The queue handler batches go to; the Worker's own `queue` unless a test scripts one. */
  consumer?: (batch: MessageBatch<unknown>, env: Env) => Promise<void>;
}

let counter = 0;

export class QueueSimulator {
  readonly pending: Delivery[] = [];
  readonly settled: Settled[] = [];
  readonly sent: Sent[] = [];
  /** The bindings the Worker runs with; subclasses put the simulator's queue bindings in. */
  env: Env = baseEnv;
  readonly #queues: Record<string, QueueSpec>;
  readonly #batchSize: number;
  readonly #idPrefix: string;
  readonly #consumer: (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

  constructor(options: QueueSimulatorOptions) {
    this.#consumer = options.consumer ?? ((batch, env) => worker.queue(batch, env));
    this.#queues = options.queues;
    this.#batchSize = options.batchSize ?? 10;
    this.#idPrefix = options.idPrefix ?? "msg";
  }

  /**
   * A queue binding for `queue`: what is sent to it is recorded in `sent` and, unless
   * `deliver: false` (a queue whose consumer is not under test), enqueued with its delay.
   */
  binding(queue: string, options: { deliver?: boolean } = {}): Queue {
    const push = (body: unknown, delaySeconds: number) => {
      this.sent.push({ queue, body, delaySeconds, at: Date.now() });
      if (options.deliver !== false) this.enqueue(queue, body, delaySeconds);
    };
    const binding = {
      send: async (body: unknown, sendOptions?: QueueSendOptions) => {
        push(body, sendOptions?.delaySeconds ?? 0);
      },
      sendBatch: async (messages: Iterable<MessageSendRequest<unknown>>, batchOptions?: QueueSendBatchOptions) => {
        for (const m of messages) push(m.body, m.delaySeconds ?? batchOptions?.delaySeconds ?? 0);
      },
    };
    return binding as unknown as Queue;
  }

  /** Puts a message on `queue`, due after `delaySeconds`, as its `attempts`-th delivery. */
  enqueue(queue: string, body: unknown, delaySeconds = 0, attempts = 1, messageId?: string): void {
    counter += 1;
    this.pending.push({
      messageId: messageId ?? `${this.#idPrefix}-${counter}`,
      queue,
      body,
      attempts,
      dueAt: Date.now() + delaySeconds * 1000,
    });
  }

  /** Delivers `deliveries` as one batch to the Worker's queue handler and applies the verdicts. */
  async deliver(deliveries: Delivery[]): Promise<void> {
    const queue = deliveries[0]?.queue;
    if (queue === undefined) return;
    const batch = createMessageBatch(
      queue,
      deliveries.map((d) => ({ id: d.messageId, timestamp: new Date(), attempts: d.attempts, body: d.body })),
    );
    // getQueueResult does not always say with which delay a message was retried: record it on the way.
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
      await this.#consumer(batch, this.env);
    } catch {
      threw = true;
    }
    const result = await getQueueResult(batch, ctx);
    const now = Date.now();
    for (const d of deliveries) {
      const retried = result.retryMessages.find((r) => r.msgId === d.messageId);
      const acked =
        result.explicitAcks.includes(d.messageId) ||
        (!retried && (result.ackAll || (!threw && !result.retryBatch.retry)));
      if (acked) {
        this.settled.push({ delivery: d, outcome: "ack", at: now });
        continue;
      }
      const delaySeconds =
        delays.get(d.messageId) ?? retried?.delaySeconds ?? batchDelay ?? result.retryBatch.delaySeconds ?? 0;
      this.settled.push({ delivery: d, outcome: "retry", delaySeconds, at: now });
      const spec = this.#queues[d.queue];
      if (spec && d.attempts > spec.maxRetries) {
        // Queues hands a message that used up max_retries to the dead-letter queue, or deletes it.
        if (spec.deadLetterQueue) this.enqueue(spec.deadLetterQueue, d.body);
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
    const batch = due.filter((d) => d.queue === queue).slice(0, this.#batchSize);
    for (const d of batch) this.pending.splice(this.pending.indexOf(d), 1);
    return batch;
  }

  /**
   * Delivers until nothing due is left. With `advanceClock` (the default) the frozen clock
   * (test/support/clock) jumps to the next delayed message whenever none is due, so whole retry
   * schedules play out; without it, delayed messages stay pending.
   */
  async drain(options: { advanceClock?: boolean; maxBatches?: number } = {}): Promise<void> {
    const maxBatches = options.maxBatches ?? 500;
    for (let i = 0; i < maxBatches; i++) {
      const batch = this.takeDue();
      if (batch.length > 0) {
        await this.deliver(batch);
        continue;
      }
      if (this.pending.length === 0 || options.advanceClock === false) return;
      if (!vi.isFakeTimers()) {
        throw new Error("drain() moves the clock to delayed messages: freeze it first (test/support/clock)");
      }
      vi.setSystemTime(Math.min(...this.pending.map((d) => d.dueAt)));
    }
    throw new Error(`queue not drained after ${maxBatches} batches`);
  }
}
