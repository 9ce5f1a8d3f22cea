/**
 * EventInventory's transactional outbox. A state change writes its records here in the same
 * `transactionSync` (so D1 can never miss a committed change, nor see one that rolled back); the
 * push sends them to D1 right after the commit and the alarm retries until D1 has them. Records are
 * replayed in `seq` order, which the projection uses to never overwrite newer state
 * (./projection.ts).
 */
import { piiFromEnv, readEnvironment } from "../../src/config";
import { LIMITS } from "../../src/config/limits";
import { handOverQueued, insertedOutboxIds } from "../../src/features/email/enqueue";
import {
  insertedWebhookEventIds,
  type OutgoingWebhookMessage,
  wakeWebhookEvents,
} from "../../src/features/webhooks/outbox";
import { type RetrySchedule, scheduledDelay } from "../../src/lib/backoff";
import type { InventoryOrder, InventoryTicket, WaitlistEntry } from "./contract";
import { linkOrigin, projectionStatements } from "./projection";

/** The emails the object sends, each with the data its template needs. */
export type InventoryEmail =
  | {
      /** Deterministic (`order-confirmed:<order id>`): a replayed push inserts it once. */
      id: string;
      to: string;
      template: "order-confirmed";
      data: {
        name: string;
        eventId: string;
        eventTitle: string;
        startsAt: number;
        orderId: string;
        serials: number[];
      };
    }
  | {
      /** Deterministic (`event-cancelled:<order id>`). */
      id: string;
      to: string;
      template: "event-cancelled";
      /** The event is always known when it is cancelled; optional as older rows were written. */
      data: { name: string; eventId?: string; eventTitle?: string; orderId: string; paid: boolean };
    }
  | {
      /** Deterministic (`waitlist-offer:<offer id>`): a ticket held for someone in the waitlist (./waitlist.ts). */
      id: string;
      to: string;
      template: "waitlist-offer";
      data: { name: string; eventId: string; eventTitle: string; offerId: string; expiresAt: number };
    };

/** One outbox record: what changed, as D1 should hold it. */
export type OutboxRecord =
  | { kind: "order"; payload: InventoryOrder }
  | { kind: "ticket"; payload: InventoryTicket }
  | { kind: "email"; payload: InventoryEmail }
  | { kind: "waitlist"; payload: WaitlistEntry };

/** An outbox row as stored: the record's payload as JSON. */
export type InventoryOutboxRow = {
  seq: number;
  kind: OutboxRecord["kind"];
  payload: string;
};

/** The record a stored row holds (written by `emit` below, so its payload matches its kind). */
export function decode(row: InventoryOutboxRow): OutboxRecord {
  return { kind: row.kind, payload: JSON.parse(row.payload) } as OutboxRecord;
}

/**
 * Records appended so far in this isolate. Every state change of the object writes its outbox
 * records in its transaction, so a transaction that leaves this unchanged changed nothing D1 or the
 * alarm need hear of (index.ts reads it around a claim: a sold-out refusal then costs no push and no
 * re-arm). A transaction runs synchronously, so no other object's code moves it in between.
 */
let appended = 0;
export const outboxAppends = (): number => appended;

/** Appends a record; `seq` orders projections so a replay never overwrites newer state. */
export function emit(sql: SqlStorage, record: OutboxRecord): void {
  appended += 1;
  sql.exec(
    "INSERT INTO outbox (kind, payload, created_at) VALUES (?, ?, ?)",
    record.kind,
    JSON.stringify(record.payload),
    Date.now(),
  );
}

/** Records per insert in emitAll: 3 bound values each, well under SQLite's bound-parameter limit. */
const EMIT_CHUNK = 30;

/**
 * Appends several records, `seq` in the order given, in one statement per EMIT_CHUNK of them (a sale
 * writes its order, tickets and email at once: one insert instead of one each).
 */
export function emitAll(sql: SqlStorage, records: readonly OutboxRecord[]): void {
  appended += records.length;
  const now = Date.now();
  for (let i = 0; i < records.length; i += EMIT_CHUNK) {
    const chunk = records.slice(i, i + EMIT_CHUNK);
    const values: SqlStorageValue[] = [];
    for (const record of chunk) values.push(record.kind, JSON.stringify(record.payload), now);
    sql.exec(
      `INSERT INTO outbox (kind, payload, created_at) VALUES ${chunk.map(() => "(?, ?, ?)").join(", ")}`,
      ...values,
    );
  }
}

const OUTBOX_BATCH = LIMITS.inventoryOutboxBatch;
const DRAIN_MAX_BATCHES = LIMITS.inventoryDrainMaxBatches;
/** After the schedule, every 2 min until the push gets through. */
const PUSH_RETRY: RetrySchedule = { delays: LIMITS.inventoryPushRetryMs, jitterRatio: 0, afterLast: "repeat-last" };
const OUTBOX_SAFETY_NET_MS = LIMITS.inventoryOutboxSafetyNetMs;

