/**
 * Email queue consumer (queue `gatehouse-email`, messages `{ outboxId }`), a batch at a time so
 * that a full batch costs a handful of D1 round trips and limiter calls instead of several per email:
 *
 * 1. claim every row at once (one D1 batch of conditional UPDATEs, each taking the row under a lease
 *    and counting the attempt); a row that did not claim is read (one query) and settled by its
 *    state: sent or dead ⇒ ack (a duplicate delivery); someone else's live lease ⇒ look again when
 *    it ends; out of attempts ⇒ dead-letter;
 * 2. take the send budgets (each recipient's, then the global one for the whole batch in one call);
 *    over a limit ⇒ the row is handed back (queued, attempt not counted) and a new delayed message
 *    replaces this one, so waiting never burns a retry;
 * 3. send one by one; transient ⇒ `retry({ delaySeconds })` on the schedule; permanent or out of
 *    attempts ⇒ dead-letter at once;
 * 4. record the accepted sends in one batch, then ack.
 *
 * A crash between a send and its record leaves the row `sending`; the message comes back, waits out
 * the lease and sends again under the same Idempotency-Key, which the provider answers from its
 * record: never a second email, never a lost one.
 */
import { type Config, ConfigError, getConfig } from "../src/config";
import { LIMITS } from "../src/config/limits";
import {
  type Claim,
  claimAll,
  deadLetterEmail,
  markAllSent,
  type OutboxState,
  readStates,
  scheduleRetry,
  unclaimAll,
} from "../src/features/email/delivery";
import { type EmailQueueMessage, parseEmailMessage } from "../src/features/email/enqueue";
import { canRetry, MAX_SEND_ATTEMPTS, retryDelaySeconds } from "../src/features/email/retry";
import { takeSendBudgets } from "../src/features/email/throttle";
import { type EmailTransport, transportFor } from "../src/features/email/transport";
import { log } from "../src/lib/log";
import { dropProbes } from "../src/lib/queue-probe";

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
/** Whole seconds until `at`, at least 1 and at most what Queues accepts as a message's delay. */
const secondsUntil = (at: number, now: number) =>
  Math.min(LIMITS.queueMaxDelaySeconds, Math.max(1, Math.ceil((at - now) / 1000)));

/** Settles a row that could not be claimed, from its state (step 1). */
async function unclaimable(env: Env, outboxId: string, state: OutboxState | null, now: number): Promise<Settle> {
  if (!state) {
    log("warn", "email queue: no such outbox row", { outboxId });
    return ACK;
  }
  if (state.status === "sent" || state.status === "dead_letter") return ACK;
  if (state.status === "sending" && state.lease_until !== null && state.lease_until > now) {
    // Another delivery is sending it now (or crashed doing so): look again when its lease ends.
    return { action: "later", delaySeconds: secondsUntil(state.lease_until, now) };
  }
  if (!canRetry(state.attempts)) {
    // The last attempt's outcome was never recorded (a crash after it): give up now, not send a 7th.
    const reason = `gave up after ${state.attempts} attempts; last error: ${state.last_error ?? "not recorded (consumer stopped)"}`;
    if (await deadLetterEmail(env.DB, state, reason, { unclaimedAt: now }, now)) {
      log("error", "email dead-lettered", { outboxId, template: state.template, attempts: state.attempts, reason });
    }
    return ACK;
  }
  // Claimable again by now (a lease ran out between the claim and the read): its next delivery takes it.
  return { action: "later", delaySeconds: 1 };
}

/** Settles a claimed row whose send failed (step 3). */
async function failed(
  env: Env,
  claimed: Claim,
  outcome:
    | { kind: "transient"; reason: string; retryAfterSeconds: number | null }
    | { kind: "permanent"; reason: string },
): Promise<Settle> {
  const done = Date.now();
  const outboxId = claimed.email.id;
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
  const row = { id: outboxId, template: claimed.email.template, attempts: claimed.attempts };
  await deadLetterEmail(env.DB, row, reason, { lease: claimed.lease }, done);
  log("error", "email dead-lettered", { outboxId, template: row.template, attempts: row.attempts, reason });
  return ACK;
}

