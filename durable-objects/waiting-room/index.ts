/**
 * WaitingRoom: one shard of an event's queue (issue 20, API "Hot on-sales"). An event has
 * LIMITS.waitingRoomShards of them, named `<eventId>:<k>`; a buyer always lands on shard
 * hash(user id) mod K (src/features/queue/service.ts), so joining again finds the same place. Joins and
 * polls land here, spread over the shards; no single object sees the crowd.
 *
 * Numbers come from the event's EventInventory object (event-inventory/queue.ts), which hands them out
 * densely in the order shards report: this shard reports its new arrivals in one batch at most once
 * per LIMITS.waitingRoomReportMs while people are waiting (an alarm makes sure a batch never waits
 * longer), or at once when nobody is (so a quiet queue lets a newcomer straight in); one report is in
 * flight at a time, carrying everyone who came meanwhile. So the object's load is bounded by the
 * number of shards, not by the crowd, and the line follows arrival order to within a report interval.
 *
 * Admission is by number against the queue's clock, which comes back with every report (and is
 * refreshed at least once per LIMITS.waitingRoomSyncMs): numbers below the cursor are in. If the
 * object does not answer in time, the last copy serves for a while. A buyer found admitted keeps a
 * window of LIMITS.queuePassSeconds (their pass's lifetime); once it has passed, joining again queues
 * them at the back.
 *
 * The line is kept until LIMITS.waitingRoomKeepAfterStartMs after the event starts (joins end at the
 * start); then the alarm deletes all of the shard's storage.
 */
import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../../src/config/limits";
import { withDeadline } from "../../src/lib/deadline";
import { cursorAt, type QueueClock } from "../event-inventory/contract";
import type { JoinAnswer, JoinRequest } from "./contract";

type EntrantRow = { seq: number; number: number | null; arrived_at: number; admitted_at: number | null };
type ShardRow = { event_id: string; shard: number; next_seq: number; batch: number };

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

