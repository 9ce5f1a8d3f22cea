/**
 * When webhook events and refund jobs are tried again: 1 min, 5 min, 30 min, 2 h, 24 h (with a little
 * upward jitter), then dead-letter. Cloudflare Queues delays a message at most 12 h, so a longer wait is
 * a chain of hops: the row remembers when the attempt is really due, and a message that arrives early
 * is simply sent back for the rest of the wait.
 */
import { LIMITS } from "../../config/limits";
import { backoffBounds, backoffDelay, type RetrySchedule, scheduledDelay } from "../../lib/backoff";

const SCHEDULE: RetrySchedule = {
  delays: LIMITS.webhookRetryDelaysSeconds,
  jitterRatio: LIMITS.webhookRetryJitterRatio,
  afterLast: "give-up",
};

/** Attempts an item gets: the first plus one per schedule entry. */
export const MAX_ATTEMPTS = 1 + LIMITS.webhookRetryDelaysSeconds.length;

/** The wait after failure number `failures` (1-based), before jitter; null once the schedule is used up. */
export function scheduledDelaySeconds(failures: number): number | null {
  return failures >= 1 ? scheduledDelay(SCHEDULE, failures) : null;
}

/** The wait after `failures` failures, stretched upward by up to webhookRetryJitterRatio; null = give up. */
export function retryDelaySeconds(failures: number, random = Math.random): number | null {
  return failures >= 1 ? backoffDelay(SCHEDULE, failures, random) : null;
}

/** Bounds of the wait after failure n, for checks (tests, logs). */
export function retryDelayBounds(failures: number): { min: number; max: number } {
  return backoffBounds(SCHEDULE, failures);
}

/** The delay for the next queue hop towards `dueAt` (whole seconds, ≥ 1, ≤ the Queues maximum). */
export function hopSeconds(dueAt: number, now: number): number {
  return Math.min(LIMITS.queueMaxDelaySeconds, Math.max(1, Math.ceil((dueAt - now) / 1000)));
}

/** A message this early is a hop of a chained delay, not an attempt (1 s of slack for clock noise). */
export function isEarly(dueAt: number | null, now: number): dueAt is number {
  return dueAt !== null && dueAt - now > 1000;
}
