/**
 * A frozen clock for tests: `Date` stands still at the time given until the test moves it, and the
 * real clock is back when the test finishes. Only `Date` is faked unless the test asks for timers
 * too (`{ timers: true }`: setTimeout, setInterval and their clear functions, moved by `advance`).
 * `setClock` and `advanceClock` move the clock frozen in the current test (from a helper, or a test
 * whose beforeEach froze it), and refuse when none is: vi.setSystemTime would silently fake `Date`
 * for good.
 */
import { onTestFinished, vi } from "vitest";

export interface FrozenClock {
  /** The frozen time, in ms since the epoch. */
  now(): number;
  /** Moves the clock forward by `ms` (running due fake timers, if faked) and returns the new time. */
  advance(ms: number): number;
  /** Sets the clock to `at` and returns it. */
  set(at: number | Date): number;
}

let frozen: FrozenClock | null = null;

const TIMERS = ["Date", "setTimeout", "clearTimeout", "setInterval", "clearInterval"] as const;

/**
 * Freezes the clock at `at` (default: now) until the current test finishes. Call it in the test or
 * its beforeEach; calling it again re-freezes at the new time.
 */
export function freezeClock(at: number | Date = Date.now(), options: { timers?: boolean } = {}): FrozenClock {
  return freeze(typeof at === "number" ? at : at.getTime(), options);
}

function freeze(start: number, options: { timers?: boolean }, onRestore?: (reached: number) => void): FrozenClock {
  vi.useFakeTimers({ toFake: options.timers ? [...TIMERS] : ["Date"], now: start });
  onTestFinished(() => {
    onRestore?.(Date.now());
    vi.useRealTimers();
    if (frozen === clock) frozen = null;
  });
  const clock: FrozenClock = {
    now: () => Date.now(),
    advance(ms: number) {
      if (options.timers) vi.advanceTimersByTime(ms);
      else vi.setSystemTime(Date.now() + ms);
      return Date.now();
    },
    set(next: number | Date) {
      vi.setSystemTime(next);
      return Date.now();
    },
  };
  frozen = clock;
  return clock;
}

function current(): FrozenClock {
  if (!frozen || !vi.isFakeTimers()) throw new Error("the clock is not frozen: call freezeClock() first");
  return frozen;
}

/** Sets the clock frozen in the current test to `at`; returns it. */
export function setClock(at: number | Date): number {
  return current().set(at);
}

/** Moves the clock frozen in the current test forward by `ms`; returns the new time. */
export function advanceClock(ms: number): number {
  return current().advance(ms);
}

/**
 * The start of a clock that only moves forward within a test file: each call is a day past the
 * latest time any earlier test reached, so state kept across tests (a RateLimiter's windows, an
 * object's rows) never sees time run back.
 */
let horizon = Date.now();
export function freezeClockForward(options: { timers?: boolean } = {}): FrozenClock {
  horizon += 24 * 60 * 60 * 1000;
  return freeze(horizon, options, (reached) => {
    horizon = Math.max(horizon, reached);
  });
}
