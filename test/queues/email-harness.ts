/**
 * The email queue under test: the kit's queue simulator (test/support/queue.ts) consuming
 * gatehouse-email (max_retries 5, then gatehouse-email-dlq) and its dead-letter queue (max_retries 10), with EMAIL_QUEUE
 * bound to it, so every message the consumer sends to EMAIL_QUEUE comes back as a new delivery.
 * Also: outbox row fixtures.
 */
import { env } from "cloudflare:workers";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { EMAIL_DLQ_NAME } from "../../queues/email-dlq";
import { QueueSimulator, type Settled } from "../support/queue";

export type { Delivery, Settled } from "../support/queue";

export class QueueHarness extends QueueSimulator {
  constructor(overrides: Partial<Record<keyof Env | string, unknown>> = {}) {
    // wrangler.toml [[queues.consumers]] for gatehouse-email.
    super({
      queues: {
        [EMAIL_QUEUE_NAME]: { maxRetries: 5, deadLetterQueue: EMAIL_DLQ_NAME },
        [EMAIL_DLQ_NAME]: { maxRetries: 10 },
      },
    });
    this.env = { ...env, EMAIL_QUEUE: this.binding(EMAIL_QUEUE_NAME), ...overrides } as unknown as Env;
  }

  /** Messages the code under test sent to EMAIL_QUEUE (with their delay). */
  get produced(): { body: unknown; delaySeconds: number; at: number }[] {
    return this.sent
      .filter((s) => s.queue === EMAIL_QUEUE_NAME)
      .map(({ body, delaySeconds, at }) => ({ body, delaySeconds, at }));
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
