/**
 * Handing outbox rows to EMAIL_QUEUE (pending → queued). The message is only a wake-up naming the
 * row; the row is the truth. Enqueueing never fails the caller: a row the queue did not take stays
 * pending (or queued) and the cron sweep (./sweep.ts) hands it over later, so a queue outage delays
 * an email but never loses it or fails the request that caused it.
 */
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";
import { OUTBOX_ID_COLUMN } from "./outbox";

/** The one message shape on the email queue and its dead-letter queue (docs/storage.md). */
export interface EmailQueueMessage {
  outboxId: string;
}

export type EmailQueue = Queue<EmailQueueMessage>;

/** Reads a message body defensively: anything else on the queue is a bug, not an email. */
export function parseEmailMessage(body: unknown): EmailQueueMessage | null {
  if (typeof body !== "object" || body === null) return null;
  const id = (body as { outboxId?: unknown }).outboxId;
  return typeof id === "string" && id.length > 0 && id.length <= 200 ? { outboxId: id } : null;
}

/** Ids returned under OUTBOX_ID_COLUMN by a committed batch: rows `emailStatements` inserted, or the projection marked queued. */
export function insertedOutboxIds(results: readonly D1Result[]): string[] {
  const ids: string[] = [];
  for (const result of results) {
    for (const row of result.results ?? []) {
      const id = (row as Record<string, unknown>)[OUTBOX_ID_COLUMN];
      if (typeof id === "string") ids.push(id);
    }
  }
  return ids;
}

/**
 * Marks `ids` queued and sends one message each. Only rows still pending are sent, so calling it
 * twice for the same ids (a retried push, a racing sweep) sends nothing twice. The row is marked
 * before the send so a fast consumer never sees a row that looks unsent; if the send fails the rows
 * go back to pending for the sweep. Returns how many were handed to the queue.
 */
export async function enqueueEmails(
  db: D1Database,
  queue: EmailQueue,
  ids: readonly string[],
  now = Date.now(),
): Promise<number> {
  let sent = 0;
  for (let i = 0; i < ids.length; i += LIMITS.queueSendBatchMax) {
    sent += await enqueueChunk(db, queue, ids.slice(i, i + LIMITS.queueSendBatchMax), now);
  }
  return sent;
}

/**
 * Marks one row queued at `at`, only if it is still pending (so a repeat hands nothing over twice); the
 * id comes back under OUTBOX_ID_COLUMN for `handOverQueued`. Also batched by EventInventory's push
 * with the rows it writes.
 */
export function markQueued(db: D1Database, id: string, at: number): D1PreparedStatement {
  return db
    .prepare(
      `UPDATE email_outbox SET status = 'queued', queued_at = ?, next_attempt_at = ?, updated_at = ?
       WHERE id = ? AND status = 'pending' RETURNING id AS ${OUTBOX_ID_COLUMN}`,
    )
    .bind(at, at, at, id);
}

async function enqueueChunk(db: D1Database, queue: EmailQueue, ids: readonly string[], now: number): Promise<number> {
  let taken: string[];
  try {
    taken = insertedOutboxIds(await db.batch(ids.map((id) => markQueued(db, id, now))));
  } catch (error) {
    log("warn", "email enqueue failed; the sweep will retry", { count: ids.length, error });
    return 0;
  }
  return handOverQueued(db, queue, taken, now);
}

/**
 * Sends one message for each row already marked queued at `queuedAt` (by enqueueEmails, or inside
 * the batch that wrote them). Never throws: if the queue refuses, the rows go back to pending for
 * the sweep. Returns how many were handed to the queue.
 */
export async function handOverQueued(
  db: D1Database,
  queue: EmailQueue,
  ids: readonly string[],
  queuedAt: number,
): Promise<number> {
  if (ids.length === 0) return 0;
  try {
    for (let i = 0; i < ids.length; i += LIMITS.queueSendBatchMax) {
      await queue.sendBatch(ids.slice(i, i + LIMITS.queueSendBatchMax).map((outboxId) => ({ body: { outboxId } })));
    }
    return ids.length;
  } catch (error) {
    log("warn", "email enqueue failed; the sweep will retry", { count: ids.length, error });
    await releaseToPending(db, ids, queuedAt);
    return 0;
  }
}

async function releaseToPending(db: D1Database, ids: readonly string[], queuedAt: number): Promise<void> {
  try {
    await db.batch(
      ids.map((id) =>
        db
          .prepare(
            "UPDATE email_outbox SET status = 'pending', queued_at = NULL, next_attempt_at = NULL WHERE id = ? AND status = 'queued' AND queued_at = ?",
          )
          .bind(id, queuedAt),
      ),
    );
  } catch {
    // Still queued: the sweep treats a queued row without a live message as stuck after 10 minutes.
  }
}

/** After a batch that included `emailStatements`: enqueue exactly the emails it wrote. */
export function enqueueCommitted(db: D1Database, queue: EmailQueue, results: readonly D1Result[]): Promise<number> {
  return enqueueEmails(db, queue, insertedOutboxIds(results));
}
