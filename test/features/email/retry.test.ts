import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { canRetry, MAX_SEND_ATTEMPTS, retryDelaySeconds } from "../../../src/features/email/retry";

describe("email retry schedule", () => {
  it("is 1 s, 5 s, 30 s, 5 min, 30 min: six attempts in all", () => {
    expect(LIMITS.emailRetryDelaysSeconds).toEqual([1, 5, 30, 300, 1800]);
    expect(MAX_SEND_ATTEMPTS).toBe(6);
    expect([1, 2, 3, 4, 5].map((n) => canRetry(n))).toEqual([true, true, true, true, true]);
    expect(canRetry(6)).toBe(false);
  });

  it("jitter only stretches a wait, by at most a quarter", () => {
    const lowest = [1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, null, () => 0));
    const highest = [1, 2, 3, 4, 5].map((n) => retryDelaySeconds(n, null, () => 0.999_999));
    expect(lowest).toEqual([1, 5, 30, 300, 1800]);
    expect(highest).toEqual([1, 6, 37, 374, 2249]);
  });

  it("never retries before the provider's Retry-After, and never beyond what Queues accepts", () => {
    expect(retryDelaySeconds(1, 90, () => 0)).toBe(90);
    expect(retryDelaySeconds(5, 60, () => 0)).toBe(1800);
    expect(retryDelaySeconds(1, 10 * 24 * 3600, () => 0)).toBe(LIMITS.queueMaxDelaySeconds);
  });
});
