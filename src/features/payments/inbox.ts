/**
 * The Stripe webhook inbox. A delivery is verified on its raw body, stored under Stripe's event id
 * (unique: a re-delivery, however concurrent, inserts nothing and changes nothing) and handed to the
 * queue; Stripe gets its 200 as soon as the row is in D1. The row — not the message — is the truth:
 * the consumer reads it, the sweep re-sends a row whose message went missing, and an admin can replay
 * a dead-lettered one.
 */
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { stripeEvents } from "../../db/schema-payments";
import { DomainError } from "../../lib/errors";
import { log } from "../../lib/log";
import type { PiiCipher } from "../../lib/pii";
import { deadLetterStatement } from "../dead-letters";
import type { PaymentsDeps } from "./deps";
import { type PaymentsQueue, sendPaymentsMessages } from "./queue";
import { type Stripe, verifyWebhook } from "./stripe";

export type InboxStatus = "received" | "processed" | "skipped" | "ignored" | "dead_letter";

export type InboxRow = RowOf<typeof stripeEvents>;

/** The Stripe object an event is about: checkout session, charge, dispute… (the ordering key). */
export function objectIdOf(event: Stripe.Event): string {
  const object = event.data.object as { id?: unknown };
  return typeof object.id === "string" ? object.id : event.id;
}

/**
 * Verifies and stores one delivery. Bad or stale signature ⇒ 400 (`invalid-signature`, reason in the
 * log only) and nothing stored. Returns whether this delivery was a duplicate.
 */
/**
 * Where a Stripe event's payload is sealed (src/lib/pii.ts): it carries the buyer's or fan's email
 * and name as Stripe saw them, so it is stored only sealed and opened when applied.
 */
export const STRIPE_PAYLOAD_CONTEXT = "stripe_events.payload";

export async function receiveWebhook(
  deps: Pick<PaymentsDeps, "db" | "payments" | "webhookQueue" | "config">,
  rawBody: string,
  signature: string | undefined,
): Promise<{ eventId: string; duplicate: boolean }> {
  const verified = await verifyWebhook(deps.payments, rawBody, signature);
  if (!verified.event) {
    log("warn", "stripe webhook refused", { reason: verified.reason });
    throw new DomainError("invalid-signature", "The webhook signature could not be verified.");
  }
  const event = verified.event;
  const now = Date.now();
  const inserted = await deps.db
    .prepare(
      `INSERT INTO stripe_events (id, type, object_id, created, livemode, payload, status, attempts, queued_at, received_at)
       VALUES (?, ?, ?, ?, ?, ?, 'received', 0, ?, ?) ON CONFLICT (id) DO NOTHING`,
    )
    .bind(
      event.id,
      event.type,
      objectIdOf(event),
      event.created,
      event.livemode ? 1 : 0,
      deps.config.pii.seal(rawBody, STRIPE_PAYLOAD_CONTEXT),
      now,
      now,
    )
    .run();
  if (inserted.meta.changes !== 1) return { eventId: event.id, duplicate: true };
  if (!(await sendPaymentsMessages(deps.webhookQueue, [{ eventId: event.id }]))) {
    // Stored but not handed over: the sweep sends it (LIMITS.webhookStuckAfterSeconds at the latest).
    await deps.db
      .prepare("UPDATE stripe_events SET queued_at = NULL WHERE id = ? AND queued_at = ?")
      .bind(event.id, now)
      .run();
  }
  return { eventId: event.id, duplicate: false };
}

/** The Stripe event an inbox row holds, its payload opened (rows are stored sealed). */
export function eventOf(pii: PiiCipher, row: Pick<InboxRow, "payload">): Stripe.Event {
  return JSON.parse(pii.open(row.payload, STRIPE_PAYLOAD_CONTEXT)) as Stripe.Event;
}

export function readInbox(db: D1Database, id: string): Promise<InboxRow | null> {
  return db.prepare("SELECT * FROM stripe_events WHERE id = ?").bind(id).first<InboxRow>();
}

export async function readInboxRows(db: D1Database, ids: readonly string[]): Promise<InboxRow[]> {
  if (ids.length === 0) return [];
  const { results } = await db
    .prepare(`SELECT * FROM stripe_events WHERE id IN (${ids.map(() => "?").join(", ")})`)
    .bind(...ids)
    .all<InboxRow>();
  return results;
}

/** Newest `created` applied to the object so far, or null. */
export async function cursorOf(db: D1Database, objectId: string): Promise<number | null> {
  const row = await db
    .prepare("SELECT last_created FROM stripe_object_cursors WHERE object_id = ?")
    .bind(objectId)
    .first<{ last_created: number }>();
  return row?.last_created ?? null;
}

/** Records the outcome; an applied event also advances its object's cursor (never backwards). */
export async function finishInbox(
  db: D1Database,
  row: InboxRow,
  outcome: "processed" | "skipped" | "ignored",
  now: number,
): Promise<void> {
  const statements = [
    db
      .prepare(
        "UPDATE stripe_events SET status = ?, processed_at = ?, next_attempt_at = NULL WHERE id = ? AND status = 'received'",
      )
      .bind(outcome, now, row.id),
  ];
  if (outcome === "processed") {
    statements.push(
      db
        .prepare(
          `INSERT INTO stripe_object_cursors (object_id, last_created, last_event_id, updated_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (object_id) DO UPDATE SET last_created = excluded.last_created,
             last_event_id = excluded.last_event_id, updated_at = excluded.updated_at
           WHERE excluded.last_created >= stripe_object_cursors.last_created`,
        )
        .bind(row.object_id, row.created, row.id, now),
    );
  }
  await db.batch(statements);
}

