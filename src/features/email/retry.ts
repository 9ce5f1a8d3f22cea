/**
 * When to try an email again: the retry schedule with upward jitter, a provider's Retry-After, and
 * when the attempts are used up. Pure functions; the numbers and their reasons live in limits.ts.
 */
import { LIMITS } from "../../config/limits";
import { backoffBounds, backoffDelay, type RetrySchedule, scheduledDelay } from "../../lib/backoff";

/** Past the last entry the last wait repeats; canRetry decides when to stop. */
const SCHEDULE: RetrySchedule = {
  delays: LIMITS.emailRetryDelaysSeconds,
  jitterRatio: LIMITS.emailRetryJitterRatio,
  afterLast: "repeat-last",
};

/** Provider attempts an email gets: the first, plus one per schedule entry. */
export const MAX_SEND_ATTEMPTS = 1 + LIMITS.emailRetryDelaysSeconds.length;

/** Whether an email that has failed `attempts` times may be tried again. */
export function canRetry(attempts: number): boolean {
  return attempts < MAX_SEND_ATTEMPTS;
}

/** The scheduled wait before retry n (1-based), before jitter. */
export function scheduledDelaySeconds(retry: number): number {
  return scheduledDelay(SCHEDULE, retry) as number;
}

/**
 * The wait before the next attempt after `attempts` failed ones: the schedule entry stretched by up
 * to `emailRetryJitterRatio` (never shortened), at least the provider's Retry-After, and within the
 * Queues delay limit. Whole seconds, because `retry({ delaySeconds })` takes whole seconds.
 */
export function retryDelaySeconds(attempts: number, retryAfterSeconds: number | null, random = Math.random): number {
  const jittered = backoffDelay(SCHEDULE, attempts, random) as number;
  return Math.min(Math.max(jittered, retryAfterSeconds ?? 0), LIMITS.queueMaxDelaySeconds);
}

/** Jitter bounds of retry n, for callers that check a delay (tests, logs). */
export function retryDelayBounds(retry: number): { min: number; max: number } {
  return backoffBounds(SCHEDULE, retry);
}
