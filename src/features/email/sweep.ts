/**
 * The safety net behind the queue (run by the cron trigger): outbox rows whose message must have been
 * lost are handed to the queue again. Lost means: pending past the grace period (the writer never
 * enqueued it — it crashed, or it has no queue, like EventInventory's projection), queued and
 * 10 minutes past due (local Miniflare keeps queue messages in memory; a restart drops them), or a
 * sending lease that ran out 10 minutes ago (the consumer died and no re-delivery came). One UPDATE
 * takes the rows and stamps them queued now, so overlapping sweeps never send a row twice and the
 * next sweep leaves it alone.
 */
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";
import type { EmailQueue } from "./enqueue";

/** Returns how many rows were handed to the queue. */
export async function requeueStuckEmails(db: D1Database, queue: EmailQueue, now = Date.now()): Promise<number> {
  const stuckBefore = now - LIMITS.emailStuckAfterSeconds * 1000;
  const { results } = await db
    .prepare(
      `UPDATE email_outbox SET status = 'queued', queued_at = ?1, next_attempt_at = ?1, lease_until = NULL, updated_at = ?1
       WHERE id IN (
         SELECT id FROM email_outbox
         WHERE (status = 'pending' AND created_at <= ?2)
            OR (status = 'queued' AND COALESCE(next_attempt_at, queued_at, created_at) <= ?3)
            OR (status = 'sending' AND lease_until <= ?3)
         ORDER BY created_at LIMIT ?4)
       RETURNING id`,
    )
    .bind(now, now - LIMITS.emailPendingGraceSeconds * 1000, stuckBefore, LIMITS.emailSweepMaxRows)
    .all<{ id: string }>();
  const ids = results.map((r) => r.id);
  let handed = 0;
  for (let i = 0; i < ids.length; i += LIMITS.queueSendBatchMax) {
    const chunk = ids.slice(i, i + LIMITS.queueSendBatchMax);
    try {
      await queue.sendBatch(chunk.map((outboxId) => ({ body: { outboxId } })));
      handed += chunk.length;
    } catch (error) {
      // Stamped queued just now: the sweep 10 minutes from now tries these again.
      log("error", "email sweep: queue send failed", { count: chunk.length, error });
    }
  }
  return handed;
}
