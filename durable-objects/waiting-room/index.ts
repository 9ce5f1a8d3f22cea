/**
 * WaitingRoom: one shard of an event's queue (issue 20, API "Hot on-sales"). An event has
 * LIMITS.waitingRoomShards of them, named `<eventId>:<k>`; a buyer always lands on shard
 * hash(user id) mod K (src/features/queue/service.ts), so joining again finds the same number. Shard k
 * hands out k, k+K, k+2K, … — but never below the admission cursor, so a queue with nobody waiting
 * admits at once — and the numbers of all shards interleave into one line without any object seeing
 * more than 1/K of the arrivals.
 *
 * Admission is by number: numbers below the cursor are in. The cursor is a clock (it moves
 * `admitPerSecond` a second from an anchor), kept by the event's EventInventory object
 * (event-inventory/queue.ts), which this shard asks at most once a second (LIMITS.waitingRoomSyncMs),
 * never per join; if the object does not answer in time the last copy serves for a while. So no
 * coordinator is in the join path, and admissions follow the numbers, first come first served, at
 * the rate the host set.
 *
 * A buyer found admitted keeps a window of LIMITS.queuePassSeconds (their pass's lifetime); once it has
 * passed, joining again queues them at the back. Each new number and each first admission is one row
 * write; a poll that changes nothing writes nothing.
 */
import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../../src/config/limits";
import { withDeadline } from "../../src/lib/deadline";
import { cursorAt, type QueueClock } from "../event-inventory/contract";
import type { JoinAnswer, JoinRequest } from "./contract";

type EntrantRow = { number: number; admitted_at: number | null };

const K = LIMITS.waitingRoomShards;
const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/** The smallest number ≥ `floor` that is ≡ `shard` (mod K). */
export function firstOfShard(shard: number, floor: number): number {
  return floor + ((((shard - floor) % K) + K) % K);
}

export class WaitingRoom extends DurableObject<Env> {
  #sql: SqlStorage;
  #clock: QueueClock | null = null;
  #syncedAt = 0;
  #syncing: Promise<QueueClock> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS entrants (
          user_id TEXT PRIMARY KEY, number INTEGER NOT NULL, joined_at INTEGER NOT NULL, admitted_at INTEGER);
        CREATE TABLE IF NOT EXISTS numbering (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER NOT NULL);
      `);
    });
  }

  /** Joins (or polls) the queue: the buyer's number and whether it is in. */
  async join(request: JoinRequest): Promise<JoinAnswer> {
    const clock = await this.#currentClock(request.eventId);
    const now = Date.now();
    if (!clock.active) return { state: "admitted", number: null, admittedAt: now };
    return this.ctx.storage.transactionSync(() => this.#place(request, clock, now));
  }

  /** Everyone this shard numbered (development checks: the `waiting-room` benchmark's order check). */
  entrants(): { userId: string; number: number; joinedAt: number; admittedAt: number | null }[] {
    return this.#sql
      .exec<{ user_id: string; number: number; joined_at: number; admitted_at: number | null }>(
        "SELECT user_id, number, joined_at, admitted_at FROM entrants ORDER BY number",
      )
      .toArray()
      .map((r) => ({ userId: r.user_id, number: r.number, joinedAt: r.joined_at, admittedAt: r.admitted_at }));
  }

  /** The buyer's place: their number (a new one for a newcomer, or after their window lapsed), in or not. */
  #place(request: JoinRequest, clock: QueueClock, now: number): JoinAnswer {
    const cursor = cursorAt(clock, now);
    let row = this.#sql
      .exec<EntrantRow>("SELECT number, admitted_at FROM entrants WHERE user_id = ?", request.userId)
      .toArray()[0];
    if (row && row.admitted_at !== null && now >= row.admitted_at + LIMITS.queuePassSeconds * 1000) row = undefined;
    if (!row) {
      // Never below the cursor less one second's admissions (at most K): a quiet queue lets one in at once.
      const floor = now < clock.anchorAt ? cursor : cursor - Math.min(K, clock.rate);
      const last = this.#sql.exec<{ last: number }>("SELECT last FROM numbering WHERE id = 1").toArray()[0]?.last;
      const number = Math.max(
        last === undefined ? Number.NEGATIVE_INFINITY : last + K,
        firstOfShard(request.shard, floor),
      );
      this.#sql.exec(
        "INSERT INTO numbering (id, last) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET last = excluded.last",
        number,
      );
      this.#sql.exec(
        `INSERT INTO entrants (user_id, number, joined_at, admitted_at) VALUES (?, ?, ?, NULL)
         ON CONFLICT (user_id) DO UPDATE SET number = excluded.number, joined_at = excluded.joined_at, admitted_at = NULL`,
        request.userId,
        number,
        now,
      );
      row = { number, admitted_at: null };
    }
    if (row.number < cursor) {
      if (row.admitted_at === null) {
        this.#sql.exec("UPDATE entrants SET admitted_at = ? WHERE user_id = ?", now, request.userId);
      }
      return { state: "admitted", number: row.number, admittedAt: row.admitted_at ?? now };
    }
    const aheadOfYou = row.number - cursor;
    const untilStart = Math.max(0, clock.anchorAt - now) / 1000;
    const estimatedWaitSeconds = Math.ceil(untilStart + (aheadOfYou + 1) / clock.rate);
    return {
      state: "waiting",
      number: row.number,
      aheadOfYou,
      estimatedWaitSeconds,
      pollAfterSeconds: clamp(estimatedWaitSeconds, LIMITS.queuePollMinSeconds, LIMITS.queuePollMaxSeconds),
    };
  }

  /**
   * The queue's clock: this shard's copy while it is younger than LIMITS.waitingRoomSyncMs, else a
   * fresh one from the event's object (one call at a time, shared by the joins waiting on it). When the
   * object does not answer in time, a copy younger than LIMITS.waitingRoomStaleMs still serves.
   */
  async #currentClock(eventId: string): Promise<QueueClock> {
    const now = Date.now();
    if (this.#clock && now - this.#syncedAt < LIMITS.waitingRoomSyncMs) return this.#clock;
    this.#syncing ??= this.#sync(eventId).finally(() => {
      this.#syncing = null;
    });
    try {
      return await this.#syncing;
    } catch (error) {
      if (this.#clock && Date.now() - this.#syncedAt < LIMITS.waitingRoomStaleMs) return this.#clock;
      throw error;
    }
  }

  async #sync(eventId: string): Promise<QueueClock> {
    const last = this.#sql.exec<{ last: number }>("SELECT last FROM numbering WHERE id = 1").toArray()[0]?.last;
    const stub = this.env.EVENT_INVENTORY.getByName(eventId);
    const clock = await withDeadline(
      stub.queueSync({ handedOut: last === undefined ? Number.NEGATIVE_INFINITY : last + 1 }),
      LIMITS.waitingRoomSyncTimeoutMs,
      "the event's inventory",
    );
    this.#clock = clock;
    this.#syncedAt = Date.now();
    return clock;
  }
}
