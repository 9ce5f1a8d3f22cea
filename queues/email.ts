/**
 * Email queue consumer (queue `gatehouse-email`, messages `{ outboxId }`). Each message is handled
 * and acknowledged on its own, so a crash part-way through a batch re-delivers only the unfinished
 * messages, and those find their rows sent, or re-send under the same Idempotency-Key.
 *
 * Per message: read the row (already sent or dead ⇒ ack: a duplicate delivery) → take the send
 * budget (over a limit ⇒ a new delayed message and ack, so waiting never burns a retry) → claim the
 * row under a lease → send → record: sent; transient ⇒ `retry({ delaySeconds })` on the schedule;
 * permanent or out of attempts ⇒ dead-letter at once.
 */
import { type Config, ConfigError, getConfig } from "../src/config";
import { LIMITS } from "../src/config/limits";
import { claim, deadLetterEmail, markSent, postpone, readOutbox, scheduleRetry } from "../src/features/email/delivery";
import { parseEmailMessage } from "../src/features/email/enqueue";
import { canRetry, MAX_SEND_ATTEMPTS, retryDelaySeconds } from "../src/features/email/retry";
import { takeSendBudget } from "../src/features/email/throttle";
import { type EmailTransport, transportFor } from "../src/features/email/transport";
import { log } from "../src/lib/log";

export const EMAIL_QUEUE_NAME = "gatehouse-email";

/** What to do with the message once its email has been dealt with. */
type Settle =
  | { action: "ack" }
  /** Queues re-delivers this message later (counts against max_retries). */
  | { action: "retry"; delaySeconds: number }
  /** A fresh message later, and ack this one: waiting (rate limit, someone else's lease) is not a failure. */
  | { action: "later"; delaySeconds: number };

const ACK: Settle = { action: "ack" };

/** Seconds until epoch-ms `at`, at least 1 (Queues delays are whole seconds). */
const secondsUntil = (at: number, now: number) => Math.max(1, Math.ceil((at - now) / 1000));

async function deliver(env: Env, config: Config, transport: EmailTransport, outboxId: string): Promise<Settle> {
  const now = Date.now();
  const row = await readOutbox(env.DB, outboxId);
  if (!row) {
    log("warn", "email queue: no such outbox row", { outboxId });
    return ACK;
  }
  if (row.status === "sent" || row.status === "dead_letter") return ACK;
  if (row.status === "sending" && row.lease_until !== null && row.lease_until > now) {
    // Another delivery is sending it now (or crashed doing so): look again when its lease ends.
    return { action: "later", delaySeconds: secondsUntil(row.lease_until, now) };
  }
  if (!canRetry(row.attempts)) {
    // The last attempt's outcome was never recorded (a crash after it): give up now, not send a 7th.
    const reason = `gave up after ${row.attempts} attempts; last error: ${row.last_error ?? "not recorded (consumer stopped)"}`;
    if (await deadLetterEmail(env.DB, row, reason, { unclaimedAt: now }, now)) {
      log("error", "email dead-lettered", { outboxId, template: row.template, attempts: row.attempts, reason });
    }
    return ACK;
  }

  const budget = await takeSendBudget(env.RATE_LIMITER, config, row.to);
  if (!budget.ok) {
    const wait = budget.waitSeconds + Math.floor(Math.random() * (LIMITS.emailRateLimitJitterSeconds + 1));
    await postpone(env.DB, outboxId, wait, now);
    return { action: "later", delaySeconds: wait };
  }

  const claimed = await claim(env.DB, outboxId, Date.now());
  // Lost the claim to a racing duplicate delivery: check back after its lease, in case it crashes.
  if (!claimed) return { action: "later", delaySeconds: LIMITS.emailLeaseSeconds };

  const outcome = await transport.send(claimed.email);
  const done = Date.now();
  if (outcome.kind === "sent") {
    if (!(await markSent(env.DB, claimed, outcome.providerMessageId, done))) {
      // Slower than the lease: another delivery may re-send, under the same Idempotency-Key.
      log("warn", "email sent after its lease ran out", { outboxId, attempts: claimed.attempts });
    }
    return ACK;
  }
  if (outcome.kind === "transient" && canRetry(claimed.attempts)) {
    const delaySeconds = retryDelaySeconds(claimed.attempts, outcome.retryAfterSeconds);
    await scheduleRetry(env.DB, claimed, outcome.reason, delaySeconds, done);
    log("warn", "email attempt failed; retrying", {
      outboxId,
      attempts: claimed.attempts,
      delaySeconds,
      reason: outcome.reason,
    });
    return { action: "retry", delaySeconds };
  }
  const reason =
    outcome.kind === "permanent"
      ? `permanent: ${outcome.reason}`
      : `gave up after ${MAX_SEND_ATTEMPTS} attempts; last error: ${outcome.reason}`;
  const failed = { id: outboxId, template: claimed.email.template, attempts: claimed.attempts };
  await deadLetterEmail(env.DB, failed, reason, { lease: claimed.lease }, done);
  log("error", "email dead-lettered", { outboxId, template: failed.template, attempts: failed.attempts, reason });
  return ACK;
}

async function settle(env: Env, message: Message<unknown>, outboxId: string, settleAs: Settle): Promise<void> {
  if (settleAs.action === "ack") return message.ack();
  if (settleAs.action === "retry") return message.retry({ delaySeconds: settleAs.delaySeconds });
  try {
    await env.EMAIL_QUEUE.send({ outboxId }, { delaySeconds: settleAs.delaySeconds });
    message.ack();
  } catch (error) {
    // Could not schedule a fresh message: let Queues re-deliver this one instead (never drop it).
    log("warn", "email queue: re-send failed; retrying the message", { outboxId, error });
    message.retry({ delaySeconds: settleAs.delaySeconds });
  }
}

export async function consumeEmailBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  let config: Config;
  try {
    config = getConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Fail closed: send nothing with a broken configuration, keep every message for after the fix.
    log("error", "configuration invalid: email delivery paused", { keys: error.keys });
    for (const message of batch.messages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, null) });
    return;
  }
  const transport = transportFor(config.email);
  for (const message of batch.messages) {
    const body = parseEmailMessage(message.body);
    if (!body) {
      log("error", "email queue: malformed message dropped", { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      await settle(env, message, body.outboxId, await deliver(env, config, transport, body.outboxId));
    } catch (error) {
      // D1 or the limiter failed around the send: Queues re-delivers with backoff, and after
      // max_retries hands the message to the dead-letter queue (queues/email-dlq.ts).
      log("error", "email delivery error; retrying", { outboxId: body.outboxId, attempts: message.attempts, error });
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, null) });
    }
  }
}
