/**
 * Email dead-letter queue consumer (queue `gatehouse-email-dlq`). Queues moves a message here when
 * the email consumer kept failing it past max_retries without reaching a verdict (a bug, D1 down):
 * the row is marked dead_letter with the last recorded error, listed for admins to replay, and
 * logged. An email that was sent meanwhile, or is being sent right now, is left alone.
 */
import { deadLetterEmail, readOutbox } from "../src/features/email/delivery";
import { parseEmailMessage } from "../src/features/email/enqueue";
import { retryDelaySeconds } from "../src/features/email/retry";
import { log } from "../src/lib/log";
import { dropProbes } from "../src/lib/queue-probe";

export const EMAIL_DLQ_NAME = "gatehouse-email-dlq";

async function bury(env: Env, message: Message<unknown>, outboxId: string): Promise<void> {
  const now = Date.now();
  const row = await readOutbox(env.DB, outboxId);
  if (!row || row.status === "sent" || row.status === "dead_letter") return message.ack();
  if (row.status === "sending" && row.lease_until !== null && row.lease_until > now) {
    // A consumer holds it this minute: its verdict wins; look again once the lease is over.
    return message.retry({ delaySeconds: Math.max(1, Math.ceil((row.lease_until - now) / 1000)) });
  }
  const reason = `queue retries exhausted; last error: ${row.last_error ?? "none recorded (the consumer failed before sending)"}`;
  if (await deadLetterEmail(env.DB, row, reason, { unclaimedAt: now }, now)) {
    log("error", "email dead-lettered", { outboxId, template: row.template, attempts: row.attempts, reason });
  }
  message.ack();
}

export async function consumeEmailDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // A /health probe is acknowledged by the email consumer and never lands here; should one, it is dropped.
  for (const message of dropProbes(batch.messages)) {
    const body = parseEmailMessage(message.body);
    if (!body) {
      log("error", "email dead-letter queue: malformed message dropped", { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      await bury(env, message, body.outboxId);
    } catch (error) {
      log("error", "email dead-letter queue: could not record; retrying", { outboxId: body.outboxId, error });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, null) });
    }
  }
}
