/**
 * The waiting room's clock, numbering and gate, kept by the event's object (issue 20, API "Hot
 * on-sales"). The queue lives in WaitingRoom shard objects (durable-objects/waiting-room): a buyer joins
 * and polls their shard, never this object. A shard reports its new arrivals here in batches (a few
 * times a second at most, whatever the crowd: see LIMITS.waitingRoomReportMs) and gets their numbers,
 * handed out densely in report order, so the line follows arrival order to within a report interval and
 * every number is a buyer. Admission is by number against a cursor that moves `admitPerSecond` a
 * second; the shards copy the clock with each report and decide admissions themselves, so no object
 * hands passes out one by one. Every claim and hold passes the gate (`admit`), which refuses a new
 * order without a verified pass while the queue is on.
 *
 * `on` is the host's choice. `auto` is measured here, two ways: arrivals (claims and holds, refused
 * ones too) counted per second against LIMITS.queueAutoOnPerSecond, a rate this object's decisions
 * sustain with headroom; and a standing backlog, the object's own measure of arrivals outrunning its
 * decisions wherever it runs: a second in which even the quickest arrival waited more than
 * LIMITS.queueAutoBacklogMs between the Worker sending it and the object deciding it. Either turns the
 * queue on; it goes off again only once the cursor has passed every number handed out (nobody is
 * waiting) and no second of the last LIMITS.queueAutoCoolMs was above half that rate or backlogged
 * (hysteresis: a crowd that thins for a moment does not flap it).
 *
 * The cursor never runs back: turning the queue on again continues past every number handed out
 * before, so an old number is simply admitted. Written: the numbering (one row, and each shard's last
 * batch so a retried report gets the same numbers) with every batch, the clock on transitions and at
 * most once a second while it moves; the arrival counts are memory.
 */
import { LIMITS } from "../../src/config/limits";
import {
  cursorAt,
  type EventSnapshot,
  type InventoryResult,
  type QueueClock,
  type QueueReport,
  type QueueReportAnswer,
  type QueueSettings,
} from "./contract";
import { fail } from "./rows";

/** The clock as the row keeps it (the numbering's total and the burst are added for the shards). */
type Clock = Omit<QueueClock, "total" | "burst">;

type ClockRow = { mode: QueueClock["mode"]; active: number; anchor_at: number; anchor_cursor: number; rate: number };

const OFF: QueueSettings = { mode: "off", admitPerSecond: LIMITS.queueAdmitPerSecondDefault };

export class QueueGate {
  #sql: SqlStorage;
  #clock: Clock | null = null;
  #total: number | null = null;
  #storedAt = 0;
  #second = -1;
  #arrivals = 0;
  /** This second's arrivals that said when they were sent, and the shortest wait among them. */
  #timed = 0;
  #quickest = Number.POSITIVE_INFINITY;
  /** The last full second had a standing backlog (see the file comment). */
  #backlogged = false;
  /** The last moment a second had more than half the `auto` rate of arrivals, or a backlog (or the queue turned on). */
  #hotAt = 0;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /**
   * Counts one arrival (a claim or hold) and decides whether it may go on: null, or the refusal of a
   * new order (`existing` false) that carries no verified pass while the queue is on.
   */
  admit(event: EventSnapshot | null, pass: { verified: boolean; existing: boolean }, now: number, sentAt?: number) {
    this.#count(now, sentAt);
    const clock = this.#reconcile(event, now);
    if (!clock.active || pass.verified || pass.existing) return null;
    return fail<never>(
      "queue-pass-required",
      "This event's waiting room is on: join the queue (POST /api/v1/events/{id}/queue) and order with its pass.",
    ) as InventoryResult<never>;
  }

