/**
 * The event objects an erasure left to clear (table `object_erasures`): the events past the newest
 * LIMITS.erasureEventObjects, which the erasure itself clears before it answers, and any object its
 * last look could not reach (./erasure.ts). The five-minute cron asks each of them to forget the
 * person (`forgetContact`, idempotent, so a row two overlapping runs both handle does no harm) and
 * deletes the row; an object that fails is tried again later, backing off. The rows hold ids only:
 * the pseudonymous ones the erased account's orders keep.
 */
import type { EventInventory } from "../../../durable-objects/event-inventory";
import { LIMITS } from "../../config/limits";
import { type RetrySchedule, scheduledDelay } from "../../lib/backoff";
import { log } from "../../lib/log";
import { inventoryOf, withInventoryDeadline } from "../events";

const RETRY: RetrySchedule = { delays: LIMITS.objectErasureRetryMs, jitterRatio: 0, afterLast: "repeat-last" };

/**
 * For the erasure's D1 batch, before its waitlist rows go: every event the person ordered or queued at
 * whose object is not in `cleared`, left to the sweep (due at once).
 */
export function leaveRestToSweep(
  db: D1Database,
  userId: string,
  cleared: readonly string[],
  now: number,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO object_erasures (user_id, event_id, attempts, next_at, created_at)
       SELECT ?1, event_id, 0, ?3, ?3 FROM (
         SELECT event_id FROM orders WHERE user_id = ?1 UNION SELECT event_id FROM waitlist_entries WHERE user_id = ?1)
       WHERE event_id NOT IN (SELECT value FROM json_each(?2))`,
    )
    .bind(userId, JSON.stringify(cleared), now);
}

/** Leaves `events` of `userId` to the sweep (due at once): objects that failed the erasure's last look. */
export async function leaveToSweep(
  db: D1Database,
  userId: string,
  events: readonly string[],
  now: number,
): Promise<void> {
  if (events.length === 0) return;
  await db
    .prepare(
      `INSERT OR IGNORE INTO object_erasures (user_id, event_id, attempts, next_at, created_at)
       SELECT ?1, value, 0, ?3, ?3 FROM json_each(?2)`,
    )
    .bind(userId, JSON.stringify(events), now)
    .run();
}

export interface ObjectErasureSweep {
  /** Objects that forgot the person this run (their rows deleted). */
  forgotten: number;
  /** Objects that failed (their rows wait for their next try). */
  failed: number;
}

type Row = { user_id: string; event_id: string; attempts: number };

/** One cron run: the due rows, oldest due first, at most LIMITS.objectErasureSweepMax. */
export async function sweepObjectErasures(
  db: D1Database,
  inventory: DurableObjectNamespace<EventInventory>,
  now: number,
): Promise<ObjectErasureSweep> {
  const { results } = await db
    .prepare("SELECT user_id, event_id, attempts FROM object_erasures WHERE next_at <= ? ORDER BY next_at LIMIT ?")
    .bind(now, LIMITS.objectErasureSweepMax)
    .all<Row>();
  // An object that never answers must not hold the whole run.
  const objects = withInventoryDeadline(inventory);
  const report: ObjectErasureSweep = { forgotten: 0, failed: 0 };
  for (let i = 0; i < results.length; i += LIMITS.erasureObjectConcurrency) {
    const chunk = results.slice(i, i + LIMITS.erasureObjectConcurrency);
    const settled = await Promise.allSettled(
      chunk.map((row) => inventoryOf(objects, row.event_id).forgetContact({ userId: row.user_id })),
    );
    const statements = chunk.map((row, j) => {
      if (settled[j]?.status === "fulfilled") {
        report.forgotten += 1;
        return db
          .prepare("DELETE FROM object_erasures WHERE user_id = ? AND event_id = ?")
          .bind(row.user_id, row.event_id);
      }
      report.failed += 1;
      const attempts = row.attempts + 1;
      return db
        .prepare("UPDATE object_erasures SET attempts = ?, next_at = ? WHERE user_id = ? AND event_id = ?")
        .bind(attempts, now + (scheduledDelay(RETRY, attempts) as number), row.user_id, row.event_id);
    });
    if (statements.length > 0) await db.batch(statements);
  }
  if (report.failed > 0) log("warn", "erasure: event objects still to clear", { ...report });
  return report;
}
