/**
 * Retention of the email outbox (run by the cron trigger): finished rows — sent or dead-lettered —
 * are deleted LIMITS.emailOutboxRetentionDays after they were written. Rows still owed a send are
 * never touched, whatever their age: the stuck-row sweep (./sweep.ts) is what deals with those.
 * Bodies that carried a secret were already dropped when the row finished (./delivery.ts); this
 * removes the rest (address, subject and body of ordinary emails, delivery metadata).
 */
import { LIMITS } from "../../config/limits";

/** Deletes one bounded chunk of expired finished rows; returns how many went. */
export async function purgeFinishedEmails(db: D1Database, now = Date.now()): Promise<number> {
  const result = await db
    .prepare(
      // Index email_outbox_status_created answers both status ranges.
      `DELETE FROM email_outbox WHERE rowid IN (
         SELECT rowid FROM email_outbox WHERE status IN ('sent', 'dead_letter') AND created_at <= ? LIMIT ?)`,
    )
    .bind(now - LIMITS.emailOutboxRetentionDays * 24 * 60 * 60 * 1000, LIMITS.emailPurgeMaxRows)
    .run();
  return result.meta.changes;
}
