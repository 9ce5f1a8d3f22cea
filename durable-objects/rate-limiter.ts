/**
 * RateLimiter: one object per rate-limit key (`ip:…`, `email:…`, `device:…`, `creator:…`), never one
 * global object, so load spreads across the fleet and one hot key cannot slow the rest. Keys of the
 * numerous, mostly cold kinds (`user:…`, `mailto:…`) share a fixed set of shard objects instead, each
 * key's state under its own policy name (`orders-user|user:…`; see src/lib/rate-limit-client.ts):
 * a buyer who orders once should not bring a new object with its own storage into being. The `user:`
 * shards also keep their users' sessions (durable-objects/session-book.ts), so one call decides both
 * whether a session may act and the user's own budgets.
 *
 * Two exact algorithms, chosen per policy:
 * - `gcra` (generic cell rate algorithm) for request rates: one number per policy, the theoretical
 *   arrival time — `limit` requests in a burst, then one every window/limit; no per-request rows.
 * - `window` (sliding log) for failure counters: "5 failures within 15 minutes" means exactly that,
 *   however the failures are spaced (GCRA would refill one unit every 3 minutes and never trip).
 *   Failure budgets are tiny, so one row per counted event is cheap.
 * State lives in the object's SQLite storage, so limits survive eviction and restarts — with one
 * economy for plain rate policies (GCRA without a lockout): a budget is kept in memory and written
 * to SQLite only once more than half of it is spent. A well-behaved key (most of them, nearly all the
 * time) then costs no storage write per request; a key near its limit is stored on every call, so
 * an eviction or restart gives back at most half a budget, and only to keys that were far from it.
 * Lockouts and failure counters are always stored. Each call decides and writes synchronously, with
 * no await in between: the object's input gate makes concurrent callers for one key strictly
 * sequential.
 */
import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../src/config/limits";
import { log } from "../src/lib/log";
import {
  type AdoptSessionRequest,
  type CheckSessionRequest,
  type OpenSessionRequest,
  type OpenSessionResult,
  SessionBook,
  type SessionVerdict,
} from "./session-book";

