/**
 * Contacts leave event objects LIMITS.inventoryContactRetentionMs after the event's end. Each object's
 * alarm does it once armed for it (durable-objects/event-inventory/contacts.ts), but an object armed
 * only when a call reaches it: one untouched since before the purge existed, or whose last call came
 * before its event's end moved, would keep its buyers' emails and names. This sweep, from the
 * five-minute cron, is the guarantee: every event past the retention whose `contacts_purged_at` is
 * still null (a partial index, by end) has its object clear them (`purgeEndedContacts`, idempotent),
 * and is then marked. An event that never had an order or a waitlist entry has no contacts anywhere:
 * it is marked without waking an object. An object that fails is tried again at the next run.
 */
import type { EventInventory } from "../../../durable-objects/event-inventory";
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";
import { inventoryOf, withInventoryDeadline } from "../events";

export interface ContactPurgeSweep {
  /** Events marked this run (their objects cleared, or no buyer ever). */
  purged: number;
  /** Contacts the objects cleared (orders and waitlist entries). */
  cleared: number;
  /** Objects that failed (tried again at the next run). */
  failed: number;
}

type Row = { id: string; ends_at: number; has_buyers: number };

/** One cron run: the due events, longest over first, at most LIMITS.contactPurgeSweepMax. */
export async function sweepEndedEventContacts(
  db: D1Database,
  inventory: DurableObjectNamespace<EventInventory>,
  now: number,
): Promise<ContactPurgeSweep> {
  const { results } = await db
    .prepare(
      `SELECT id, ends_at,
         EXISTS (SELECT 1 FROM orders WHERE event_id = events.id)
           OR EXISTS (SELECT 1 FROM waitlist_entries WHERE event_id = events.id) AS has_buyers
       FROM events WHERE contacts_purged_at IS NULL AND ends_at <= ? ORDER BY ends_at LIMIT ?`,
    )
    .bind(now - LIMITS.inventoryContactRetentionMs, LIMITS.contactPurgeSweepMax)
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
    chunk.forEach((row, j) => {
      const outcome = settled[j];
      if (outcome?.status !== "fulfilled") {
        report.failed += 1;
        return;
      }
      // D1 said the event is over; the object agrees unless its clock is behind (then: next run).
      if (outcome.value && !outcome.value.due) return;
      report.cleared += outcome.value?.cleared ?? 0;
      done.push(row.id);
    });
    if (done.length > 0) {
      await db
        .prepare("UPDATE events SET contacts_purged_at = ? WHERE id IN (SELECT value FROM json_each(?))")
        .bind(now, JSON.stringify(done))
        .run();
      report.purged += done.length;
    }
  }
  if (report.failed > 0) log("warn", "retention: event objects still to clear of contacts", { ...report });
  return report;
}