/** Pushes the outbox to D1 and keeps the object's alarm armed for what is left (holds, retries). */
export class OutboxPusher {
  readonly #ctx: DurableObjectState;
  readonly #env: Env;
  /** A wake-up the object wants besides these (its contacts' purge after the event), or null. */
  readonly #wake: () => number | null;
  /** The push that will include every outbox row committed so far (shared by concurrent callers). */
  #nextPush: Promise<void> | null = null;
  #inflightPush: Promise<void> | null = null;
  /** The arm that has not started yet (shared by every caller that arrives before it starts). */
  #nextArm: Promise<void> | null = null;
  #failures = 0;
  /** When the last claim's push started (Date.now()), for the next one to keep its spacing from it. */
  #lastSpacedAt = 0;
  /** Pushes run so far by this instance (pushStats). */
  #pushes = 0;
  /** The alarm arm() last set for the safety net alone (rows not yet pushed), while it may stand. */
  #safetyNetAt: number | null = null;
  /** The settled() run waiting on one push, shared by every caller that waits on the same push. */
  #settling: { push: Promise<void> | null; done: Promise<void> } | null = null;

  constructor(ctx: DurableObjectState, env: Env, wake: () => number | null = () => null) {
    this.#ctx = ctx;
    this.#env = env;
    this.#wake = wake;
  }

  /** Whether the last push failed (its backoff alarm is set, and carries every later row too). */
  get failing(): boolean {
    return this.#failures > 0;
  }

  size(): number {
    return this.#ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n;
  }