/** Steps 1–4 for the distinct outbox ids of one batch; the verdict for each id. */
async function deliverAll(
  env: Env,
  config: Config,
  transport: EmailTransport,
  ids: readonly string[],
): Promise<Map<string, Settle>> {
  const verdicts = new Map<string, Settle>();
  const now = Date.now();
  const claims = await claimAll(env.DB, config.pii, ids, now);
  const unclaimed = ids.filter((id) => !claims.has(id));
  const states = await readStates(env.DB, unclaimed);
  for (const id of unclaimed) verdicts.set(id, await unclaimable(env, id, states.get(id) ?? null, now));

  const claimed = [...claims.values()];
  const budgets = await takeSendBudgets(
    env.RATE_LIMITER,
    config,
    claimed.map((c) => c.email.to),
  );
  const waiting: { claimed: Claim; delaySeconds: number }[] = [];
  const cleared: Claim[] = [];
  claimed.forEach((c, i) => {
    const budget = budgets[i];
    if (budget?.ok) cleared.push(c);
    else {
      const jitter = Math.floor(Math.random() * (LIMITS.emailRateLimitJitterSeconds + 1));
      // A wait past Queues' longest delay (a budget far behind, as a backlog of a big on-sale's
      // confirmations makes) comes back at that delay and asks the budget again: a longer delay is
      // refused, and the message would be retried until it dead-lettered.
      const delaySeconds = Math.min((budget?.waitSeconds ?? 1) + jitter, LIMITS.queueMaxDelaySeconds);
      waiting.push({ claimed: c, delaySeconds });
    }
  });
  await unclaimAll(env.DB, waiting, Date.now());
  for (const w of waiting) verdicts.set(w.claimed.email.id, { action: "later", delaySeconds: w.delaySeconds });

  const sent: { claimed: Claim; providerMessageId: string | null }[] = [];
  for (const c of cleared) {
    const outcome = await transport.send(c.email);
    if (outcome.kind === "sent") sent.push({ claimed: c, providerMessageId: outcome.providerMessageId });
    else verdicts.set(c.email.id, await failed(env, c, outcome));
  }
  const recorded = await markAllSent(env.DB, sent, Date.now());
  sent.forEach(({ claimed: c }, i) => {
    // Slower than the lease: another delivery may re-send, under the same Idempotency-Key.
    if (!recorded[i]) log("warn", "email sent after its lease ran out", { outboxId: c.email.id, attempts: c.attempts });
    verdicts.set(c.email.id, ACK);
  });
  return verdicts;
}

/**
 * Applies the verdicts: acks and retries directly; every "later" as one fresh delayed message each,
 * sent in one call, and only then acked. If that send fails, those messages are retried by Queues
 * instead (never dropped).
 */
async function settleAll(
  env: Env,
  settles: readonly { message: Message<unknown>; outboxId: string; settle: Settle }[],
) {
  const later: { message: Message<unknown>; outboxId: string; delaySeconds: number }[] = [];
  for (const { message, outboxId, settle } of settles) {
    if (settle.action === "ack") message.ack();
    else if (settle.action === "retry") message.retry({ delaySeconds: settle.delaySeconds });
    else later.push({ message, outboxId, delaySeconds: settle.delaySeconds });
  }
  if (later.length === 0) return;
  try {
    await env.EMAIL_QUEUE.sendBatch(
      later.map(({ outboxId, delaySeconds }) => ({ body: { outboxId } satisfies EmailQueueMessage, delaySeconds })),
    );
    for (const { message } of later) message.ack();
  } catch (error) {
    log("warn", "email queue: re-send failed; retrying the messages", { count: later.length, error });
    for (const { message, delaySeconds } of later) message.retry({ delaySeconds });
  }
}

export async function consumeEmailBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // /health's probes first: acknowledged and ignored, whatever state the configuration is in.
  const messages = dropProbes(batch.messages);
  if (messages.length === 0) return;
  let config: Config;
  try {
    config = getConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Fail closed: send nothing with a broken configuration, keep every message for after the fix.
    log("error", "configuration invalid: email delivery paused", { keys: error.keys });
    for (const message of messages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts, null) });
    return;
  }
  const transport = transportFor(config.email);
  // One message per outbox id carries the work; a second one for the same id in this batch is a
  // duplicate delivery and is acknowledged.
  const carriers = new Map<string, Message<unknown>>();
  for (const message of messages) {
    const body = parseEmailMessage(message.body);
    if (!body) {
      log("error", "email queue: malformed message dropped", { messageId: message.id });
      message.ack();
    } else if (carriers.has(body.outboxId)) {
      message.ack();
    } else {
      carriers.set(body.outboxId, message);
    }
  }
  // wrangler.toml caps batches at LIMITS.emailBatchMax; chunks keep one lease covering its sends anyway.
  const ids = [...carriers.keys()];
  for (let i = 0; i < ids.length; i += LIMITS.emailBatchMax) {
    const chunk = ids.slice(i, i + LIMITS.emailBatchMax);
    let verdicts: Map<string, Settle>;
    try {
      verdicts = await deliverAll(env, config, transport, chunk);
    } catch (error) {
      // D1 or the limiter failed around the sends: Queues re-delivers with backoff, and after
      // max_retries hands the message to the dead-letter queue (queues/email-dlq.ts). Rows a send
      // reached stay `sending` and are sent again after their lease under the same Idempotency-Key.
      for (const outboxId of chunk) {
        const message = carriers.get(outboxId) as Message<unknown>;
        log("error", "email delivery error; retrying", { outboxId, attempts: message.attempts, error });
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts, null) });
      }
      continue;
    }
    await settleAll(
      env,
      chunk.map((outboxId) => ({
        message: carriers.get(outboxId) as Message<unknown>,
        outboxId,
        settle: verdicts.get(outboxId) ?? ACK,
      })),
    );
  }
}
