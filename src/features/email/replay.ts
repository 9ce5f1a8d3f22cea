/**
 * Replaying a dead-lettered email: the row goes back to pending with a fresh set of attempts (the
 * admin fixed whatever was wrong), in the same batch that marks the dead letter replayed, then it is
 * enqueued like any new email. It keeps its outbox id, so the provider's idempotency still applies.
 *
 * An email that carried a secret (sign-in code, verification or reset link) is refused, not
 * re-issued: its body was dropped when it was dead-lettered (./delivery.ts), and minting a new code
 * or link on an operator's click would send a credential nobody asked for just then (and supersede
 * any newer one the person requested meanwhile). By the time an operator looks, the secret is
 * worthless anyway (a code lives 10 minutes, a reset link an hour; the retries alone take about 36
 * minutes): the person asks for a new one (sign-in code, resend verification, forgot password), which
 * goes through the repaired pipeline. A row purged after its retention is refused too.
 */
import { DomainError } from "../../lib/errors";
import { type EmailQueue, enqueueEmails } from "./enqueue";

/**
 * Throws `not-replayable` when the email cannot be sent again; called before anything is marked, so
 * a refused replay leaves the dead letter open.
 */
export async function assertEmailReplayable(db: D1Database, outboxId: string): Promise<void> {
  const row = await db
    .prepare("SELECT template, carries_secret, text IS NOT NULL AS has_body FROM email_outbox WHERE id = ?")
    .bind(outboxId)
    .first<{ template: string; carries_secret: number; has_body: number }>();
  if (!row) {
    throw new DomainError(
      "not-replayable",
      "This email's outbox row was deleted after its retention period; there is nothing left to send.",
    );
  }
  if (row.carries_secret === 1 || row.has_body === 0) {
    throw new DomainError(
      "not-replayable",
      "This email carried a one-time secret (sign-in code, verification or reset link), which is not kept once an email is dead-lettered. Nothing was re-sent: the person requests a new one.",
      { template: row.template },
    );
  }
}

/**
 * Resets the row; conditioned on `replayedBy` (the dead letter's replay mark) so only the winning
 * replay acts. A row without its body can never become pending again (CHECK
 * email_outbox_body_until_done fails the whole replay batch), so a refused replay marks nothing.
 */
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
