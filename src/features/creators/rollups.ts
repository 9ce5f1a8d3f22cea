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
 * two overlapping runs leave the same rows. Each run recomputes the creator-days of yesterday and today
 * (UTC) that have raw events past their mark in `track_rollups` (yesterday catches events that landed
 * after the previous run's last look at it), at most LIMITS.trackRollupMaxCreatorDays per run.
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

/**
 * Recomputes the creator-days of yesterday and today that have raw events past their last rollup, at
 * most LIMITS.trackRollupMaxCreatorDays, least recently rolled first (never rolled: first of all), each
 * in one batch with its mark; answers creator-days done. Events arriving meanwhile are past the mark
 * and roll up next run.
 */
export async function rollupRecentDays(db: D1Database, now: number): Promise<number> {
  const days = [utcDay(now - DAY_MS), utcDay(now)];
  const due = await db
    .prepare(
      `SELECT e.user_id, e.day, MAX(e.id) AS last, COALESCE(MAX(r.rolled_at), 0) AS rolled
       FROM track_events e LEFT JOIN track_rollups r ON r.user_id = e.user_id AND r.day = e.day
       WHERE e.day IN (?1, ?2)
       GROUP BY e.user_id, e.day
       HAVING MAX(e.id) > COALESCE(MAX(r.through_id), 0)
       ORDER BY rolled, e.user_id, e.day LIMIT ?3`,
    )
    .bind(...days, LIMITS.trackRollupMaxCreatorDays)
    .all<{ user_id: string; day: string; last: number }>();
  for (const { user_id, day, last } of due.results) {
    await db.batch([
      ...rollupStatements(db, user_id, day),
      db
        .prepare(
          `INSERT INTO track_rollups (user_id, day, through_id, rolled_at) VALUES (?1, ?2, ?3, ?4)
           ON CONFLICT (user_id, day) DO UPDATE SET through_id = ?3, rolled_at = ?4`,
        )
        .bind(user_id, day, last, now),
    ]);
  }
  return due.results.length;
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
  await db.prepare("DELETE FROM track_rollups WHERE day < ?").bind(utcDay(cutoff)).run();
  return deleted;
}

/**
 * The cron's tracking work: purge old raw events, then roll up recent days (counts for the log). The
 * purge comes first and does not depend on the rollups: the raw events' retention holds even while a
 * rollup fails.
 */
export async function trackRollupCron(
  db: D1Database,
  now: number,
  retentionDays: number,
): Promise<{ creatorDays: number; purged: number }> {
  const purged = await purgeOldTrackEvents(db, now, retentionDays);
  const creatorDays = await rollupRecentDays(db, now);
  return { creatorDays, purged };
}