  /**
   * Pushes outbox rows to D1. Concurrent callers share one push: a caller that arrives while a push
   * is running waits for the next one, which starts after it and includes every row committed so far.
   * A push sends at most LIMITS.inventoryDrainMaxBatches batches; a backlog beyond them (after D1 was
   * away) goes on from the alarm, so a caller that awaited such a push may not find its row in D1 yet,
   * as after a failed push.
   *
   * `spaced` (a claim's push): it starts no sooner than LIMITS.inventoryClaimPushSpacingMs after the
   * previous claim's push started, so a burst of sales goes to D1 a window at a time, and a lone sale
   * at once; every caller that arrives meanwhile shares it. The wait is never longer than the
   * spacing, whatever the clock did.
   */
  push(spaced = false): Promise<void> {
    if (this.#nextPush) return this.#nextPush;
    const previous = this.#inflightPush ?? Promise.resolve();
    // .then runs after this assignment, so #nextPush is set before the push can clear it.
    const next: Promise<void> = previous
      .catch(() => undefined)
      .then(async () => {
        if (spaced) await this.#spacing();
        if (this.#nextPush === next) this.#nextPush = null;
        if (spaced) this.#lastSpacedAt = Date.now();
        this.#pushes += 1;
        const run = this.#drain();
        this.#inflightPush = run;
        return run.finally(() => {
          if (this.#inflightPush === run) this.#inflightPush = null;
        });
      });
    this.#nextPush = next;
    return next;
  }

  /** Waits out what is left of the spacing since the last claim's push started (0 to the spacing). */
  async #spacing(): Promise<void> {
    const spacing = LIMITS.inventoryClaimPushSpacingMs;
    const wait = Math.min(spacing, this.#lastSpacedAt + spacing - Date.now());
    if (wait > 0) await scheduler.wait(wait);
  }

  /** Pushes this instance has run (each sends what was committed before it started). */
  get pushes(): number {
    return this.#pushes;
  }

  async #drain(): Promise<void> {
    const sql = this.#ctx.storage.sql;
    // From the config module, as the Worker reads it: ENVIRONMENT unset is production, here too.
    const production = readEnvironment(this.#env) === "production";
    // Only what was committed before this push started: rows written meanwhile belong to the next
    // push, so under a steady stream of orders no caller waits for a lull.
    const upTo = sql.exec<{ seq: number | null }>("SELECT MAX(seq) AS seq FROM outbox").one().seq ?? 0;
    for (let batches = 0; ; batches++) {
      if (batches === DRAIN_MAX_BATCHES) {
        // A backlog (D1 was away): the rest goes from an alarm at once, an invocation of its own.
        this.#failures = 0;
        if (this.size() > 0) await this.arm(Date.now());
        return;
      }
      const rows = sql
        .exec<InventoryOutboxRow>(
          "SELECT seq, kind, payload FROM outbox WHERE seq <= ? ORDER BY seq LIMIT ?",
          upTo,
          OUTBOX_BATCH,
        )
        .toArray();
      if (rows.length === 0) {
        this.#failures = 0;
        return;
      }
      try {
        // The same batch marks the new emails queued; rows already queued are not marked again, so
        // a replayed push sends nothing twice (the cron sweep covers a failed hand-off).
        const queuedAt = Date.now();
        const results = await this.#env.DB.batch(
          projectionStatements(this.#env.DB, rows, {
            // Throws while PII_KEYS is missing in production: the push waits (alarm) rather than
            // write an email readable.
            pii: piiFromEnv(this.#env),
            mirrorDevMailbox: !production,
            linkOrigin: linkOrigin(this.#env),
            queuedAt,
          }),
        );
        await handOverQueued(this.#env.DB, this.#env.EMAIL_QUEUE, insertedOutboxIds(results), queuedAt);
        // The webhook events the batch wrote (waitlist offers): their deliveries start now (never throws;
        // the cron sweep hands over any the queue did not take).
        await wakeWebhookEvents(
          this.#env.OUTGOING_WEBHOOK_QUEUE as Queue<OutgoingWebhookMessage>,
          insertedWebhookEventIds(results),
        );
      } catch (error) {
        this.#failures += 1;
        const delay = scheduledDelay(PUSH_RETRY, this.#failures) as number;
        await this.arm(Date.now() + delay);
        throw error;
      }
      const last = rows[rows.length - 1] as InventoryOutboxRow;
      sql.exec("DELETE FROM outbox WHERE seq <= ?", last.seq);
    }
  }

  /**
   * `arm()` after a commit, shared: callers that arrive before it starts (every caller of one push
   * resumes in the same turn) get the same run, which reads the state after all of their commits.
   */
  armSoon(): Promise<void> {
    if (this.#nextArm) return this.#nextArm;
    const next: Promise<void> = Promise.resolve().then(() => {
      if (this.#nextArm === next) this.#nextArm = null;
      return this.arm();
    });
    this.#nextArm = next;
    return next;
  }

  /**
   * The alarm fires at the earliest of: the next hold expiry, an outbox retry (`retryAt`), the safety
   * net for rows still here, the object's own wake-up. One alarm serves every job, so the hold expiry
   * is read here too.
   */
  async arm(retryAt?: number): Promise<void> {
    // One statement: this runs after every committed call.
    const { next_hold: nextHold, pending } = this.#ctx.storage.sql
      .exec<{ next_hold: number | null; pending: number }>(
        `SELECT (SELECT MIN(hold_expires_at) FROM orders WHERE status = 'held') AS next_hold,
           EXISTS (SELECT 1 FROM outbox) AS pending`,
      )
      .one();
    const candidates = [nextHold, retryAt, pending ? Date.now() + OUTBOX_SAFETY_NET_MS : null, this.#wake()].filter(
      (v): v is number => typeof v === "number",
    );
    if (candidates.length === 0) return;
    const at = Math.min(...candidates);
    const current = await this.#ctx.storage.getAlarm();
    if (current === null || current > at || current < Date.now()) {
      await this.#ctx.storage.setAlarm(at);
      // Set for the safety net alone: settled() may take it back once the rows are in D1.
      this.#safetyNetAt = pending && at !== nextHold && at !== retryAt ? at : null;
    }
  }

  /**
   * Resolves once the pushes already started have finished, whatever their outcome, without starting
   * one. When a push that answered before it (a claim) left the alarm set for the safety net alone
   * and every row is now in D1, the alarm goes back to what else is due (a hold's expiry, the object's
   * own wake-up) or away: no idle wake-up after each burst of sales.
   */
  settled(): Promise<void> {
    // A burst of claims waits on one push: one check after it for all of them, not one each.
    const push = this.#nextPush ?? this.#inflightPush;
    if (this.#settling && this.#settling.push === push) return this.#settling.done;
    const done = this.#settle(push).finally(() => {
      if (this.#settling?.done === done) this.#settling = null;
    });
    this.#settling = { push, done };
    return done;
  }

  async #settle(push: Promise<void> | null): Promise<void> {
    await (push ?? Promise.resolve()).catch(() => undefined);
    const safetyNet = this.#safetyNetAt;
    if (safetyNet === null || this.size() > 0) return;
    if ((await this.#ctx.storage.getAlarm()) !== safetyNet) return;
    this.#safetyNetAt = null;
    const { next_hold: nextHold } = this.#ctx.storage.sql
      .exec<{ next_hold: number | null }>("SELECT MIN(hold_expires_at) AS next_hold FROM orders WHERE status = 'held'")
      .one();
    const next = [nextHold, this.#wake()].filter((v): v is number => typeof v === "number");
    if (next.length === 0) await this.#ctx.storage.deleteAlarm();
    else await this.#ctx.storage.setAlarm(Math.min(...next));
  }
}