// ---------------------------------------------------------------- failures, dead letters, replay

export type WorkTable = "stripe_events" | "refunds";

const OPEN_STATUS: Record<WorkTable, string> = { stripe_events: "received", refunds: "pending" };

/** The dead-letter ref of a work item: the Stripe event id, or `refund:<id>` for a refund job. */
export function refOf(table: WorkTable, id: string): string {
  return table === "refunds" ? `refund:${id}` : id;
}

/**
 * Counts a failed attempt and schedules the next one; the write is conditioned on the attempt count
 * read, so a racing duplicate delivery cannot count one failure twice.
 */
export async function scheduleRetry(
  db: D1Database,
  table: WorkTable,
  item: { id: string; attempts: number },
  error: string,
  dueAt: number,
  now: number,
): Promise<void> {
  await db
    .prepare(
      `UPDATE ${table} SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, queued_at = ?
       WHERE id = ? AND status = ? AND attempts = ?`,
    )
    .bind(error.slice(0, 1000), dueAt, now, item.id, OPEN_STATUS[table], item.attempts)
    .run();
}

/**
 * Gives up on a work item: marks it dead_letter and lists it for admins, in one batch (the list entry
 * only if the item was still open, so a second give-up adds nothing). Returns whether this call did it.
 */
export async function deadLetter(
  db: D1Database,
  table: WorkTable,
  item: { id: string; attempts: number },
  reason: string,
  payload: Record<string, unknown>,
  now: number,
): Promise<boolean> {
  const open = OPEN_STATUS[table];
  const [, update] = await db.batch([
    deadLetterStatement(
      db,
      {
        source: "stripe-webhook",
        refId: refOf(table, item.id),
        reason,
        payload: { ...payload, attempts: item.attempts },
      },
      now,
      { sql: `EXISTS (SELECT 1 FROM ${table} WHERE id = ? AND status = '${open}')`, bindings: [item.id] },
    ),
    db
      .prepare(
        `UPDATE ${table} SET status = 'dead_letter', last_error = ?, next_attempt_at = NULL WHERE id = ? AND status = '${open}'`,
      )
      .bind(reason.slice(0, 1000), item.id),
  ]);
  const done = update?.meta.changes === 1;
  if (done) log("error", "payments work dead-lettered", { table, id: item.id, attempts: item.attempts, reason });
  return done;
}

function tableOfRef(refId: string): { table: WorkTable; id: string } {
  return refId.startsWith("refund:") ? { table: "refunds", id: refId.slice(7) } : { table: "stripe_events", id: refId };
}

/**
 * Replay (admin): the item goes back to open with a fresh set of attempts, in the batch that marks the
 * dead letter replayed — conditioned on that mark, so only the winning replay acts.
 */
export function replayStatements(
  db: D1Database,
  refId: string,
  replayedBy: { deadLetterId: string; at: number },
): D1PreparedStatement[] {
  const { table, id } = tableOfRef(refId);
  return [
    db
      .prepare(
        `UPDATE ${table} SET status = '${OPEN_STATUS[table]}', attempts = 0, last_error = NULL, next_attempt_at = NULL,
           queued_at = ?
         WHERE id = ? AND status = 'dead_letter'
           AND EXISTS (SELECT 1 FROM dead_letters WHERE id = ? AND replayed_at = ?)`,
      )
      .bind(replayedBy.at, id, replayedBy.deadLetterId, replayedBy.at),
  ];
}

/** After the replay committed: wake the consumer (the sweep does it if this fails). */
export async function enqueueReplayed(queue: PaymentsQueue, refId: string): Promise<void> {
  const { table, id } = tableOfRef(refId);
  await sendPaymentsMessages(queue, [table === "refunds" ? { refundId: id } : { eventId: id }]);
}

/**
 * Cron safety net: re-sends rows whose message never left (send failed) or is long overdue (lost),
 * marking them first so two sweeps cannot both send. Returns how many were handed to the queue.
 */
export async function requeueStuckPayments(db: D1Database, queue: PaymentsQueue, now = Date.now()): Promise<number> {
  const stuckBefore = now - LIMITS.webhookStuckAfterSeconds * 1000;
  const graceBefore = now - LIMITS.webhookUnqueuedGraceSeconds * 1000;
  const [events, jobs] = await db.batch<{ id: string }>([
    db
      .prepare(
        `UPDATE stripe_events SET queued_at = ?1 WHERE id IN (
           SELECT id FROM stripe_events WHERE status = 'received' AND (
             (queued_at IS NULL AND received_at <= ?2) OR COALESCE(next_attempt_at, queued_at) <= ?3)
           LIMIT ?4) RETURNING id`,
      )
      .bind(now, graceBefore, stuckBefore, LIMITS.paymentsSweepMaxRows),
    db
      .prepare(
        `UPDATE refunds SET queued_at = ?1 WHERE id IN (
           SELECT id FROM refunds WHERE status = 'pending' AND (
             (queued_at IS NULL AND created_at <= ?2) OR COALESCE(next_attempt_at, queued_at) <= ?3)
           LIMIT ?4) RETURNING id`,
      )
      .bind(now, graceBefore, stuckBefore, LIMITS.paymentsSweepMaxRows),
  ]);
  const messages = [
    ...(events?.results ?? []).map((r) => ({ eventId: r.id })),
    ...(jobs?.results ?? []).map((r) => ({ refundId: r.id })),
  ];
  return (await sendPaymentsMessages(queue, messages)) ? messages.length : 0;
}