export class WaitingRoom extends DurableObject<Env> {
  #sql: SqlStorage;
  #clock: QueueClock | null = null;
  #clockAt = 0;
  #reportedAt = 0;
  #reporting: Promise<QueueClock> | null = null;
  /** Whether the tables exist (they go with the purge, and come back if anyone joins after it). */
  #ready = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => this.#createTables());
  }

  #createTables(): void {
    if (this.#ready) return;
    this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS queue_entrants (
          user_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, number INTEGER, arrived_at INTEGER NOT NULL,
          admitted_at INTEGER);
        CREATE INDEX IF NOT EXISTS queue_entrants_pending ON queue_entrants (seq) WHERE number IS NULL;
        CREATE TABLE IF NOT EXISTS queue_shard (
          id INTEGER PRIMARY KEY CHECK (id = 1), event_id TEXT NOT NULL, shard INTEGER NOT NULL,
          next_seq INTEGER NOT NULL, batch INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS queue_keep (id INTEGER PRIMARY KEY CHECK (id = 1), purge_at INTEGER NOT NULL);
      `);
    this.#ready = true;
  }

  /** Joins (or polls) the queue: the buyer's place, or that they are in. */
  async join(request: JoinRequest): Promise<JoinAnswer> {
    this.#createTables();
    await this.#remember(request);
    let clock = await this.#currentClock();
    if (!clock.active) return { state: "admitted", number: null, admittedAt: Date.now() };
    let row = this.ctx.storage.transactionSync(() => this.#enter(request.userId, Date.now()));
    if (row.number === null) {
      const now = Date.now();
      const quiet = cursorAt(clock, now) >= clock.total;
      if (quiet || now - this.#reportedAt >= LIMITS.waitingRoomReportMs) {
        try {
          clock = await this.#report();
        } catch {
          // The alarm tries again; meanwhile the buyer waits with an estimate.
        }
        row = this.#row(request.userId) ?? row;
      }
      if (row.number === null) this.#armReport();
    }
    return this.ctx.storage.transactionSync(() => this.#answer(request.userId, row, clock, Date.now()));
  }

  /**
   * Reports arrivals still without a number (the report a join left for later); once the line's time
   * is up (see the file comment), deletes the shard's storage instead.
   */
  override async alarm(): Promise<void> {
    const purgeAt = this.#purgeAt();
    if (purgeAt !== null && Date.now() >= purgeAt) {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.#ready = false;
      this.#clock = null;
      return;
    }
    if (this.#pendingCount()) {
      try {
        await this.#report();
      } catch {
        await this.ctx.storage.setAlarm(Date.now() + LIMITS.waitingRoomSyncMs);
        return;
      }
    }
    // Arrivals that came during the report are reported soon; else the alarm waits for the purge.
    const due = this.#pendingCount() ? Date.now() + LIMITS.waitingRoomReportMs : purgeAt;
    if (due !== null) await this.#armAt(due);
  }

  /** Everyone this shard placed (development checks: the `waiting-room` benchmark's order check). */
  entrants(): { userId: string; number: number | null; arrivedAt: number; admittedAt: number | null }[] {
    return this.#sql
      .exec<{ user_id: string; number: number | null; arrived_at: number; admitted_at: number | null }>(
        "SELECT user_id, number, arrived_at, admitted_at FROM queue_entrants ORDER BY seq",
      )
      .toArray()
      .map((r) => ({ userId: r.user_id, number: r.number, arrivedAt: r.arrived_at, admittedAt: r.admitted_at }));
  }

  async #remember(request: JoinRequest): Promise<void> {
    this.#sql.exec(
      "INSERT INTO queue_shard (id, event_id, shard, next_seq, batch) VALUES (1, ?, ?, 0, 0) ON CONFLICT (id) DO NOTHING",
      request.eventId,
      request.shard,
    );
    // A moved start moves the purge with it (a later join carries the event as it is now).
    const purgeAt = request.startsAt + LIMITS.waitingRoomKeepAfterStartMs;
    if (this.#purgeAt() !== purgeAt) {
      this.#sql.exec(
        "INSERT INTO queue_keep (id, purge_at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET purge_at = ?1",
        purgeAt,
      );
      // Awaited (storage only, no other caller runs meanwhile): a report's alarm armed later in this
      // join then sees it, and stays the sooner one.
      await this.#armAt(purgeAt);
    }
  }

  #purgeAt(): number | null {
    if (!this.#ready) return null;
    return (
      this.#sql.exec<{ purge_at: number }>("SELECT purge_at FROM queue_keep WHERE id = 1").toArray()[0]?.purge_at ??
      null
    );
  }

  /** Sets the alarm for `at` unless one is due sooner (a report's). */
  async #armAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  #meta(): ShardRow {
    return this.#sql.exec<ShardRow>("SELECT event_id, shard, next_seq, batch FROM queue_shard WHERE id = 1").one();
  }

  #row(userId: string): EntrantRow | undefined {
    return this.#sql
      .exec<EntrantRow>("SELECT seq, number, arrived_at, admitted_at FROM queue_entrants WHERE user_id = ?", userId)
      .toArray()[0];
  }

  #pendingCount(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM queue_entrants WHERE number IS NULL").one().n;
  }

  /** The buyer's row: a newcomer (or one whose admission window lapsed) joins the back of the line. */
  #enter(userId: string, now: number): EntrantRow {
    const row = this.#row(userId);
    const lapsed = row?.admitted_at != null && now >= row.admitted_at + LIMITS.queuePassSeconds * 1000;
    if (row && !lapsed) return row;
    const seq = this.#meta().next_seq;
    this.#sql.exec("UPDATE queue_shard SET next_seq = ? WHERE id = 1", seq + 1);
    this.#sql.exec(
      `INSERT INTO queue_entrants (user_id, seq, number, arrived_at, admitted_at) VALUES (?, ?, NULL, ?, NULL)
       ON CONFLICT (user_id) DO UPDATE SET seq = excluded.seq, number = NULL, arrived_at = excluded.arrived_at,
         admitted_at = NULL`,
      userId,
      seq,
      now,
    );
    return { seq, number: null, arrived_at: now, admitted_at: null };
  }

  #answer(userId: string, row: EntrantRow, clock: QueueClock, now: number): JoinAnswer {
    if (row.admitted_at !== null) return { state: "admitted", number: row.number, admittedAt: row.admitted_at };
    const cursor = cursorAt(clock, now);
    if (row.number !== null && row.number < cursor) {
      this.#sql.exec("UPDATE queue_entrants SET admitted_at = ? WHERE user_id = ?", now, userId);
      return { state: "admitted", number: row.number, admittedAt: now };
    }
    // Not numbered yet: behind everyone numbered, and this shard's earlier arrivals.
    const aheadOfYou =
      row.number !== null
        ? Math.max(0, row.number - Math.ceil(cursor))
        : Math.max(0, clock.total - Math.ceil(cursor)) +
          this.#sql
            .exec<{ n: number }>("SELECT COUNT(*) AS n FROM queue_entrants WHERE number IS NULL AND seq < ?", row.seq)
            .one().n;
    const untilStart = Math.max(0, clock.anchorAt - now) / 1000;
    const behind = row.number !== null ? row.number + 1 - cursor : aheadOfYou + 1;
    const estimatedWaitSeconds = Math.max(1, Math.ceil(untilStart + behind / clock.rate));
    return {
      state: "waiting",
      number: row.number,
      aheadOfYou,
      estimatedWaitSeconds,
      pollAfterSeconds: clamp(estimatedWaitSeconds, LIMITS.queuePollMinSeconds, LIMITS.queuePollMaxSeconds),
    };
  }

  #armReport(): void {
    // Not awaited: the output gate holds the answer until the alarm is stored. An alarm already due
    // sooner (a report's) is kept; the purge's, due later, gives way.
    void this.#armAt(Date.now() + LIMITS.waitingRoomReportMs);
  }

  /**
   * The queue's clock: this shard's copy while it is younger than LIMITS.waitingRoomSyncMs, else a
   * fresh one (a report). When the object does not answer in time, a copy younger than
   * LIMITS.waitingRoomStaleMs still serves.
   */
  async #currentClock(): Promise<QueueClock> {
    if (this.#clock && Date.now() - this.#clockAt < LIMITS.waitingRoomSyncMs) return this.#clock;
    try {
      return await this.#report();
    } catch (error) {
      if (this.#clock && Date.now() - this.#clockAt < LIMITS.waitingRoomStaleMs) return this.#clock;
      throw error;
    }
  }

  /** One report at a time: the arrivals without a number, as the next batch, numbered by the object. */
  #report(): Promise<QueueClock> {
    this.#reporting ??= this.#sendReport().finally(() => {
      this.#reporting = null;
    });
    return this.#reporting;
  }

  async #sendReport(): Promise<QueueClock> {
    const meta = this.#meta();
    const count = this.#pendingCount();
    const stub = this.env.EVENT_INVENTORY.getByName(meta.event_id);
    const answer = await withDeadline(
      stub.queueReport({ shard: meta.shard, batch: meta.batch, count }),
      LIMITS.waitingRoomSyncTimeoutMs,
      "the event's inventory",
    );
    this.ctx.storage.transactionSync(() => {
      if (answer.count === 0) return;
      // The first `count` arrivals by seq are the ones reported (later ones have higher seqs).
      const pending = this.#sql
        .exec<{ user_id: string }>(
          "SELECT user_id FROM queue_entrants WHERE number IS NULL ORDER BY seq LIMIT ?",
          answer.count,
        )
        .toArray();
      pending.forEach((p, i) => {
        this.#sql.exec("UPDATE queue_entrants SET number = ? WHERE user_id = ?", answer.first + i, p.user_id);
      });
      this.#sql.exec("UPDATE queue_shard SET batch = batch + 1 WHERE id = 1");
    });
    const now = Date.now();
    this.#clock = answer.clock;
    this.#clockAt = now;
    this.#reportedAt = now;
    return answer.clock;
  }
}
