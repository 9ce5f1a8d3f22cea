/**
 * Dead letters, for every source (`email`; `stripe-webhook`: webhook events and refund jobs;
 * `track-event`: a profile visit or click D1 would not store, src/features/creators/tracking.ts): the row
 * an operator sees and replays. Writers add it in the same batch as the state change that gave up on
 * the item, and the open-per-(source, ref) unique index makes a duplicate give-up (a re-delivered
 * dead-letter message) a no-op instead of a second entry.
 */

import type { RowOf } from "../../db/rows";
import type { deadLetters } from "../../db/schema";
import { randomId } from "../../lib/crypto";
import type { Condition } from "../audit";

export type DeadLetterSource = "email" | "stripe-webhook" | "track-event";

export interface DeadLetterEntry {
  source: DeadLetterSource;
  refId: string;
  reason: string;
  /** Non-secret detail for the operator; stored as JSON. */
  payload: Record<string, unknown>;
}

export type DeadLetterRow = RowOf<typeof deadLetters>;

/** Operators read reasons; provider messages are bounded so a verbose upstream cannot bloat rows. */
const REASON_MAX = 1000;

/** The insert, to batch with the change that gives up on the item; skipped unless `onlyIf` holds. */
export function deadLetterStatement(
  db: D1Database,
  entry: DeadLetterEntry,
  now: number,
  onlyIf?: Condition,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO dead_letters (id, source, ref_id, reason, payload, created_at)
       SELECT ?, ?, ?, ?, ?, ? WHERE ${onlyIf?.sql ?? "1"} ON CONFLICT DO NOTHING`,
    )
    .bind(
      randomId(),
      entry.source,
      entry.refId,
      entry.reason.slice(0, REASON_MAX),
      JSON.stringify(entry.payload),
      now,
      ...(onlyIf?.bindings ?? []),
    );
}

export function getDeadLetter(db: D1Database, id: string): Promise<DeadLetterRow | null> {
  return db.prepare("SELECT * FROM dead_letters WHERE id = ?").bind(id).first<DeadLetterRow>();
}
