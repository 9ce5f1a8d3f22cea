/**
 * A creator's profile analytics, read from the daily rollups (rollups.ts; at most one cron period,
 * 5 minutes, behind the raw events). Bots are counted under `bots` and nowhere else.
 *
 * As the event analytics do (src/features/events/analytics.ts): the whole read must answer within
 * LIMITS.creatorAnalyticsTimeoutMs; each good answer is kept in the Cache API, and when D1 fails or
 * is too slow that last good answer for the same creator and range is served marked `stale: true`,
 * or 503 when there is none.
 *
 * Unique visitors over a range are the sum of each day's: the pseudonym's salt changes every day on
 * purpose (tracking.ts), so the same person on two days cannot be recognised as one.
 */
import { LIMITS } from "../../config/limits";
import { unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";

export interface DayCounts {
  day: string;
  visits: number;
  uniqueVisitors: number;
  clicks: number;
}

export interface CreatorAnalytics {
  from: string;
  to: string;
  visits: number;
  uniqueVisitors: number;
  clicks: number;
  /** clicks / visits, 4 decimals; 0 without visits. */
  ctr: number;
  byDay: DayCounts[];
  byLink: { linkId: string; title: string | null; clicks: number }[];
  byDevice: { device: string; visits: number }[];
  byCountry: { country: string | null; visits: number }[];
  byReferrer: { host: string | null; visits: number }[];
  bots: number;
  generatedAt: string;
  stale: boolean;
}

/** Rows per breakdown (top by count): a table on a dashboard, not an export. */
export const BREAKDOWN_MAX = 50;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Every UTC day from `from` to `to`, inclusive. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += DAY_MS) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

interface TotalRow {
  day: string;
  metric: string;
  count: number;
}

interface BreakdownRow {
  metric: string;
  dimension: string;
  key: string;
  count: number;
  title: string | null;
}

async function query(db: D1Database, userId: string, from: string, to: string): Promise<CreatorAnalytics> {
  const [totals, breakdowns] = await db.batch([
    db
      .prepare(
        "SELECT day, metric, count FROM track_daily WHERE user_id = ? AND day BETWEEN ? AND ? AND dimension = 'total'",
      )
      .bind(userId, from, to),
    db
      .prepare(
        `SELECT metric, dimension, key, count, title FROM (
           SELECT d.metric, d.dimension, d.key, SUM(d.count) AS count,
                  (SELECT title FROM links WHERE id = d.key AND d.dimension = 'link') AS title,
                  ROW_NUMBER() OVER (PARTITION BY d.metric, d.dimension ORDER BY SUM(d.count) DESC, d.key) AS rank
           FROM track_daily d
           WHERE d.user_id = ? AND d.day BETWEEN ? AND ? AND d.dimension != 'total'
           GROUP BY d.metric, d.dimension, d.key
         ) WHERE rank <= ? ORDER BY metric, dimension, count DESC, key`,
      )
      .bind(userId, from, to, BREAKDOWN_MAX),
  ]);
  const byDay = new Map(daysBetween(from, to).map((day) => [day, { day, visits: 0, uniqueVisitors: 0, clicks: 0 }]));
  let bots = 0;
  for (const row of (totals?.results ?? []) as TotalRow[]) {
    if (row.metric === "bots") {
      bots += row.count;
      continue;
    }
    const day = byDay.get(row.day);
    if (!day) continue;
    if (row.metric === "visits") day.visits = row.count;
    else if (row.metric === "unique_visitors") day.uniqueVisitors = row.count;
    else if (row.metric === "clicks") day.clicks = row.count;
  }
  const days = [...byDay.values()];
  const sum = (pick: (d: DayCounts) => number) => days.reduce((total, d) => total + pick(d), 0);
  const rows = (breakdowns?.results ?? []) as BreakdownRow[];
  const of = (metric: string, dimension: string) =>
    rows.filter((r) => r.metric === metric && r.dimension === dimension);
  const visits = sum((d) => d.visits);
  const clicks = sum((d) => d.clicks);
  return {
    from,
    to,
    visits,
    uniqueVisitors: sum((d) => d.uniqueVisitors),
    clicks,
    ctr: visits === 0 ? 0 : Math.round((clicks / visits) * 10_000) / 10_000,
    byDay: days,
    byLink: of("clicks", "link").map((r) => ({ linkId: r.key, title: r.title, clicks: r.count })),
    byDevice: of("visits", "device").map((r) => ({ device: r.key, visits: r.count })),
    byCountry: of("visits", "country").map((r) => ({ country: r.key || null, visits: r.count })),
    byReferrer: of("visits", "referrer").map((r) => ({ host: r.key || null, visits: r.count })),
    bots,
    generatedAt: new Date().toISOString(),
    stale: false,
  };
}

const cacheKey = (userId: string, from: string, to: string) =>
  `https://cache.gatehouse.internal/creator-analytics/${encodeURIComponent(userId)}/${from}/${to}`;

export interface AnalyticsOptions {
  /** The read itself; tests put a slow or failing one in its place. */
  read?: typeof query;
  timeoutMs?: number;
}

/** The creator's analytics for `from`..`to` (UTC days, inclusive), or the last good answer marked stale. */
export async function creatorAnalytics(
  db: D1Database,
  userId: string,
  from: string,
  to: string,
  options: AnalyticsOptions = {},
): Promise<CreatorAnalytics> {
  const read = options.read ?? query;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const fresh = await Promise.race([
      read(db, userId, from, to),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error("creator analytics query timed out")),
          options.timeoutMs ?? LIMITS.creatorAnalyticsTimeoutMs,
        );
      }),
    ]);
    await caches.default.put(
      cacheKey(userId, from, to),
      new Response(JSON.stringify(fresh), {
        headers: { "Cache-Control": `max-age=${LIMITS.analyticsFallbackSeconds}` },
      }),
    );
    return fresh;
  } catch (error) {
    log("warn", "creator analytics degraded to cached answer", { error });
    const cached = await caches.default.match(cacheKey(userId, from, to));
    if (!cached) throw unavailableError("Analytics are temporarily unavailable.");
    return { ...((await cached.json()) as CreatorAnalytics), stale: true };
  } finally {
    clearTimeout(timer);
  }
}
