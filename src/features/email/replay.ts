/**
 * Replaying a dead-lettered email: the row goes back to pending with a fresh set of attempts (the
 * admin fixed whatever was wrong), in the same batch that marks the dead letter replayed, then it is
 * enqueued like any new email. It keeps its outbox id, so the provider's idempotency still applies.
 */
import { type EmailQueue, enqueueEmails } from "./enqueue";

/** Resets the row; conditioned on `replayedBy` (the dead letter's replay mark) so only the winning replay acts. */
export function replayEmailStatements(
  db: D1Database,
  outboxId: string,
  replayedBy: { deadLetterId: string; at: number },
): D1PreparedStatement[] {
  return [
    db
      .prepare(
        `UPDATE email_outbox SET status = 'pending', attempts = 0, last_error = NULL, lease_until = NULL,
           queued_at = NULL, next_attempt_at = NULL, updated_at = ?
         WHERE id = ? AND status = 'dead_letter'
           AND EXISTS (SELECT 1 FROM dead_letters WHERE id = ? AND replayed_at = ?)`,
      )
      .bind(replayedBy.at, outboxId, replayedBy.deadLetterId, replayedBy.at),
  ];
}

/** After the replay committed: hand the row to the queue (the sweep does it if this fails). */
export async function enqueueReplayedEmail(db: D1Database, queue: EmailQueue, outboxId: string): Promise<void> {
  await enqueueEmails(db, queue, [outboxId]);
}
