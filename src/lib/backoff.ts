/**
 * Retry schedules, one rule for all of them: failure n waits the n-th entry of the schedule,
 * stretched upward at random by up to `jitterRatio` of itself (never shortened, so a burst that
 * failed together does not retry together). Past the last entry a schedule either repeats its last
 * wait (a push that must eventually get through) or gives up (null: dead-letter).
 */
export interface RetrySchedule {
  /** Waits after failure 1, 2, …, in the unit the caller uses (seconds or ms). */
  delays: readonly number[];
  /** Upward jitter as a fraction of the wait; 0 for none. Results are whole units. */
  jitterRatio: number;
  /** What failures beyond the schedule get. */
  afterLast: "repeat-last" | "give-up";
}

/** The wait after failure `failures` (1-based) before jitter; null once a give-up schedule is used up. */
export function scheduledDelay(schedule: RetrySchedule, failures: number): number | null {
  const { delays } = schedule;
  const index = Math.max(failures, 1) - 1;
  if (index < delays.length) return delays[index] as number;
  return schedule.afterLast === "repeat-last" ? (delays[delays.length - 1] ?? null) : null;
}

/** The jittered wait after failure `failures`; null = give up. */
export function backoffDelay(schedule: RetrySchedule, failures: number, random = Math.random): number | null {
  const base = scheduledDelay(schedule, failures);
  if (base === null) return null;
  return base + Math.floor(random() * base * schedule.jitterRatio);
}

/** The range backoffDelay may answer for failure `failures` (for checks in tests and logs). */
export function backoffBounds(schedule: RetrySchedule, failures: number): { min: number; max: number } {
  const base = scheduledDelay(schedule, failures) ?? 0;
  return { min: base, max: base + Math.floor(base * schedule.jitterRatio) };
}
