/**
 * Processing one payments work item (an inbox event or a refund job) from the queue: read the row,
 * honour a chained delay, attempt, then record the verdict — done, retry on the schedule, or
 * dead-letter after the last retry. What to do with the queue message is returned, not done here.
 * Tips (money/tips.ts) share the inbox and the refund jobs but have their own handlers and a shorter
 * attempt budget (TIP_WEBHOOK_MAX_ATTEMPTS): the budget is per kind of work.
 */
import { log } from "../../lib/log";
import { applyTipEvent, attemptTipRefund, isTipEvent, isTipRefund, TIP_WEBHOOK_MAX_ATTEMPTS } from "../money";
import { applyEvent } from "./apply";
import type { PaymentsDeps } from "./deps";
import { deadLetter, finishInbox, type InboxRow, readInbox, scheduleRetry, type WorkTable } from "./inbox";
import { attemptRefund, type RefundRow, readRefund, releaseRefusedRefund } from "./refunds";
import { hopSeconds, isEarly, MAX_ATTEMPTS, retryDelaySeconds } from "./retry";

export type Settle = { action: "ack" } | { action: "retry"; delaySeconds: number };

const ACK: Settle = { action: "ack" };

export async function processEvent(deps: PaymentsDeps, row: InboxRow | null): Promise<Settle> {
  if (row?.status !== "received") return ACK;
  const now = Date.now();
  if (isEarly(row.next_attempt_at, now)) return { action: "retry", delaySeconds: hopSeconds(row.next_attempt_at, now) };
  let tip = false;
  try {
    tip = await isTipEvent(deps.db, deps.config.pii, row);
    const outcome = tip ? await applyTipEvent(deps, row) : await applyEvent(deps, row);
    await finishInbox(deps.db, row, outcome, Date.now());
    return ACK;
  } catch (error) {
    const payload = { kind: tip ? "tip-event" : "event", type: row.type, objectId: row.object_id };
    return failed(deps, "stripe_events", row, error, payload, tip ? TIP_WEBHOOK_MAX_ATTEMPTS : MAX_ATTEMPTS);
  }
}

export async function processEventById(deps: PaymentsDeps, id: string): Promise<Settle> {
  return processEvent(deps, await readInbox(deps.db, id));
}

export async function processRefund(deps: PaymentsDeps, id: string): Promise<Settle> {
  const job = await readRefund(deps.db, id);
  if (job?.status !== "pending") return ACK;
  const now = Date.now();
  if (isEarly(job.next_attempt_at, now)) return { action: "retry", delaySeconds: hopSeconds(job.next_attempt_at, now) };
  let attempt: Awaited<ReturnType<typeof attemptRefund>>;
  try {
    attempt = isTipRefund(job) ? await attemptTipRefund(deps, job) : await attemptRefund(deps, job);
  } catch (error) {
    return failed(deps, "refunds", job, error, refundPayload(job));
  }
  if (attempt.kind === "done") return ACK;
  if (!attempt.transient) {
    // Stripe refused for good (e.g. the payment cannot be refunded this way): a person must look.
    await deadLetter(deps.db, "refunds", job, `permanent: ${attempt.message}`, refundPayload(job), Date.now());
    // After the dead letter, so a new request sees the refusal instead of reserving again for a dead job.
    await releaseRefusedRefund(deps, job);
    return ACK;
  }
  return failed(deps, "refunds", job, new Error(attempt.message), refundPayload(job));
}

function refundPayload(job: RefundRow): Record<string, unknown> {
  return { kind: "refund", orderId: job.order_id, eventId: job.event_id, reason: job.reason };
}

/** A failed attempt: the next one on the schedule, or the dead-letter list after the last. */
async function failed(
  deps: PaymentsDeps,
  table: WorkTable,
  item: { id: string; attempts: number },
  error: unknown,
  payload: Record<string, unknown>,
  maxAttempts = MAX_ATTEMPTS,
): Promise<Settle> {
  const message = error instanceof Error ? error.message : String(error);
  const failures = item.attempts + 1;
  const now = Date.now();
  const delay = retryDelaySeconds(failures);
  if (delay === null || failures >= maxAttempts) {
    await deadLetter(
      deps.db,
      table,
      { id: item.id, attempts: failures },
      `gave up after ${failures} attempts; last error: ${message}`,
      payload,
      now,
    );
    return ACK;
  }
  const dueAt = now + delay * 1000;
  await scheduleRetry(deps.db, table, item, message, dueAt, now);
  log("warn", "payments work failed; retrying", { table, id: item.id, failures, delaySeconds: delay, error: message });
  return { action: "retry", delaySeconds: hopSeconds(dueAt, now) };
}
