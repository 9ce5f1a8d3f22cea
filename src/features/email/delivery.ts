/**
 * Outbox state transitions for delivery, each one conditional statement so that concurrent or
 * duplicate queue deliveries cannot both act: a consumer claims a row (status sending) under a lease,
 * and every later write of that attempt is conditioned on still holding that lease (lease_until is
 * the fencing token). A crashed consumer's lease simply runs out.
 *
 * A row whose body carries a secret (carries_secret: a sign-in code, a verification or reset link)
 * keeps its body only while it may still be sent: the statement that marks it sent or dead-lettered
 * also empties subject, text and html, so no finished row holds a live credential. The table's CHECK
 * constraints hold every writer to this (docs/storage.md).
 */
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { emailOutbox } from "../../db/schema";
import type { PiiCipher } from "../../lib/pii";
import type { Condition } from "../audit";
import { deadLetterStatement } from "../dead-letters";
import { OUTBOX_CONTEXT } from "./outbox";
import { MAX_SEND_ATTEMPTS } from "./retry";
import type { OutgoingEmail } from "./transport";

export type OutboxStatus = "pending" | "queued" | "sending" | "sent" | "dead_letter";

export type OutboxRow = Pick<
  RowOf<typeof emailOutbox>,
  | "id"
  | "to"
  | "template"
  | "subject"
  | "text"
  | "html"
  | "carries_secret"
  | "status"
  | "attempts"
  | "lease_until"
  | "last_error"
>;

export interface Claim {
  email: OutgoingEmail;
  /** Provider attempts including the one about to be made. */
  attempts: number;
  lease: number;
}

/** Claimable: not yet sent, and nobody holds a live lease on it. */
const UNCLAIMED = "(status IN ('pending', 'queued') OR (status = 'sending' AND lease_until <= ?))";

/** A claimable row always has its body: the CHECK email_outbox_body_until_done keeps it until sent or dead. */
type ClaimedRow = OutgoingEmail & { attempts: number };

/**
 * Claims every row in `ids` that is claimable and has an attempt left, in one batch (one round trip
 * for a whole queue batch). Each row is its own conditional UPDATE, so racing consumers still get
 * each row at most once between them; an id listed twice is claimed by its first statement only.
 * The lease covers the whole batch's sends (see LIMITS.emailLeaseSeconds).
 */
export async function claimAll(
  db: D1Database,
  pii: PiiCipher,
  ids: readonly string[],
  now: number,
): Promise<Map<string, Claim>> {
  const claims = new Map<string, Claim>();
  if (ids.length === 0) return claims;
  const lease = now + LIMITS.emailLeaseSeconds * 1000;
  const statement = db.prepare(
    `UPDATE email_outbox SET status = 'sending', lease_until = ?, attempts = attempts + 1, updated_at = ?
     WHERE id = ? AND attempts < ? AND ${UNCLAIMED}
     RETURNING id, "to", template, subject, text, html, attempts`,
  );
  const results = await db.batch<ClaimedRow>(ids.map((id) => statement.bind(lease, now, id, MAX_SEND_ATTEMPTS, now)));
  for (const result of results) {
    const row = result.results[0];
    if (!row) continue;
    const { attempts, ...sealed } = row;
    const email = {
      ...sealed,
      to: pii.open(sealed.to, OUTBOX_CONTEXT.to),
      subject: pii.open(sealed.subject, OUTBOX_CONTEXT.subject),
      text: pii.open(sealed.text, OUTBOX_CONTEXT.text),
      html: pii.open(sealed.html, OUTBOX_CONTEXT.html),
    };
    claims.set(email.id, { email, attempts, lease });
  }
  return claims;
}

/** What deciding about an unclaimable row needs (no message body). */
export type OutboxState = Pick<OutboxRow, "id" | "template" | "status" | "attempts" | "lease_until" | "last_error">;

