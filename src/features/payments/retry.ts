/**
 * When webhook events and refund jobs are tried again: 1 min, 5 min, 30 min, 2 h, 24 h (with a little
 * upward jitter), then dead-letter. Cloudflare Queues delays a message at most 12 h, so a longer wait is
 * a chain of hops: the row remembers when the attempt is really due, and a message that arrives early
 * is simply sent back for the rest of the wait.
 */
import { LIMITS } from "../../config/limits";

/** Attempts an item gets: the first plus one per schedule entry. */
export const MAX_ATTEMPTS = 1 + LIMITS.webhookRetryDelaysSeconds.length;

/** The wait after failure number `failures` (1-based), before jitter; null once the schedule is used up. */
export function scheduledDelaySeconds(failures: number): number | null {
  return LIMITS.webhookRetryDelaysSeconds[failures - 1] ?? null;
}

/** The wait after `failures` failures, stretched upward by up to webhookRetryJitterRatio; null = give up. */
export function retryDelaySeconds(failures: number, random = Math.random): number | null {
  const base = scheduledDelaySeconds(failures);
  if (base === null) return null;
  return base + Math.floor(random() * base * LIMITS.webhookRetryJitterRatio);
}

/** Bounds of the wait after failure n, for checks (tests, logs). */
export function retryDelayBounds(failures: number): { min: number; max: number } {
  const base = scheduledDelaySeconds(failures) ?? 0;
  return { min: base, max: base + Math.floor(base * LIMITS.webhookRetryJitterRatio) };
}

/** The delay for the next queue hop towards `dueAt` (whole seconds, ≥ 1, ≤ the Queues maximum). */
export function hopSeconds(dueAt: number, now: number): number {
  return Math.min(LIMITS.queueMaxDelaySeconds, Math.max(1, Math.ceil((dueAt - now) / 1000)));
}

/** A message this early is a hop of a chained delay, not an attempt (1 s of slack for clock noise). */
export function isEarly(dueAt: number | null, now: number): dueAt is number {
  return dueAt !== null && dueAt - now > 1000;
}
