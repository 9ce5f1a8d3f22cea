import { describe, expect, it } from "vitest";
import { backoffBounds, backoffDelay, type RetrySchedule, scheduledDelay } from "../../src/lib/backoff";

const giveUp: RetrySchedule = { delays: [10, 100], jitterRatio: 0.5, afterLast: "give-up" };
const repeat: RetrySchedule = { delays: [1, 5], jitterRatio: 0, afterLast: "repeat-last" };

describe("retry schedules", () => {
  it("waits the n-th entry after failure n; past the end it gives up or repeats the last wait", () => {
    expect([1, 2, 3].map((n) => scheduledDelay(giveUp, n))).toEqual([10, 100, null]);
    expect([1, 2, 3, 50].map((n) => scheduledDelay(repeat, n))).toEqual([1, 5, 5, 5]);
    expect(backoffDelay(giveUp, 3)).toBeNull();
  });

  it("stretches a wait upward only, by at most the jitter ratio, in whole units", () => {
    expect(backoffDelay(giveUp, 2, () => 0)).toBe(100);
    expect(backoffDelay(giveUp, 2, () => 0.999)).toBe(149);
    expect(backoffBounds(giveUp, 2)).toEqual({ min: 100, max: 150 });
    expect(backoffDelay(repeat, 9, () => 0.999)).toBe(5);
    for (let i = 0; i < 200; i += 1) {
      const delay = backoffDelay(giveUp, 1) as number;
      expect(delay).toBeGreaterThanOrEqual(10);
      expect(delay).toBeLessThanOrEqual(15);
      expect(Number.isInteger(delay)).toBe(true);
    }
  });
});