/** The delivery state of `ids` (rows that exist), in one query. */
export async function readStates(db: D1Database, ids: readonly string[]): Promise<Map<string, OutboxState>> {
  const states = new Map<string, OutboxState>();
  if (ids.length === 0) return states;
  const { results } = await db
    .prepare(
      `SELECT id, template, status, attempts, lease_until, last_error FROM email_outbox
       WHERE id IN (${ids.map(() => "?").join(", ")})`,
    )
    .bind(...ids)
    .all<OutboxState>();
  for (const row of results) states.set(row.id, row);
  return states;
}

/** The delivery state of one row, without its body (nothing here needs the message). */
export function readOutbox(db: D1Database, id: string): Promise<OutboxState | null> {
  return db
    .prepare("SELECT id, template, status, attempts, lease_until, last_error FROM email_outbox WHERE id = ?")
    .bind(id)
    .first<OutboxState>();
}

/**
 * SET clause that drops the body of a row carrying a secret; part of the very statement that finishes
 * the row, so there is no moment where a finished row still holds the code or link.
 */
const DROP_SECRET_BODY = `subject = CASE WHEN carries_secret = 1 THEN NULL ELSE subject END,
       text = CASE WHEN carries_secret = 1 THEN NULL ELSE text END,
       html = CASE WHEN carries_secret = 1 THEN NULL ELSE html END`;

/**
 * Hands claimed rows back without a provider call (a send budget said "later"): queued again, due in
 * each one's delay, the attempt the claim counted taken back. Guarded by the lease, like every write
 * of an attempt.
 */
export async function unclaimAll(
  db: D1Database,
  returns: readonly { claimed: Claim; delaySeconds: number }[],
  now: number,
): Promise<void> {
  if (returns.length === 0) return;
  const statement = db.prepare(
    `UPDATE email_outbox SET status = 'queued', attempts = attempts - 1, lease_until = NULL, queued_at = ?,
       next_attempt_at = ?, updated_at = ?
     WHERE id = ? AND status = 'sending' AND lease_until = ?`,
  );
  await db.batch(
    returns.map(({ claimed, delaySeconds }) =>
      statement.bind(now, now + delaySeconds * 1000, now, claimed.email.id, claimed.lease),
    ),
  );
}

/**
 * Records several acceptances in one batch; per entry, false when its lease was lost meanwhile (the
 * row may be sent again by whoever holds it now, under the same Idempotency-Key).
 */
export async function markAllSent(
  db: D1Database,
  sent: readonly { claimed: Claim; providerMessageId: string | null }[],
  now: number,
): Promise<boolean[]> {
  if (sent.length === 0) return [];
  const statement = db.prepare(
    `UPDATE email_outbox SET status = 'sent', sent_at = ?, provider_message_id = ?, last_error = NULL,
       lease_until = NULL, next_attempt_at = NULL, updated_at = ?, ${DROP_SECRET_BODY}
     WHERE id = ? AND status = 'sending' AND lease_until = ?`,
  );
  const results = await db.batch(
    sent.map(({ claimed, providerMessageId }) =>
      statement.bind(now, providerMessageId, now, claimed.email.id, claimed.lease),
    ),
  );
  return results.map((r) => r.meta.changes === 1);
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

/** Who may dead-letter: the lease holder, or (dead-letter queue, sweep) anyone while nobody holds it. */
export type DeadLetterGuard = { lease: number } | { unclaimedAt: number };

function guardCondition(id: string, guard: DeadLetterGuard): Condition {
  return "lease" in guard
    ? { sql: "id = ? AND status = 'sending' AND lease_until = ?", bindings: [id, guard.lease] }
    : { sql: `id = ? AND ${UNCLAIMED}`, bindings: [id, guard.unclaimedAt] };
}

/**
 * Gives up on an email: status dead_letter with the reason, and a dead_letters entry an admin can
 * replay, in one batch under the same guard; a secret-carrying body is dropped with it (a replay of
 * such an email is refused, see ./replay.ts). Returns false when the guard did not hold (already
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
           updated_at = ?, ${DROP_SECRET_BODY}
         WHERE ${condition.sql}`,
      )
      .bind(reason, now, ...condition.bindings),
  ]);
  return update?.meta.changes === 1;
}
