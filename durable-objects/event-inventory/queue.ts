/**
 * The waiting room's clock and gate, kept by the event's object (issue 20, API "Hot on-sales"). The
 * queue itself lives in WaitingRoom shard objects (durable-objects/waiting-room), which number
 * arrivals; admission is by number against a cursor that moves `admitPerSecond` a second, so no
 * object has to hand passes out one by one. This object is the one authority on that cursor (whether
 * the queue is on, from which instant and number it moves, at what rate): the shards copy it at most
 * once a second each (`sync`), and every claim and hold passes the gate (`admit`), which refuses a
 * new order without a verified pass while the queue is on.
 *
 * `on` is the host's choice. `auto` is measured here: arrivals (claims and holds, refused ones too)
 * counted per second against LIMITS.queueAutoOnPerSecond, the rate this object's decisions sustain;
 * a second above it turns the queue on, and it goes off again only once the cursor has passed every
 * number a shard handed out (nobody is waiting) and no second of the last LIMITS.queueAutoCoolMs was
 * above half that rate (hysteresis: a crowd that thins for a moment does not flap it).
 *
 * The cursor never runs back: turning the queue on again continues past every number handed out
 * before, so an old number is simply admitted. Only transitions are written (one row); the arrival
 * counts are memory, rebuilt within a second after a restart.
 */
import { LIMITS } from "../../src/config/limits";
import { cursorAt, type EventSnapshot, type InventoryResult, type QueueClock, type QueueSettings } from "./contract";
import { fail } from "./rows";

type ClockRow = { mode: QueueClock["mode"]; active: number; anchor_at: number; anchor_cursor: number; rate: number };

const OFF: QueueSettings = { mode: "off", admitPerSecond: LIMITS.queueAdmitPerSecondDefault };

export class QueueGate {
  #sql: SqlStorage;
  #clock: QueueClock | null = null;
  /** Every number below this was handed out by some shard (their reports). */
  #handedOut = Number.NEGATIVE_INFINITY;
  #second = -1;
  #arrivals = 0;
  /** The last moment a second had more than half the `auto` rate of arrivals (or the queue turned on). */
  #hotAt = 0;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /**
   * Counts one arrival (a claim or hold) and decides whether it may go on: null, or the refusal of a
   * new order (`existing` false) that carries no verified pass while the queue is on.
   */
  admit(event: EventSnapshot | null, pass: { verified: boolean; existing: boolean }, now: number) {
    this.#count(now);
    const clock = this.#reconcile(event, now);
    if (!clock.active || pass.verified || pass.existing) return null;
    return fail<never>(
      "queue-pass-required",
      "This event's waiting room is on: join the queue (POST /api/v1/events/{id}/queue) and order with its pass.",
    ) as InventoryResult<never>;
  }

  /** A shard's copy of the clock; `handedOut`: every number below it was handed out by that shard. */
  sync(event: EventSnapshot | null, handedOut: number, now: number): QueueClock {
    if (handedOut > this.#handedOut) this.#handedOut = handedOut;
    return this.#reconcile(event, now);
  }

  #count(now: number): void {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#arrivals = 0;
    }
    this.#arrivals += 1;
    if (this.#arrivals > LIMITS.queueAutoOnPerSecond / 2) this.#hotAt = now;
  }

  #load(): QueueClock {
    if (this.#clock) return this.#clock;
    const row = this.#sql
      .exec<ClockRow>("SELECT mode, active, anchor_at, anchor_cursor, rate FROM queue_clock WHERE id = 1")
      .toArray()[0];
    this.#clock = row
      ? {
          mode: row.mode,
          active: row.active === 1,
          anchorAt: row.anchor_at,
          anchorCursor: row.anchor_cursor,
          rate: row.rate,
        }
      : { mode: "off", active: false, anchorAt: 0, anchorCursor: 0, rate: OFF.admitPerSecond };
    // After a restart an `auto` queue stays on for a full cool-down before it may go off.
    if (this.#clock.active) this.#hotAt = Date.now();
    return this.#clock;
  }

  /** Brings the clock in line with the event's settings and the arrivals, writing any transition. */
  #reconcile(event: EventSnapshot | null, now: number): QueueClock {
    const clock = this.#load();
    const settings = event?.queue ?? OFF;
    const on = this.#wantsOn(clock, settings, now);
    let next: QueueClock = clock;
    if (on && !clock.active) {
      // On from here: past every number handed out before (they were let in while it was off).
      const salesStart = settings.mode === "on" ? (event?.salesStartAt ?? now) : now;
      next = {
        mode: settings.mode,
        active: true,
        anchorAt: Math.max(now, salesStart),
        anchorCursor: Math.max(clock.anchorCursor, Number.isFinite(this.#handedOut) ? this.#handedOut : 0),
        rate: settings.admitPerSecond,
      };
      this.#hotAt = now;
    } else if (!on && clock.active) {
      next = { ...clock, mode: settings.mode, active: false, anchorCursor: cursorAt(clock, now) };
    } else if (clock.active && (clock.rate !== settings.admitPerSecond || clock.mode !== settings.mode)) {
      // A new rate moves the cursor from where it is now (before the start: from the start).
      next =
        now < clock.anchorAt
          ? { ...clock, mode: settings.mode, rate: settings.admitPerSecond }
          : {
              ...clock,
              mode: settings.mode,
              anchorAt: now,
              anchorCursor: cursorAt(clock, now),
              rate: settings.admitPerSecond,
            };
    } else if (clock.mode !== settings.mode) {
      next = { ...clock, mode: settings.mode };
    }
    if (next !== clock) this.#store(next);
    return next;
  }

  #wantsOn(clock: QueueClock, settings: QueueSettings, now: number): boolean {
    if (settings.mode === "on") return true;
    if (settings.mode === "off") return false;
    if (!clock.active) return this.#second === Math.floor(now / 1000) && this.#arrivals > LIMITS.queueAutoOnPerSecond;
    const drained = !Number.isFinite(this.#handedOut) || cursorAt(clock, now) >= this.#handedOut;
    return !(drained && now - this.#hotAt >= LIMITS.queueAutoCoolMs);
  }

  #store(clock: QueueClock): void {
    this.#clock = clock;
    this.#sql.exec(
      `INSERT INTO queue_clock (id, mode, active, anchor_at, anchor_cursor, rate) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET mode = excluded.mode, active = excluded.active, anchor_at = excluded.anchor_at,
         anchor_cursor = excluded.anchor_cursor, rate = excluded.rate`,
      clock.mode,
      clock.active ? 1 : 0,
      clock.anchorAt,
      clock.anchorCursor,
      clock.rate,
    );
  }
}
