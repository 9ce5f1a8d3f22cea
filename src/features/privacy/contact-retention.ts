/**
 * Contacts leave event objects LIMITS.inventoryContactRetentionMs after the event's end. Each object's
 * alarm does it once armed for it (durable-objects/event-inventory/contacts.ts), but an object armed
 * only when a call reaches it: one untouched since before the purge existed, or whose last call came
 * before its event's end moved, would keep its buyers' emails and names. This sweep, from the
 * five-minute cron, is the guarantee: every event past the retention whose `contacts_purged_at` is
 * still null (a partial index, by end) has its object clear them (`purgeEndedContacts`, idempotent),
 * and is then marked. An event that never had an order or a waitlist entry has no contacts anywhere:
 * it is marked without waking an object. An object that fails is passed over for a while, backing off
 * (LIMITS.contactPurgeRetryMs, table `contact_purge_retries`), so a few that keep failing never hold up
 * the events ended after them.
 */
import type { EventInventory } from "../../../durable-objects/event-inventory";
import { LIMITS } from "../../config/limits";
import { type RetrySchedule, scheduledDelay } from "../../lib/backoff";
import { log } from "../../lib/log";
import { inventoryOf, withInventoryDeadline } from "../events";

export interface ContactPurgeSweep {
  /** Events marked this run (their objects cleared, or no buyer ever). */
  purged: number;
  /** Contacts the objects cleared (orders and waitlist entries). */
  cleared: number;
  /** Objects that failed (passed over until their next try). */
  failed: number;
}

const RETRY: RetrySchedule = { delays: LIMITS.contactPurgeRetryMs, jitterRatio: 0, afterLast: "repeat-last" };

type Row = { id: string; ends_at: number; has_buyers: number; attempts: number };

/**
 * One cron run: the due events, longest over first, at most LIMITS.contactPurgeSweepMax, leaving out
 * those whose object failed lately and whose next try has not come.
 */
export async function sweepEndedEventContacts(
  db: D1Database,
  inventory: DurableObjectNamespace<EventInventory>,
  now: number,
): Promise<ContactPurgeSweep> {
  const { results } = await db
    .prepare(
      `SELECT events.id, events.ends_at, COALESCE(r.attempts, 0) AS attempts,
         EXISTS (SELECT 1 FROM orders WHERE event_id = events.id)
           OR EXISTS (SELECT 1 FROM waitlist_entries WHERE event_id = events.id) AS has_buyers
       FROM events LEFT JOIN contact_purge_retries r ON r.event_id = events.id
       WHERE events.contacts_purged_at IS NULL AND events.ends_at <= ?1 AND (r.next_at IS NULL OR r.next_at <= ?2)
       ORDER BY events.ends_at LIMIT ?3`,
    )
    .bind(now - LIMITS.inventoryContactRetentionMs, now, LIMITS.contactPurgeSweepMax)
    .all<Row>();
  // An object that never answers must not hold the whole run.
  const objects = withInventoryDeadline(inventory);
  const report: ContactPurgeSweep = { purged: 0, cleared: 0, failed: 0 };
  for (let i = 0; i < results.length; i += LIMITS.erasureObjectConcurrency) {
    const chunk = results.slice(i, i + LIMITS.erasureObjectConcurrency);
    const settled = await Promise.allSettled(
      chunk.map((row) =>
        row.has_buyers ? inventoryOf(objects, row.id).purgeEndedContacts({ endsAt: row.ends_at }) : null,
      ),
    );
    const done: string[] = [];
    const statements: D1PreparedStatement[] = [];
    chunk.forEach((row, j) => {
      const outcome = settled[j];
      if (outcome?.status !== "fulfilled") {
        report.failed += 1;
        const attempts = row.attempts + 1;
        statements.push(
          db
            .prepare(
              `INSERT INTO contact_purge_retries (event_id, attempts, next_at) VALUES (?1, ?2, ?3)
               ON CONFLICT (event_id) DO UPDATE SET attempts = ?2, next_at = ?3`,
            )
            .bind(row.id, attempts, now + (scheduledDelay(RETRY, attempts) as number)),
        );
        return;
      }
      // D1 said the event is over; the object agrees unless its clock is behind (then: next run).
      if (outcome.value && !outcome.value.due) return;
      report.cleared += outcome.value?.cleared ?? 0;
      done.push(row.id);
    });
    if (done.length > 0) {
      const ids = JSON.stringify(done);
      statements.push(
        db
          .prepare("UPDATE events SET contacts_purged_at = ? WHERE id IN (SELECT value FROM json_each(?))")
          .bind(now, ids),
        db.prepare("DELETE FROM contact_purge_retries WHERE event_id IN (SELECT value FROM json_each(?))").bind(ids),
      );
      report.purged += done.length;
    }
    if (statements.length > 0) await db.batch(statements);
  }
  if (report.failed > 0) log("warn", "retention: event objects still to clear of contacts", { ...report });
  return report;
}
