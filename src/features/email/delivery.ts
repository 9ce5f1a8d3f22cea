/**
 * Outbox state transitions for delivery, each one conditional statement so that concurrent or
 * duplicate queue deliveries cannot both act: a consumer claims a row (status sending) under a lease,
 * and every later write of that attempt is conditioned on still holding that lease (lease_until is
 * the fencing token). A crashed consumer's lease simply runs out.
 */
import { LIMITS } from "../../config/limits";
import type { Condition } from "../audit/service";
import { deadLetterStatement } from "../dead-letters/store";
import type { OutgoingEmail } from "./transport";

export type OutboxStatus = "pending" | "queued" | "sending" | "sent" | "dead_letter";

export interface OutboxRow {
  id: string;
  to: string;
  template: string;
  subject: string;
  text: string;
  html: string;
  status: OutboxStatus;
  attempts: number;
  lease_until: number | null;
  last_error: string | null;
}

export interface Claim {
  email: OutgoingEmail;
  /** Provider attempts including the one about to be made. */
  attempts: number;
  lease: number;
}

export function readOutbox(db: D1Database, id: string): Promise<OutboxRow | null> {
  return db
    .prepare(
      'SELECT id, "to", template, subject, text, html, status, attempts, lease_until, last_error FROM email_outbox WHERE id = ?',
    )
    .bind(id)
    .first<OutboxRow>();
}

/** Claimable: not yet sent, and nobody holds a live lease on it. */
const UNCLAIMED = "(status IN ('pending', 'queued') OR (status = 'sending' AND lease_until <= ?))";

/**
 * Takes the row for one provider attempt. One UPDATE decides between racing deliveries of the same
 * message; the winner gets the row, everyone else gets null.
 */
export async function claim(db: D1Database, id: string, now: number): Promise<Claim | null> {
  const lease = now + LIMITS.emailLeaseSeconds * 1000;
  const row = await db
    .prepare(
      `UPDATE email_outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1, updated_at = ?
       WHERE id = ? AND ${UNCLAIMED}
       RETURNING id, "to", template, subject, text, html, attempts`,
    )
    .bind(lease, now, id, now)
    .first<OutgoingEmail & { attempts: number }>();
  if (!row) return null;
  const { attempts, ...email } = row;
  return { email, attempts, lease };
}

/** Records the provider's acceptance; false when the lease was lost meanwhile (logged by the caller). */
export async function markSent(
  db: D1Database,
  claimed: Claim,
  providerMessageId: string | null,
  now: number,
): Promise<boolean> {
  const result = await db
    .prepare(
      `UPDATE email_outbox SET status = 'sent', sent_at = ?, provider_message_id = ?, last_error = NULL,
         lease_until = NULL, next_attempt_at = NULL, updated_at = ?
       WHERE id = ? AND status = 'sending' AND lease_until = ?`,
    )
    .bind(now, providerMessageId, now, claimed.email.id, claimed.lease)
    .run();
  return result.meta.changes === 1;
}

/** After a transient failure: back to queued, due in `delaySeconds`, with the reason kept. */
export async function scheduleRetry(
  db: D1Database,
  claimed: Claim,
  reason: string,
  delaySeconds: number,
  now: number,
): Promise<void> {
  await db
    .prepare(
      `UPDATE email_outbox SET status = 'queued', last_error = ?, queued_at = ?, next_attempt_at = ?,
         lease_until = NULL, updated_at = ?
       WHERE id = ? AND status = 'sending' AND lease_until = ?`,
    )
    .bind(reason, now, now + delaySeconds * 1000, now, claimed.email.id, claimed.lease)
    .run();
}

/**
 * A rate limit said "later" before the row was claimed: note when the new message is due, so the
 * sweep does not mistake the wait for a lost message. Attempts are untouched (no provider call).
 */
export async function postpone(db: D1Database, id: string, delaySeconds: number, now: number): Promise<void> {
  await db
    .prepare(
      `UPDATE email_outbox SET status = 'queued', queued_at = ?, next_attempt_at = ?, updated_at = ?
       WHERE id = ? AND status IN ('pending', 'queued')`,
    )
    .bind(now, now + delaySeconds * 1000, now, id)
    .run();
}

/** Who may dead-letter: the lease holder, or (dead-letter queue, sweep) anyone while nobody holds it. */
export type DeadLetterGuard = { lease: number } | { unclaimedAt: number };

function guardCondition(id: string, guard: DeadLetterGuard): Condition {
  return "lease" in guard
    ? { sql: "id = ? AND status = 'sending' AND lease_until = ?", bindings: [id, guard.lease] }
    : { sql: `id = ? AND ${UNCLAIMED}`, bindings: [id, guard.unclaimedAt] };
}

/**
 * Gives up on an email: status dead_letter with the reason, and a dead_letters entry an admin can
 * replay, in one batch under the same guard. Returns false when the guard did not hold (already
 * sent, already dead, or someone else is sending it).
 */
export async function deadLetterEmail(
  db: D1Database,
  row: { id: string; template: string; attempts: number },
  reason: string,
  guard: DeadLetterGuard,
  now: number,
): Promise<boolean> {
  const condition = guardCondition(row.id, guard);
  const [, update] = await db.batch([
    deadLetterStatement(
      db,
      { source: "email", refId: row.id, reason, payload: { template: row.template, attempts: row.attempts } },
      now,
      { sql: `EXISTS (SELECT 1 FROM email_outbox WHERE ${condition.sql})`, bindings: condition.bindings },
    ),
    db
      .prepare(
        `UPDATE email_outbox SET status = 'dead_letter', last_error = ?, lease_until = NULL, next_attempt_at = NULL,
           updated_at = ?
         WHERE ${condition.sql}`,
      )
      .bind(reason, now, ...condition.bindings),
  ]);
  return update?.meta.changes === 1;
}
