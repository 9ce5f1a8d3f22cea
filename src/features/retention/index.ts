/**
 * The retention job (run by the five-minute cron, queues/scheduled.ts): deletes what has outlived its period
 * (src/config/retention.ts), kind by kind, in bounded chunks, and reports how many rows of each kind
 * went. Every chunk is one statement (or one atomic batch where two tables go together) choosing at
 * most LIMITS.retentionBatchRows rows through an index on the time it judges by; a kind stops after
 * LIMITS.retentionMaxBatches chunks, and the next run takes the rest. Safe to run twice or
 * concurrently: a row deleted by one run is simply not found by the other.
 *
 * Not here, each with its own job: creator tracking events (rolled up first, then purged by
 * src/features/creators/rollups.ts after TRACK_RETENTION_DAYS), idempotency keys (each carries its own
 * 24 h expiry; the sweep in queues/scheduled.ts). Processed Stripe payloads are purged here; the
 * reconciliation job no longer does it.
 */
import { LIMITS } from "../../config/limits";
import type { RetentionDays, RetentionKind } from "../../config/retention";

const DAY_MS = 24 * 60 * 60 * 1000;

/** One chunk of a kind: statements run as one batch; the last one's `changes` is the count. */
type Chunk = (db: D1Database, cutoff: number, limit: number) => D1PreparedStatement[];

const chunks: Record<RetentionKind, Chunk> = {
  "audit-log": (db, cutoff, limit) => [
    db
      .prepare("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at <= ? ORDER BY at LIMIT ?)")
      .bind(cutoff, limit),
  ],
  // A session goes with its refresh tokens (no foreign key ties them): the same rows, chosen the same
  // way inside one atomic batch, tokens first.
  sessions: (db, cutoff, limit) => {
    const chosen = "SELECT id FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2";
    return [
      db.prepare(`DELETE FROM refresh_tokens WHERE session_id IN (${chosen})`).bind(cutoff, limit),
      db.prepare(`DELETE FROM sessions WHERE id IN (${chosen})`).bind(cutoff, limit),
    ];
  },
  "email-tokens": (db, cutoff, limit) => [
    db
      .prepare(
        "DELETE FROM email_tokens WHERE token_hash IN (SELECT token_hash FROM email_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
      )
      .bind(cutoff, limit),
  ],
  // Only finished rows: one still owed a send is the stuck-row sweep's, whatever its age.
  "email-outbox": (db, cutoff, limit) => [
    db
      .prepare(
        `DELETE FROM email_outbox WHERE rowid IN (
           SELECT rowid FROM email_outbox WHERE status IN ('sent', 'dead_letter') AND created_at <= ? LIMIT ?)`,
      )
      .bind(cutoff, limit),
  ],
  "dev-mailbox": (db, cutoff, limit) => [
    db
      .prepare(
        "DELETE FROM dev_mailbox WHERE rowid IN (SELECT rowid FROM dev_mailbox WHERE created_at <= ? ORDER BY created_at LIMIT ?)",
      )
      .bind(cutoff, limit),
  ],
  // Replayed ones only: an open dead letter is work an operator still owes.
  "dead-letters": (db, cutoff, limit) => [
    db
      .prepare(
        `DELETE FROM dead_letters WHERE id IN (
           SELECT id FROM dead_letters WHERE replayed_at IS NOT NULL AND created_at <= ? ORDER BY created_at LIMIT ?)`,
      )
      .bind(cutoff, limit),
  ],
  // Settled Stripe events only: one still pending or failing is work in progress.
  "stripe-payloads": (db, cutoff, limit) => [
    db
      .prepare(
        `DELETE FROM stripe_events WHERE rowid IN (SELECT rowid FROM stripe_events
           WHERE status IN ('processed', 'skipped', 'ignored') AND received_at <= ? LIMIT ?)`,
      )
      .bind(cutoff, limit),
  ],
  // Deliveries and their attempt log go with the event (ON DELETE CASCADE). The retry schedule ends
  // about a day and a half after an event is written, far inside any period allowed.
  "outgoing-webhooks": (db, cutoff, limit) => [
    db
      .prepare(
        "DELETE FROM webhook_events WHERE id IN (SELECT id FROM webhook_events WHERE created_at <= ? ORDER BY created_at LIMIT ?)",
      )
      .bind(cutoff, limit),
  ],
  // Judged by the end of the grace (`retired_until`): a claim would have deleted it by then anyway.
  "retired-handles": (db, cutoff, limit) => [
    db
      .prepare(
        `DELETE FROM handles WHERE handle_key IN (
           SELECT handle_key FROM handles WHERE state = 'retired' AND retired_until <= ? ORDER BY retired_until LIMIT ?)`,
      )
      .bind(cutoff, limit),
  ],
};

export type RetentionReport = Partial<Record<RetentionKind, number>> & {
  errors: Partial<Record<RetentionKind, string>>;
};

export interface RetentionOptions {
  batchRows?: number;
  maxBatches?: number;
}

/** Deletes, kind by kind, what is older than its period at `now`; one kind failing does not stop the others. */
export async function runRetention(
  db: D1Database,
  days: RetentionDays,
  now: number,
  options: RetentionOptions = {},
): Promise<RetentionReport> {
  const limit = options.batchRows ?? LIMITS.retentionBatchRows;
  const maxBatches = options.maxBatches ?? LIMITS.retentionMaxBatches;
  const report: RetentionReport = { errors: {} };
  for (const kind of Object.keys(chunks) as RetentionKind[]) {
    const cutoff = now - days[kind] * DAY_MS;
    let deleted = 0;
    try {
      for (let batch = 0; batch < maxBatches; batch += 1) {
        const statements = chunks[kind](db, cutoff, limit);
        const results = await db.batch(statements);
        const changes = results[statements.length - 1]?.meta.changes ?? 0;
        deleted += changes;
        if (changes < limit) break;
      }
    } catch (error) {
      report.errors[kind] = error instanceof Error ? error.message : String(error);
    }
    report[kind] = deleted;
  }
  return report;
}
