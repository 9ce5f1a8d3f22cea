/**
 * The test kit's frozen clock: Date stands still until moved, timers stay real unless asked for,
 * the real clock is back after the test, and moving a clock nobody froze is refused.
 */
import { describe, expect, it, vi } from "vitest";
import { advanceClock, freezeClock, freezeClockForward, setClock } from "./clock";

const T0 = Date.UTC(2033, 6, 1, 12, 0, 0);
let forwardReached = 0;

describe("the frozen clock", () => {
  it("stands still at the time given until set or advanced; timers stay real", async () => {
    const clock = freezeClock(new Date(T0));
    expect(Date.now()).toBe(T0);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(Date.now()).toBe(T0);
    expect(clock.advance(1500)).toBe(T0 + 1500);
    expect(setClock(T0 + 60_000)).toBe(T0 + 60_000);
    expect(advanceClock(1)).toBe(T0 + 60_001);
    expect(new Date().toISOString()).toBe("2033-07-01T12:01:00.001Z");
  });

  it("is the real clock again in the next test, and refuses to be moved", () => {
    expect(vi.isFakeTimers()).toBe(false);
    expect(Date.now()).toBeLessThan(T0);
    expect(() => setClock(T0)).toThrow(/not frozen/);
    expect(() => advanceClock(1)).toThrow(/not frozen/);
  });

  it("with timers: advance runs the timers that fall due", () => {
    const clock = freezeClock(T0, { timers: true });
    const fired: number[] = [];
    setTimeout(() => fired.push(Date.now()), 1000);
    clock.advance(999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([T0 + 1000]);
  });

  it("a forward clock starts a day past anything an earlier test reached", () => {
    const realNow = Date.now();
    const clock = freezeClockForward();
    expect(clock.now() - realNow).toBeGreaterThan(23 * 60 * 60 * 1000);
    forwardReached = clock.advance(30 * 24 * 60 * 60 * 1000);
  });

  it("…so state kept across tests never sees time run back", () => {
    const clock = freezeClockForward();
    expect(clock.now()).toBe(forwardReached + 24 * 60 * 60 * 1000);
  });
});
