/**
 * RateLimiter: one object per rate-limit key (`ip:…`, `user:…`, `email:…`, `device:…`, `creator:…`),
 * never one global object, so load spreads across the fleet and one hot key cannot slow the rest.
 *
 * The algorithm is GCRA (generic cell rate algorithm): per policy the object stores one number, the
 * theoretical arrival time (TAT). It is exact — `limit` requests in a burst, then one every
 * window/limit — and needs no per-request rows. The TAT lives in the object's SQLite storage, so a
 * limit survives eviction and restarts. Each call decides and writes synchronously, with no await in
 * between: the object's input gate makes concurrent callers for one key strictly sequential.
 */
import { DurableObject } from "cloudflare:workers";

export interface RateLimitRequest {
  policy: string;
  limit: number;
  windowSeconds: number;
  /** Units to take; 0 asks whether one more unit would be allowed, without taking it. */
  cost?: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  windowSeconds: number;
  /** Units still available after this call. */
  remaining: number;
  /** Seconds until the full quota is available again (RateLimit `t`). */
  resetSeconds: number;
  /** Seconds until the next unit is available; 0 when allowed. */
  retryAfterSeconds: number;
}

/** Float tolerance so that `limit` × (window/limit) never spills over the window by rounding. */
const EPSILON_MS = 1e-6;

export class RateLimiter extends DurableObject<Env> {
  #sql: SqlStorage;
  /** When the pending cleanup alarm fires (null: none), so calls do not rewrite it. */
  #alarmAt: number | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#sql.exec(
        "CREATE TABLE IF NOT EXISTS gcra (policy TEXT PRIMARY KEY, tat REAL NOT NULL, expires_at REAL NOT NULL)",
      );
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /** Takes `cost` units under `policy` if the budget allows, and reports the budget either way. */
  consume(request: RateLimitRequest): RateLimitDecision {
    const now = Date.now();
    const cost = request.cost ?? 1;
    const windowMs = request.windowSeconds * 1000;
    const interval = windowMs / request.limit;

    const row = this.#sql.exec<{ tat: number }>("SELECT tat FROM gcra WHERE policy = ?", request.policy).toArray()[0];
    const tat = Math.max(row?.tat ?? now, now);
    const probe = tat + interval * Math.max(cost, 1);
    const allowed = probe - now <= windowMs + EPSILON_MS;
    const newTat = allowed && cost > 0 ? tat + interval * cost : tat;

    if (newTat !== tat) {
      this.#sql.exec(
        "INSERT INTO gcra (policy, tat, expires_at) VALUES (?1, ?2, ?2) ON CONFLICT(policy) DO UPDATE SET tat = ?2, expires_at = ?2",
        request.policy,
        newTat,
      );
      this.#scheduleCleanup(newTat);
    }

    const used = newTat - now;
    return {
      allowed,
      limit: request.limit,
      windowSeconds: request.windowSeconds,
      remaining: Math.max(0, Math.floor((windowMs - used) / interval + EPSILON_MS)),
      resetSeconds: Math.ceil(used / 1000 - EPSILON_MS),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((probe - now - windowMs) / 1000 - EPSILON_MS)),
    };
  }

  /** Forgets `policy` for this key (e.g. failed-login counter after a successful sign-in). */
  reset(policy: string): void {
    this.#sql.exec("DELETE FROM gcra WHERE policy = ?", policy);
  }

  /** A minimal round trip: /health and the `ping` benchmark use it. */
  ping(): "pong" {
    return "pong";
  }

  /** Deletes fully replenished rows so idle keys cost no storage, and re-arms for the next. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#sql.exec("DELETE FROM gcra WHERE expires_at <= ?", now);
    const next = this.#sql.exec<{ at: number | null }>("SELECT MAX(expires_at) AS at FROM gcra").one().at;
    this.#alarmAt = null;
    if (next !== null) this.#scheduleCleanup(next);
  }

  #scheduleCleanup(at: number): void {
    // One pending alarm is enough: when it fires it re-arms for the latest remaining row.
    if (this.#alarmAt !== null) return;
    this.#alarmAt = Math.ceil(at);
    // Not awaited: the output gate holds the reply until the alarm write is durable.
    void this.ctx.storage.setAlarm(this.#alarmAt);
  }
}