  /** A shard's report: numbers for its batch of arrivals (a retried batch gets the same), and the clock. */
  report(event: EventSnapshot | null, report: QueueReport, now: number): QueueReportAnswer {
    let clock = this.#reconcile(event, now);
    let first = 0;
    let count = 0;
    if (clock.active && report.count > 0) {
      const prev = this.#sql
        .exec<{ batch: number; first: number; count: number }>(
          "SELECT batch, first, count FROM queue_batches WHERE shard = ?",
          report.shard,
        )
        .toArray()[0];
      if (prev && prev.batch === report.batch) {
        first = prev.first;
        count = prev.count;
      } else {
        first = this.#totalNow();
        count = report.count;
        this.#total = first + count;
        this.#sql.exec(
          "INSERT INTO queue_numbering (id, total) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET total = excluded.total",
          this.#total,
        );
        this.#sql.exec(
          `INSERT INTO queue_batches (shard, batch, first, count) VALUES (?, ?, ?, ?)
           ON CONFLICT (shard) DO UPDATE SET batch = excluded.batch, first = excluded.first, count = excluded.count`,
          report.shard,
          report.batch,
          first,
          count,
        );
      }
    }
    if (clock.active && now > clock.anchorAt) {
      // Move the anchor to now, so the shards extrapolate from their last report only.
      clock = { ...clock, anchorAt: now, anchorCursor: cursorAt(this.#full(clock), now) };
      this.#clock = clock;
      if (now - this.#storedAt >= LIMITS.waitingRoomSyncMs) this.#store(clock, now);
    }
    return { clock: this.#full(clock), first, count };
  }

  #totalNow(): number {
    this.#total ??=
      this.#sql.exec<{ total: number }>("SELECT total FROM queue_numbering WHERE id = 1").toArray()[0]?.total ?? 0;
    return this.#total;
  }

  #full(clock: Clock): QueueClock {
    return { ...clock, total: this.#totalNow(), burst: Math.min(LIMITS.waitingRoomShards, clock.rate) };
  }

  #count(now: number, sentAt: number | undefined): void {
    const second = Math.floor(now / 1000);
    if (second !== this.#second) {
      // The second that just ended, if it is the one before this: backlogged when even its quickest
      // timed arrival waited long (enough of them to tell).
      this.#backlogged =
        second === this.#second + 1 &&
        this.#timed >= LIMITS.queueAutoBacklogSamples &&
        this.#quickest > LIMITS.queueAutoBacklogMs;
      this.#second = second;
      this.#arrivals = 0;
      this.#timed = 0;
      this.#quickest = Number.POSITIVE_INFINITY;
    }
    this.#arrivals += 1;
    if (sentAt !== undefined) {
      this.#timed += 1;
      this.#quickest = Math.min(this.#quickest, Math.max(0, now - sentAt));
    }
    if (this.#arrivals > LIMITS.queueAutoOnPerSecond / 2 || this.#backlogged) this.#hotAt = now;
  }

  #load(now: number): Clock {
    if (this.#clock) return this.#clock;
    const row = this.#sql
      .exec<ClockRow>("SELECT mode, active, anchor_at, anchor_cursor, rate FROM queue_clock WHERE id = 1")
      .toArray()[0];
    // After a restart the cursor moves on from now: never a jump for the time it was away.
    this.#clock = row
      ? {
          mode: row.mode,
          active: row.active === 1,
          anchorAt: Math.max(row.anchor_at, now),
          anchorCursor: row.anchor_cursor,
          rate: row.rate,
        }
      : { mode: "off", active: false, anchorAt: 0, anchorCursor: 0, rate: OFF.admitPerSecond };
    // An `auto` queue stays on for a full cool-down after a restart before it may go off.
    if (this.#clock.active) this.#hotAt = now;
    return this.#clock;
  }

  /** Brings the clock in line with the event's settings and the arrivals, writing any transition. */
  #reconcile(event: EventSnapshot | null, now: number): Clock {
    const clock = this.#load(now);
    const settings = event?.queue ?? OFF;
    const on = this.#wantsOn(clock, settings, now);
    let next: Clock = clock;
    if (on && !clock.active) {
      // On from here, past every number handed out before (they were let in while it was off); a
      // burst's worth at once for whoever comes first, unless sales have yet to start.
      const salesStart = settings.mode === "on" ? (event?.salesStartAt ?? now) : now;
      const opensNow = salesStart <= now;
      const burst = Math.min(LIMITS.waitingRoomShards, settings.admitPerSecond);
      next = {
        mode: settings.mode,
        active: true,
        anchorAt: Math.max(now, salesStart),
        anchorCursor: Math.max(clock.anchorCursor, this.#totalNow()) + (opensNow ? burst : 0),
        rate: settings.admitPerSecond,
      };
      this.#hotAt = now;
    } else if (!on && clock.active) {
      next = { ...clock, mode: settings.mode, active: false, anchorCursor: cursorAt(this.#full(clock), now) };
    } else if (clock.active && (clock.rate !== settings.admitPerSecond || clock.mode !== settings.mode)) {
      // A new rate moves the cursor from where it is now (before the start: from the start).
      next =
        now < clock.anchorAt
          ? { ...clock, mode: settings.mode, rate: settings.admitPerSecond }
          : {
              ...clock,
              mode: settings.mode,
              anchorAt: now,
              anchorCursor: cursorAt(this.#full(clock), now),
              rate: settings.admitPerSecond,
            };
    } else if (clock.mode !== settings.mode) {
      next = { ...clock, mode: settings.mode };
    }
    if (next !== clock) this.#store(next, now);
    return next;
  }

  #wantsOn(clock: Clock, settings: QueueSettings, now: number): boolean {
    if (settings.mode === "on") return true;
    if (settings.mode === "off") return false;
    if (!clock.active) {
      const thisSecond = this.#second === Math.floor(now / 1000);
      return thisSecond && (this.#arrivals > LIMITS.queueAutoOnPerSecond || this.#backlogged);
    }
    const drained = cursorAt(this.#full(clock), now) >= this.#totalNow();
    return !(drained && now - this.#hotAt >= LIMITS.queueAutoCoolMs);
  }

  #store(clock: Clock, now: number): void {
    this.#clock = clock;
    this.#storedAt = now;
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
