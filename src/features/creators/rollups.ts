/**
 * Daily rollups of profile tracking and the retention of raw events (issue 18), run by the 5-minute
 * cron (queues/scheduled.ts).
 *
 * `track_daily` holds, per creator and UTC day, `metric` × `dimension` × `key` counts:
 *   visits     × total | device | country | referrer
 *   unique_visitors × total            (distinct day-pseudonyms over visits and clicks)
 *   clicks     × total | link
 *   bots       × total                (bot rows: counted here only, left out of everything else)
 * Keys: '' for total, and for an unknown country or no referrer. A creator-day is recomputed from the
 * raw rows in one batch (delete its rows, insert them again), so a run is idempotent and a rerun or
 * two overlapping runs leave the same rows. Each run recomputes yesterday and today (UTC): yesterday
 * catches events that landed after the previous run's last look at it.
 *
 * Raw events older than TRACK_RETENTION_DAYS are deleted in bounded statements (trackPurgeBatchRows,
 * at most trackPurgeMaxBatches per run; the next run takes the rest). Their days' rollups stay.
 */
import { LIMITS } from "../../config/limits";
import { utcDay } from "./tracking";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Each (metric, dimension) as a SELECT of `k` (key) and `n` (count) over the creator-day's rows (?1 user, ?2 day).
 * Separate INSERTs rather than one UNION ALL: D1 caps the terms of a compound SELECT.
 */
const HUMAN = "user_id = ?1 AND day = ?2 AND bot = 0";
const AGGREGATES: readonly [metric: string, dimension: string, select: string][] = [
  ["visits", "total", `SELECT '' AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'visit'`],
  ["unique_visitors", "total", `SELECT '' AS k, COUNT(DISTINCT visitor_hash) AS n FROM track_events WHERE ${HUMAN}`],
  ["clicks", "total", `SELECT '' AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'click'`],
  ["bots", "total", "SELECT '' AS k, COUNT(*) AS n FROM track_events WHERE user_id = ?1 AND day = ?2 AND bot = 1"],
  [
    "visits",
    "device",
    `SELECT device AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'visit' GROUP BY 1`,
  ],
  [
    "visits",
    "country",
    `SELECT COALESCE(country, '') AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'visit' GROUP BY 1`,
  ],
  [
    "visits",
    "referrer",
    `SELECT COALESCE(referrer_host, '') AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'visit' GROUP BY 1`,
  ],
  [
    "clicks",
    "link",
    `SELECT link_id AS k, COUNT(*) AS n FROM track_events WHERE ${HUMAN} AND kind = 'click' AND link_id IS NOT NULL GROUP BY 1`,
  ],
];

/** The statements that recompute one creator-day: run them as one batch. */
export function rollupStatements(db: D1Database, userId: string, day: string): D1PreparedStatement[] {
  return [
    db.prepare("DELETE FROM track_daily WHERE user_id = ?1 AND day = ?2").bind(userId, day),
    ...AGGREGATES.map(([metric, dimension, select]) =>
      db
        .prepare(
          `INSERT INTO track_daily (user_id, day, metric, dimension, key, count)
           SELECT ?1, ?2, ?3, ?4, k, n FROM (${select})
           WHERE n > 0`,
        )
        .bind(userId, day, metric, dimension),
    ),
  ];
}

/** Recomputes `day` for `userId` in one batch. */
export async function rollupCreatorDay(db: D1Database, userId: string, day: string): Promise<void> {
  await db.batch(rollupStatements(db, userId, day));
}

/** Recomputes yesterday and today for every creator with events on those days; answers creator-days done. */
export async function rollupRecentDays(db: D1Database, now: number): Promise<number> {
  const days = [utcDay(now - DAY_MS), utcDay(now)];
  const pairs = await db
    .prepare("SELECT DISTINCT user_id, day FROM track_events WHERE day IN (?, ?)")
    .bind(...days)
    .all<{ user_id: string; day: string }>();
  for (const { user_id, day } of pairs.results) await rollupCreatorDay(db, user_id, day);
  return pairs.results.length;
}

/** Deletes raw events older than `retentionDays` before `now`, in bounded statements; answers how many. */
export async function purgeOldTrackEvents(db: D1Database, now: number, retentionDays: number): Promise<number> {
  const cutoff = now - retentionDays * DAY_MS;
  let deleted = 0;
  for (let batch = 0; batch < LIMITS.trackPurgeMaxBatches; batch += 1) {
    const result = await db
      .prepare(
        "DELETE FROM track_events WHERE id IN (SELECT id FROM track_events WHERE created_at < ? ORDER BY created_at LIMIT ?)",
      )
      .bind(cutoff, LIMITS.trackPurgeBatchRows)
      .run();
    deleted += result.meta.changes;
    if (result.meta.changes < LIMITS.trackPurgeBatchRows) break;
  }
  return deleted;
}

/** The cron's tracking work: roll up recent days, then purge old raw events (counts for the log). */
export async function trackRollupCron(
  db: D1Database,
  now: number,
  retentionDays: number,
): Promise<{ creatorDays: number; purged: number }> {
  const creatorDays = await rollupRecentDays(db, now);
  const purged = await purgeOldTrackEvents(db, now, retentionDays);
  return { creatorDays, purged };
}
