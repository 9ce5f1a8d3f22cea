/**
 * Operator actions on dead letters: list them (newest first, cursor pages) and replay one. A replay
 * marks the dead letter replayed and puts the item back into its pipeline in one batch, so two
 * admins clicking at once replay it once; each source brings its own replayer.
 */
import type { Config } from "../../config";
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { iso } from "../../lib/time";
import { type AuditEntry, auditStatement, type RequestMeta } from "../audit";
import { replayTrackEventStatements } from "../creators";
import { type DeadLetterRow, getDeadLetter } from "../dead-letters";
import type { EmailQueue } from "../email";
import { assertEmailReplayable, enqueueReplayedEmail, replayEmailStatements } from "../email";
import type { PaymentsQueue } from "../payments";
import { enqueueReplayed as enqueueReplayedPayment, replayStatements as replayPaymentsStatements } from "../payments";
import type { DeadLetter, DeadLetterListInput } from "./schema";

export interface AdminDeps {
  db: D1Database;
  config: Config;
  meta: RequestMeta;
  emailQueue: EmailQueue;
  /** Payments work queue (source `stripe-webhook`: webhook events and refund jobs). */
  webhookQueue?: PaymentsQueue;
  now?: number;
}

interface Replayer {
  /** Throws a DomainError when the item cannot be put back; runs before anything is marked. */
  check?(db: D1Database, refId: string): Promise<void>;
  /** Statements that put the item back, run in the replay batch; they must act only for `mark`. */
  statements(db: D1Database, refId: string, mark: { deadLetterId: string; at: number }): D1PreparedStatement[];
  /** After commit: wake the pipeline. Must not throw (the item's own safety net covers a failure). */
  afterCommit(deps: AdminDeps, refId: string): Promise<void>;
}

const REPLAYERS: Partial<Record<string, Replayer>> = {
  // A profile visit or click D1 would not store: inserted from the letter and its day rolled up again.
  "track-event": { statements: replayTrackEventStatements, afterCommit: async () => {} },
  email: {
    check: assertEmailReplayable,
    statements: replayEmailStatements,
    afterCommit: (deps, refId) => enqueueReplayedEmail(deps.db, deps.emailQueue, refId),
  },
  "stripe-webhook": {
    statements: replayPaymentsStatements,
    afterCommit: async (deps, refId) => {
      if (deps.webhookQueue) await enqueueReplayedPayment(deps.webhookQueue, refId);
    },
  },
};

function toApi(row: DeadLetterRow): DeadLetter {
  let payload: Record<string, unknown> = {};
  try {
    payload = JSON.parse(row.payload) as Record<string, unknown>;
  } catch {
    payload = { raw: row.payload };
  }
  return {
    id: row.id,
    source: row.source,
    refId: row.ref_id,
    reason: row.reason,
    payload,
    createdAt: iso(row.created_at),
    replayedAt: iso(row.replayed_at),
  };
}

// base64url (lib/crypto), not btoa's alphabet: a `+` or `/` in a cursor pasted into a query string
// unencoded would read back as a space or break the path, and the next page would be refused.
const pageCursor = (row: DeadLetterRow) => encodeCursor(JSON.stringify([row.created_at, row.id]));

function readPageCursor(raw: string): [number, string] {
  try {
    const value = JSON.parse(decodeCursor(raw) ?? "null") as unknown;
    if (Array.isArray(value) && typeof value[0] === "number" && typeof value[1] === "string") {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

export async function listDeadLetters(
  db: D1Database,
  query: DeadLetterListInput,
): Promise<{ items: DeadLetter[]; nextCursor: string | null }> {
  const where: string[] = [];
  const bindings: unknown[] = [];
  if (query.source) {
    where.push("source = ?");
    bindings.push(query.source);
  }
  if (query.state === "open") where.push("replayed_at IS NULL");
  if (query.state === "replayed") where.push("replayed_at IS NOT NULL");
  if (query.cursor) {
    const [createdAt, id] = readPageCursor(query.cursor);
    where.push("(created_at < ? OR (created_at = ? AND id < ?))");
    bindings.push(createdAt, createdAt, id);
  }
  const { results } = await db
    .prepare(
      `SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
    )
    .bind(...bindings, query.limit + 1)
    .all<DeadLetterRow>();
  const page = results.slice(0, query.limit);
  const last = page[page.length - 1];
  return { items: page.map(toApi), nextCursor: results.length > query.limit && last ? pageCursor(last) : null };
}

export async function replayDeadLetter(deps: AdminDeps, adminId: string, id: string): Promise<DeadLetter> {
  const row = await getDeadLetter(deps.db, id);
  if (!row) throw new DomainError("not-found", "No dead letter with this id.");
  if (row.replayed_at !== null) {
    throw new DomainError("already-replayed", "This dead letter was already replayed.", {
      replayedAt: iso(row.replayed_at),
    });
  }
  const replayer = REPLAYERS[row.source];
  if (!replayer) throw new DomainError("not-implemented", `Replay is not available for source "${row.source}" yet.`);
  await replayer.check?.(deps.db, row.ref_id);

  const at = deps.now ?? Date.now();
  const mark = { deadLetterId: id, at };
  const entry: AuditEntry = {
    action: "admin.dead-letter-replay",
    outcome: "success",
    userId: adminId,
    detail: { deadLetterId: id, source: row.source, refId: row.ref_id },
  };
  const [marked] = await deps.db.batch([
    deps.db.prepare("UPDATE dead_letters SET replayed_at = ? WHERE id = ? AND replayed_at IS NULL").bind(at, id),
    ...replayer.statements(deps.db, row.ref_id, mark),
    await auditStatement(deps.db, deps.config, deps.meta, entry, at, {
      sql: "EXISTS (SELECT 1 FROM dead_letters WHERE id = ? AND replayed_at = ?)",
      bindings: [id, at],
    }),
  ]);
  // A concurrent replay committed first: it re-queued the item; this one changed nothing.
  if (marked?.meta.changes !== 1) throw new DomainError("already-replayed", "This dead letter was already replayed.");
  await replayer.afterCommit(deps, row.ref_id);
  return toApi({ ...row, replayed_at: at });
}