export interface RateLimitRequest {
  policy: string;
  limit: number;
  windowSeconds: number;
  /** Units to take; 0 asks whether one more unit would be allowed, without taking it. */
  cost?: number;
  /**
   * When set, taking the last unit locks the key out for this long (then the budget starts fresh):
   * "5 failures in 15 minutes lock for 15 minutes" rather than GCRA's one-unit-per-interval trickle.
   */
  lockSeconds?: number;
  /** Default `gcra`. */
  algorithm?: "gcra" | "window";
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

/**
 * The request's own decisions, and `leased` extra units of each policy taken for the caller to hand
 * out itself (see consumeAllWithLease).
 */
export interface LeasedDecisions {
  decisions: RateLimitDecision[];
  leased: number;
}

export interface Authorization {
  verdict: SessionVerdict;
  /** The budgets' decisions, up to and including the first refusal; empty unless the session is valid. */
  decisions: RateLimitDecision[];
}

/** Float tolerance so that `limit` × (window/limit) never spills over the window by rounding. */
const EPSILON_MS = 1e-6;

/** Memory entries kept before the spent-and-restored ones are swept (a shard holds many keys). */
const MEMORY_SWEEP_AT = 10_000;

export class RateLimiter extends DurableObject<Env> {
  #sql: SqlStorage;
  /** GCRA theoretical arrival time per policy, as decided since this instance started. */
  #tats = new Map<string, number>();
  /** When the pending cleanup alarm fires (null: none), so calls do not rewrite it. */
  #alarmAt: number | null = null;
  /** Sessions of the users hashed here (`user:` shards only; created on first use). */
  #book: SessionBook | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    ctx.blockConcurrencyWhile(async () => {
      this.#migrate();
      this.#alarmAt = await ctx.storage.getAlarm();
    });
  }

  /**
   * Storage schema, versioned in a one-row table (Durable Object SQLite refuses PRAGMA user_version)
   * so objects created by an older deploy are brought forward in place.
   */
  #migrate(): void {
    this.#sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const version =
      this.#sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
    if (version < 1) {
      this.#sql.exec(
        "CREATE TABLE IF NOT EXISTS gcra (policy TEXT PRIMARY KEY, tat REAL NOT NULL, expires_at REAL NOT NULL)",
      );
    }
    if (version < 2) {
      const columns = this.#sql.exec<{ name: string }>("PRAGMA table_info(gcra)").toArray();
      if (!columns.some((c) => c.name === "locked_until")) {
        this.#sql.exec("ALTER TABLE gcra ADD COLUMN locked_until REAL NOT NULL DEFAULT 0");
      }
    }
    if (version < 3) {
      this.#sql.exec(
        "CREATE TABLE IF NOT EXISTS hits (policy TEXT NOT NULL, at REAL NOT NULL, expires_at REAL NOT NULL)",
      );
      this.#sql.exec("CREATE INDEX IF NOT EXISTS hits_policy_at ON hits (policy, at)");
      this.#sql.exec("DELETE FROM schema_version");
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (3)");
    }
  }

  #lockedDecision(request: RateLimitRequest, now: number): RateLimitDecision | null {
    const lockedUntil = this.#sql
      .exec<{ locked_until: number }>("SELECT locked_until FROM gcra WHERE policy = ?", request.policy)
      .toArray()[0]?.locked_until;
    if (lockedUntil === undefined || lockedUntil <= now) return null;
    const wait = Math.max(1, Math.ceil((lockedUntil - now) / 1000 - EPSILON_MS));
    return {
      allowed: false,
      limit: request.limit,
      windowSeconds: request.windowSeconds,
      remaining: 0,
      resetSeconds: wait,
      retryAfterSeconds: wait,
    };
  }

  /** Locks the key for `lockSeconds` and starts its budget fresh afterwards. */
  #lock(request: RateLimitRequest & { lockSeconds: number }, now: number): RateLimitDecision {
    const lockedUntil = now + request.lockSeconds * 1000;
    this.#tats.delete(request.policy); // stored below: the next call reads it back
    this.#sql.exec(
      "INSERT INTO gcra (policy, tat, locked_until, expires_at) VALUES (?1, ?2, ?3, ?3) ON CONFLICT(policy) DO UPDATE SET tat = ?2, locked_until = ?3, expires_at = ?3",
      request.policy,
      now,
      lockedUntil,
    );
    this.#sql.exec("DELETE FROM hits WHERE policy = ?", request.policy);
    this.#scheduleCleanup(lockedUntil);
    return {
      allowed: true,
      limit: request.limit,
      windowSeconds: request.windowSeconds,
      remaining: 0,
      resetSeconds: request.lockSeconds,
      retryAfterSeconds: 0,
    };
  }

  /** Sliding log: counts the policy's events within the last window, exactly. */
  #consumeWindow(request: RateLimitRequest, now: number): RateLimitDecision {
    const cost = request.cost ?? 1;
    const windowMs = request.windowSeconds * 1000;
    this.#sql.exec("DELETE FROM hits WHERE policy = ? AND at <= ?", request.policy, now - windowMs);
    const { n, oldest, newest } = this.#sql
      .exec<{ n: number; oldest: number | null; newest: number | null }>(
        "SELECT COUNT(*) AS n, MIN(at) AS oldest, MAX(at) AS newest FROM hits WHERE policy = ?",
        request.policy,
      )
      .one();
    const allowed = n + Math.max(cost, 1) <= request.limit;
    const base = { limit: request.limit, windowSeconds: request.windowSeconds };
    if (!allowed) {
      const wait = Math.max(1, Math.ceil(((oldest ?? now) + windowMs - now) / 1000 - EPSILON_MS));
      return {
        ...base,
        allowed,
        remaining: Math.max(0, request.limit - n),
        resetSeconds: Math.ceil(((newest ?? now) + windowMs - now) / 1000),
        retryAfterSeconds: wait,
      };
    }
    if (cost === 0) {
      return {
        ...base,
        allowed,
        remaining: request.limit - n,
        resetSeconds: newest === null ? 0 : Math.ceil((newest + windowMs - now) / 1000),
        retryAfterSeconds: 0,
      };
    }
    const remaining = request.limit - n - cost;
    if (request.lockSeconds && remaining === 0)
      return this.#lock({ ...request, lockSeconds: request.lockSeconds }, now);
    for (let i = 0; i < cost; i++) {
      this.#sql.exec("INSERT INTO hits (policy, at, expires_at) VALUES (?, ?, ?)", request.policy, now, now + windowMs);
    }
    this.#scheduleCleanup(now + windowMs);
    return { ...base, allowed, remaining, resetSeconds: request.windowSeconds, retryAfterSeconds: 0 };
  }

  /** Takes `cost` units under `policy` if the budget allows, and reports the budget either way. */
  consume(request: RateLimitRequest): RateLimitDecision {
    const now = Date.now();
    // Only lockout policies ever lock.
    const locked = request.lockSeconds ? this.#lockedDecision(request, now) : null;
    if (locked) return locked;
    if (request.algorithm === "window") return this.#consumeWindow(request, now);
    const cost = request.cost ?? 1;
    const windowMs = request.windowSeconds * 1000;
    const interval = windowMs / request.limit;

    let known = this.#tats.get(request.policy);
    if (known === undefined) {
      // First call since this instance started: what was stored, if anything.
      known =
        this.#sql.exec<{ tat: number }>("SELECT tat FROM gcra WHERE policy = ?", request.policy).toArray()[0]?.tat ??
        now;
    }
    const tat = Math.max(known, now);
    const probe = tat + interval * Math.max(cost, 1);
    const allowed = probe - now <= windowMs + EPSILON_MS;
    const newTat = allowed && cost > 0 ? tat + interval * cost : tat;
    const used = newTat - now;
    const remaining = Math.max(0, Math.floor((windowMs - used) / interval + EPSILON_MS));

    if (request.lockSeconds && allowed && cost > 0 && remaining === 0) {
      return this.#lock({ ...request, lockSeconds: request.lockSeconds }, now);
    }

    if (newTat !== tat) {
      this.#remember(request.policy, newTat, now);
      // Stored once more than half the budget is spent (always for lockout policies): see above.
      if (request.lockSeconds || used > windowMs / 2) {
        this.#sql.exec(
          "INSERT INTO gcra (policy, tat, locked_until, expires_at) VALUES (?1, ?2, 0, ?2) ON CONFLICT(policy) DO UPDATE SET tat = ?2, locked_until = 0, expires_at = ?2",
          request.policy,
          newTat,
        );
        this.#scheduleCleanup(newTat);
      }
    }

    return {
      allowed,
      limit: request.limit,
      windowSeconds: request.windowSeconds,
      remaining,
      resetSeconds: Math.ceil(used / 1000 - EPSILON_MS),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((probe - now - windowMs) / 1000 - EPSILON_MS)),
    };
  }

  #remember(policy: string, tat: number, now: number): void {
    if (this.#tats.size >= MEMORY_SWEEP_AT && !this.#tats.has(policy)) {
      // A budget whose arrival time has passed is whole again: the same as no entry.
      for (const [key, at] of this.#tats) if (at <= now) this.#tats.delete(key);
    }
    this.#tats.set(policy, tat);
  }

  /** Forgets `policy` for this key (e.g. failed-login counter after a successful sign-in). */
  reset(policy: string): void {
    this.#tats.delete(policy);
    this.#sql.exec("DELETE FROM gcra WHERE policy = ?", policy);
    this.#sql.exec("DELETE FROM hits WHERE policy = ?", policy);
  }

  /**
   * Several policies of this key in one call, in order, stopping at the first that refuses: the
   * decisions up to and including it (later policies are not asked and spend nothing). Decided in
   * one synchronous step, like `consume`.
   */
  consumeAll(requests: readonly RateLimitRequest[]): RateLimitDecision[] {
    const decisions: RateLimitDecision[] = [];
    for (const request of requests) {
      const decision = this.consume(request);
      decisions.push(decision);
      if (!decision.allowed) break;
    }
    return decisions;
  }

  /**
   * `consumeAll`, and when every policy allowed and stays far from its limit, up to `leaseUnits` more
   * units of each taken at once for the caller's isolate to hand out itself (src/lib/rate-limit-client.ts):
   * only the part of each budget above half of it is ever leased, so a key near its limit is asked
   * about on every request. The units are spent here, so however isolates use or lose their leases,
   * no key ever gets more than its budget. Plain GCRA policies only (no lockouts, no failure logs).
   */
  consumeAllWithLease(requests: readonly RateLimitRequest[], leaseUnits: number): LeasedDecisions {
    const decisions = this.consumeAll(requests);
    const leasable =
      leaseUnits >= 1 &&
      decisions.length === requests.length &&
      decisions.every((d) => d.allowed) &&
      requests.every((r) => !r.lockSeconds && (r.algorithm ?? "gcra") === "gcra" && (r.cost ?? 1) === 1);
    if (!leasable) return { decisions, leased: 0 };
    const units = Math.min(leaseUnits, ...decisions.map((d) => d.remaining - Math.ceil(d.limit / 2)));
    if (units < 1) return { decisions, leased: 0 };
    const leased = requests.map((request) => this.consume({ ...request, cost: units }));
    // Cannot refuse (each had more than `units` left above half), but never trust that blindly.
    if (!leased.every((d) => d.allowed)) return { decisions, leased: 0 };
    // The decisions as the request itself left them; the caller counts its leased units down from there.
    return { decisions, leased: units };
  }

  /**
   * Gives back the newest `cost` units of a `window` policy: callers that count attempts up front
   * (so a concurrent burst is counted as it happens) return the unit when the attempt succeeds.
   */
  giveBack(policy: string, cost = 1): void {
    this.#sql.exec(
      "DELETE FROM hits WHERE rowid IN (SELECT rowid FROM hits WHERE policy = ? ORDER BY at DESC, rowid DESC LIMIT ?)",
      policy,
      cost,
    );
  }

  get #sessions(): SessionBook {
    this.#book ??= new SessionBook(this.#sql);
    return this.#book;
  }

  /**
   * One call per authenticated request: whether the session may act, and — only when it may — the
   * user's own budgets this request takes (in `consumeAll`'s order and manner).
   */
  authorize(request: CheckSessionRequest & { budgets?: readonly RateLimitRequest[] }): Authorization {
    const authorization = this.#withBudgets(this.#sessions.check(request), request.budgets);
    this.#noteCleanup(request, authorization);
    return authorization;
  }

  /** `authorize` for a session the book did not know: D1's copy is merged in first. */
  adoptSession(request: AdoptSessionRequest & { budgets?: readonly RateLimitRequest[] }): Authorization {
    const authorization = this.#withBudgets(this.#sessions.adopt(request), request.budgets);
    this.#noteCleanup(request, authorization);
    return authorization;
  }

  /**
   * An order note just written is deleted by the alarm once its window has passed; a use that moved
   * the idle clock reaches D1 from the alarm within LIMITS.sessionTouchFlushMs.
   */
  #noteCleanup(request: CheckSessionRequest, authorization: Authorization): void {
    if (authorization.verdict.status !== "valid") return;
    if (authorization.verdict.touched) this.#armBy(request.now + LIMITS.sessionTouchFlushMs);
    if (request.ordering && request.settleMs) this.#scheduleCleanup(request.now + request.settleMs);
  }

  /**
   * Gives D1 the last uses of this shard's sessions that moved (session-book.ts), a batch per alarm;
   * what is left (more than a batch, or D1 failing) is armed for again. Decided, then written: the
   * rows are read before the D1 call and marked after it only up to what was sent, so a use that
   * lands meanwhile is sent by a later alarm.
   */
  async #syncTouches(now: number): Promise<void> {
    const exists = this.#sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session_states'")
      .toArray().length;
    if (!exists) return;
    const sent = this.#sessions.unsynced(LIMITS.sessionTouchFlushBatch);
    if (sent.length === 0) return;
    try {
      const update = this.env.DB.prepare("UPDATE sessions SET last_used_at = ? WHERE id = ? AND last_used_at < ?");
      await this.env.DB.batch(sent.map((t) => update.bind(t.lastUsedAt, t.sid, t.lastUsedAt)));
    } catch (error) {
      log("warn", "session last uses not copied to D1; retried", { error, sessions: sent.length });
      this.#armBy(now + LIMITS.sessionTouchRetryMs);
      return;
    }
    this.#sessions.markSynced(sent);
    if (this.#sessions.hasUnsynced()) this.#armBy(now);
  }

  #withBudgets(verdict: SessionVerdict, budgets: readonly RateLimitRequest[] | undefined): Authorization {
    if (verdict.status !== "valid" || !budgets?.length) return { verdict, decisions: [] };
    return { verdict, decisions: this.consumeAll(budgets) };
  }

  openSession(request: OpenSessionRequest): OpenSessionResult {
    return this.#sessions.open(request);
  }

  /** Several opens in one call (fixtures that make thousands of signed-in users at once). */
  openSessions(requests: readonly OpenSessionRequest[]): OpenSessionResult[] {
    return requests.map((request) => this.#sessions.open(request));
  }

  /** The events `userId` was noted as ordering at within the notes' window (session-book.ts `noted`). */
  orderNotes(request: { userId: string; now: number }): string[] {
    return this.#sessions.noted(request.userId, request.now - LIMITS.ownOrdersSettleMs);
  }

  /** A refused ordering request's note taken back (session-book.ts `unnote`). */
  unnoteOrdering(request: { userId: string; eventId: string }): void {
    this.#sessions.unnote(request);
  }

  revokeSession(request: { userId: string; sid: string; reason: string; now: number; expiresAt: number }): void {
    this.#sessions.revoke(request);
  }

  advanceEpoch(request: { userId: string; epoch: number }): void {
    this.#sessions.advanceEpoch(request);
  }

  updateAccount(request: { userId: string; roles?: string[]; name?: string; email?: string }): void {
    this.#sessions.updateAccount(request);
  }

  /** A minimal round trip: /health and the `ping` benchmark use it. */
  ping(): "pong" {
    return "pong";
  }

  /** Deletes fully replenished rows so idle keys cost no storage, and re-arms for the next. */
  override async alarm(): Promise<void> {
    const now = Date.now();
    this.#alarmAt = null;
    await this.#syncTouches(now);
    this.#sql.exec("DELETE FROM gcra WHERE expires_at <= ?", now);
    this.#sql.exec("DELETE FROM hits WHERE expires_at <= ?", now);
    // The session book's order notes past their window, on the shards that keep any (session-book.ts).
    const notes = this.#sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session_orders'")
      .toArray().length;
    if (notes) this.#sql.exec("DELETE FROM session_orders WHERE at <= ?", now - LIMITS.ownOrdersSettleMs);
    // The names and addresses of accounts with no session left (session-book.ts); with no row left to
    // clean, the alarm waits for the shard's last session to end, so a quiet shard clears them then.
    if (notes) this.#sessions.forgetIdleAccounts(now);
    const notesEnd = notes ? `UNION ALL SELECT MAX(at) + ${LIMITS.ownOrdersSettleMs} FROM session_orders` : "";
    const rows = this.#sql
      .exec<{ at: number | null }>(
        `SELECT MAX(at) AS at FROM (SELECT MAX(expires_at) AS at FROM gcra UNION ALL SELECT MAX(expires_at) FROM hits ${notesEnd})`,
      )
      .one().at;
    const next = rows ?? (notes ? this.#sessions.lastSessionEnd(now) : null);
    if (next !== null) this.#scheduleCleanup(next);
  }

  /** An alarm no later than `at` (an earlier one pending stays). */
  #armBy(at: number): void {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return;
    this.#alarmAt = Math.ceil(at);
    void this.ctx.storage.setAlarm(this.#alarmAt);
  }

  #scheduleCleanup(at: number): void {
    // One pending alarm is enough: when it fires it re-arms for the latest remaining row.
    if (this.#alarmAt !== null) return;
    this.#alarmAt = Math.ceil(at);
    // Not awaited: the output gate holds the reply until the alarm write is durable.
    void this.ctx.storage.setAlarm(this.#alarmAt);
  }
}
