/**
 * Host analytics from the D1 read model. Each query is time-bounded; when D1 fails or is too slow
 * the last good answer (kept in the Cache API) is served marked `stale: true` instead of an error.
 */
import { LIMITS } from "../../config/limits";
import { unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";

export interface Analytics {
  ticketCount: number;
  checkedInCount: number;
  revenue: number;
  currency: string;
  attendeesByDate: { date: string; count: number }[];
  checkInRate: number;
  generatedAt: string;
  stale: boolean;
}

const cacheKey = (eventId: string) => `https://cache.gatehouse.internal/analytics/${encodeURIComponent(eventId)}`;

async function query(db: D1Database, eventId: string, currency: string): Promise<Analytics> {
  const [counts, revenue, byDate] = await db.batch([
    db
      .prepare(
        "SELECT COUNT(*) AS tickets, COALESCE(SUM(status = 'redeemed'), 0) AS checked_in FROM tickets WHERE event_id = ? AND status IN ('active', 'redeemed', 'refunding')",
      )
      .bind(eventId),
    // Revenue is money actually kept: captured by Stripe minus what went back (payments ledger).
    db
      .prepare("SELECT COALESCE(SUM(amount - amount_refunded), 0) AS revenue FROM payments WHERE event_id = ?")
      .bind(eventId),
    db
      .prepare(
        "SELECT strftime('%Y-%m-%d', created_at / 1000, 'unixepoch') AS date, COUNT(*) AS count FROM tickets WHERE event_id = ? AND status IN ('active', 'redeemed', 'refunding') GROUP BY date ORDER BY date",
      )
      .bind(eventId),
  ]);
  const c = counts?.results[0] as { tickets: number; checked_in: number };
  const r = revenue?.results[0] as { revenue: number };
  return {
    ticketCount: c.tickets,
    checkedInCount: c.checked_in,
    revenue: r.revenue,
    currency,
    attendeesByDate: (byDate?.results ?? []) as { date: string; count: number }[],
    checkInRate: c.tickets === 0 ? 0 : Math.round((c.checked_in / c.tickets) * 10_000) / 10_000,
    generatedAt: new Date().toISOString(),
    stale: false,
  };
}

export async function eventAnalytics(db: D1Database, eventId: string, currency: string): Promise<Analytics> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const fresh = await Promise.race([
      query(db, eventId, currency),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("analytics query timed out")), LIMITS.analyticsTimeoutMs);
      }),
    ]);
    await caches.default.put(
      cacheKey(eventId),
      new Response(JSON.stringify(fresh), {
        headers: { "Cache-Control": `max-age=${LIMITS.analyticsFallbackSeconds}` },
      }),
    );
    return fresh;
  } catch (error) {
    log("warn", "analytics degraded to cached answer", { eventId, error });
    const cached = await caches.default.match(cacheKey(eventId));
    if (!cached) {
      throw unavailableError("Analytics are temporarily unavailable.");
    }
    return { ...((await cached.json()) as Analytics), stale: true };
  } finally {
    clearTimeout(timer);
  }
}
