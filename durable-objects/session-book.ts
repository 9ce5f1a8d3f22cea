/**
 * SessionBook: whether a session may act, decided without D1. The `user:` shard objects of the
 * RateLimiter (src/lib/rate-limit-client.ts `placement`) keep, for the users hashed to them, each
 * user's account state (session epoch, roles, the name and address orders are confirmed to) and
 * their sessions (epoch, last use, expiry, revocation). An authenticated request asks the user's
 * shard once (`authorize`): the session check and the user's own rate budgets (e.g. `orders-user`)
 * in one call, instead of a D1 read in the database's primary region plus a limiter call.
 *
 * D1 keeps sessions, refresh tokens and accounts as before; this book is the authority for whether
 * an access token may act, and every change that takes a right away lands here first, then in D1
 * (logout, reset, token reuse, credentials cleared, an epoch bump): if the second write fails the
 * two disagree only in the safe direction, and the next sign-in brings D1's epoch forward to ours
 * (src/features/auth/session-keeper.ts). Grants land in D1 first, then here.
 *
 * A session this book has never seen (opened before it existed, written by a fixture, or after its
 * shard moved) is `unknown`: the Worker reads D1 once and `adopt`s it; merging keeps whatever is
 * stricter (a revocation or a newer epoch already here wins over D1's copy). Every method is
 * synchronous SQL with no await: the object's input gate keeps callers for one shard in order.
 *
 * Reading one's own orders. An event's object answers an order before D1 has it (its outbox pushes
 * right after, durable-objects/event-inventory). So that the buyer's next read finds it, a request
 * that may place an order names its event here (`ordering`), and for `settleMs` after it every valid
 * check of that user answers the events in `settle`: the Worker has those objects finish their push
 * before reading the user's orders or tickets from D1 (src/features/orders/settle.ts). It is per user,
 * not per session, so another device of the same person reads the order too.
 *
 * The name and address are kept only while the user has a session that may act: the shard's alarm
 * clears them once every session of theirs has expired or been revoked (`forgetIdleAccounts`).
 *
 * The idle clock lives here too: a use moves `last_used_at` at most once a minute. D1's copy of it
 * (read when a session is adopted, judged on while this book cannot answer, and in a person's export)
 * is written behind, by the shard's alarm, in one batch for every session of the shard that moved
 * (`unsynced`, `markSynced`; durable-objects/rate-limiter.ts): a hot on-sale, where every buyer
 * waited more than a minute before ordering, then costs D1 a batch per shard every few seconds
 * instead of one write per order.
 */

/** What orders are confirmed to and who may act as what: D1's account row as of the last write. */
export interface SessionAccount {
  roles: string[];
  email: string;
  name: string;
}

export interface OpenSessionRequest {
  userId: string;
  sid: string;
  /** The account's session epoch the credential was checked under. */
  epoch: number;
  now: number;
  expiresAt: number;
  account: SessionAccount;
}

/**
 * `ok` false: the book already knows a newer epoch (a reset or cleared credentials landed here
 * first), given in `epoch`.
 */
export interface OpenSessionResult {
  ok: boolean;
  epoch: number;
}

export interface CheckSessionRequest {
  userId: string;
  sid: string;
  /** The access token's epoch claim; absent for a refresh, which carries no access token. */
  claimedEpoch?: number;
  now: number;
  idleMs: number;
  /** Written back at most this often (a use is remembered to the minute, not per request). */
  touchMs: number;
  /** The event this request may place an order at (remembered for `settleMs`; see the file comment). */
  ordering?: string;
  /** How long after an order its event is answered in `settle`; 0 or absent: not asked. */
  settleMs?: number;
}

/** D1's copy of a session and its account, for a session the book does not know yet. */
export interface AdoptSessionRequest extends CheckSessionRequest {
  session: { epoch: number; lastUsedAt: number; expiresAt: number; revokedAt: number | null };
  account: SessionAccount & { epoch: number };
}

export type SessionVerdict =
  | { status: "unknown" }
  | { status: "invalid"; reason: "revoked" | "stale-epoch" | "expired" | "idle" | "foreign" }
  | {
      status: "valid";
      account: SessionAccount;
      /** True when this call moved the session's last use: the Worker copies it to D1 after answering. */
      touched: boolean;
      /** Events this user ordered at within `settleMs`, whose pushes their reads wait for (when asked). */
      settle?: string[];
    };

/**
 * The rule, on one session and its account: not revoked, opened under the account's epoch (and the
 * token too), not past its lifetime, not idle. Shared with the Worker, which applies it to D1's copy
 * only while the book cannot answer (src/features/auth/session-keeper.ts).
 */
export function judgeSession(
  session: { userId: string; epoch: number; lastUsedAt: number; expiresAt: number; revokedAt: number | null },
  account: SessionAccount & { epoch: number },
  request: CheckSessionRequest,
): SessionVerdict {
  if (session.userId !== request.userId) return { status: "invalid", reason: "foreign" };
  if (session.revokedAt !== null) return { status: "invalid", reason: "revoked" };
  if (
    session.epoch !== account.epoch ||
    (request.claimedEpoch !== undefined && request.claimedEpoch !== account.epoch)
  ) {
    return { status: "invalid", reason: "stale-epoch" };
  }
  if (request.now >= session.expiresAt) return { status: "invalid", reason: "expired" };
  if (request.now - session.lastUsedAt > request.idleMs) return { status: "invalid", reason: "idle" };
  return {
    status: "valid",
    account: { roles: account.roles, email: account.email, name: account.name },
    touched: request.now - session.lastUsedAt >= request.touchMs,
  };
}

/** At most this many events answered in `settle` (the most recent): each costs the read a call. */
const SETTLE_EVENTS_MAX = 5;

type AccountRow = {
  epoch: number;
  roles: string | null;
  email: string | null;
  name: string | null;
};

type SessionRow = {
  user_id: string;
  epoch: number;
  last_used_at: number;
  expires_at: number;
  revoked_at: number | null;
};

export class SessionBook {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS session_accounts (
         user_id TEXT PRIMARY KEY, epoch INTEGER NOT NULL, roles TEXT, email TEXT, name TEXT)`,
    );
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS session_states (
         sid TEXT PRIMARY KEY, user_id TEXT NOT NULL, epoch INTEGER NOT NULL, last_used_at REAL NOT NULL,
         expires_at REAL NOT NULL, revoked_at REAL, revoke_reason TEXT)`,
    );
    this.#sql.exec("CREATE INDEX IF NOT EXISTS session_states_user ON session_states (user_id, expires_at)");
    // `synced_at`: the last use D1 has been given. Books from before it held only uses the Worker
    // had already written to D1.
    const stateColumns = this.#sql.exec<{ name: string }>("PRAGMA table_info(session_states)").toArray();
    if (!stateColumns.some((c) => c.name === "synced_at")) {
      this.#sql.exec("ALTER TABLE session_states ADD COLUMN synced_at REAL NOT NULL DEFAULT 0");
      this.#sql.exec("UPDATE session_states SET synced_at = last_used_at");
    }
    this.#sql.exec(
      "CREATE INDEX IF NOT EXISTS session_states_unsynced ON session_states (sid) WHERE last_used_at > synced_at",
    );
    // `refs`: the ordering requests behind the note that have not been refused (see `unnote`).
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS session_orders (
         user_id TEXT NOT NULL, event_id TEXT NOT NULL, at REAL NOT NULL, refs INTEGER NOT NULL DEFAULT 1,
         PRIMARY KEY (user_id, event_id))`,
    );
    const columns = this.#sql.exec<{ name: string }>("PRAGMA table_info(session_orders)").toArray();
    if (!columns.some((c) => c.name === "refs")) {
      this.#sql.exec("ALTER TABLE session_orders ADD COLUMN refs INTEGER NOT NULL DEFAULT 1");
    }
  }

  #account(userId: string): AccountRow | undefined {
    return this.#sql
      .exec<AccountRow>("SELECT epoch, roles, email, name FROM session_accounts WHERE user_id = ?", userId)
      .toArray()[0];
  }

  #session(sid: string): SessionRow | undefined {
    return this.#sql
      .exec<SessionRow>(
        "SELECT user_id, epoch, last_used_at, expires_at, revoked_at FROM session_states WHERE sid = ?",
        sid,
      )
      .toArray()[0];
  }

  /** Raises the account's epoch to at least `epoch` (never lowers it) and stores what is given. */
  #putAccount(userId: string, epoch: number, account: SessionAccount | null): void {
    this.#sql.exec(
      `INSERT INTO session_accounts (user_id, epoch, roles, email, name) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT (user_id) DO UPDATE SET epoch = MAX(epoch, ?2),
         roles = COALESCE(?3, roles), email = COALESCE(?4, email), name = COALESCE(?5, name)`,
      userId,
      epoch,
      account ? JSON.stringify(account.roles) : null,
      account?.email ?? null,
      account?.name ?? null,
    );
  }

  /** Registers a session a credential check just opened, unless a newer epoch is already known. */
  open(request: OpenSessionRequest): OpenSessionResult {
    const known = this.#account(request.userId);
    if (known && request.epoch < known.epoch) return { ok: false, epoch: known.epoch };
    this.#putAccount(request.userId, request.epoch, request.account);
    // A tombstone under this id (a revocation that overtook the open) stays as it is.
    // D1's row is written with the same last use by the sign-in itself.
    this.#sql.exec(
      `INSERT INTO session_states (sid, user_id, epoch, last_used_at, expires_at, synced_at) VALUES (?1, ?2, ?3, ?4, ?5, ?4)
       ON CONFLICT (sid) DO NOTHING`,
      request.sid,
      request.userId,
      request.epoch,
      request.now,
      request.expiresAt,
    );
    // The user's dead sessions go while we are here: the book holds live ones and recent tombstones.
    this.#sql.exec("DELETE FROM session_states WHERE user_id = ? AND expires_at < ?", request.userId, request.now);
    return { ok: true, epoch: request.epoch };
  }

  /** Whether the session may act now; a use moves its idle clock (at most every `touchMs`). */
  check(request: CheckSessionRequest): SessionVerdict {
    const session = this.#session(request.sid);
    const account = this.#account(request.userId);
    if (!session || !account || account.roles === null || account.email === null || account.name === null) {
      return { status: "unknown" };
    }
    const verdict = judgeSession(
      {
        userId: session.user_id,
        epoch: session.epoch,
        lastUsedAt: session.last_used_at,
        expiresAt: session.expires_at,
        revokedAt: session.revoked_at,
      },
      { epoch: account.epoch, roles: JSON.parse(account.roles) as string[], email: account.email, name: account.name },
      request,
    );
    if (verdict.status !== "valid") return verdict;
    if (verdict.touched) {
      this.#sql.exec("UPDATE session_states SET last_used_at = ? WHERE sid = ?", request.now, request.sid);
    }
    const settle = this.#settle(request);
    return settle.length ? { ...verdict, settle } : verdict;
  }

  /** Notes the event a valid request may order at; answers the user's events still settling. */
  #settle(request: CheckSessionRequest): string[] {
    const window = request.settleMs ?? 0;
    if (window <= 0) return [];
    if (request.ordering) {
      // A note past its window counts no request any more: it starts again from this one. Notes past
      // their window go in the shard's alarm (durable-objects/rate-limiter.ts).
      this.#sql.exec(
        `INSERT INTO session_orders (user_id, event_id, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, event_id) DO UPDATE SET
           refs = CASE WHEN at <= ?4 THEN 1 ELSE refs + 1 END, at = MAX(at, ?3)`,
        request.userId,
        request.ordering,
        request.now,
        request.now - window,
      );
    }
    return this.#sql
      .exec<{ event_id: string }>(
        "SELECT event_id FROM session_orders WHERE user_id = ? AND at > ? ORDER BY at DESC LIMIT ?",
        request.userId,
        request.now - window,
        SETTLE_EVENTS_MAX,
      )
      .toArray()
      .map((row) => row.event_id);
  }

  /** The events the user was noted as ordering at after `since`, newest first (an erasure's last look). */
  noted(userId: string, since: number): string[] {
    return this.#sql
      .exec<{ event_id: string }>(
        "SELECT event_id FROM session_orders WHERE user_id = ? AND at > ? ORDER BY at DESC",
        userId,
        since,
      )
      .toArray()
      .map((row) => row.event_id);
  }

  /**
   * Live sessions whose last use D1 has not been given yet, at most `limit` (the alarm's batch).
   * Revoked ones are left out: D1 marks them revoked itself, and a tombstone has no D1 row to move.
   */
  unsynced(limit: number): { sid: string; lastUsedAt: number }[] {
    return this.#sql
      .exec<{ sid: string; last_used_at: number }>(
        `SELECT sid, last_used_at FROM session_states INDEXED BY session_states_unsynced
         WHERE last_used_at > synced_at AND revoked_at IS NULL LIMIT ?`,
        limit,
      )
      .toArray()
      .map((row) => ({ sid: row.sid, lastUsedAt: row.last_used_at }));
  }

  /** Records that D1 now has these last uses; a use that moved on since stays to be sent. */
  markSynced(sent: readonly { sid: string; lastUsedAt: number }[]): void {
    for (const { sid, lastUsedAt } of sent) {
      this.#sql.exec("UPDATE session_states SET synced_at = MAX(synced_at, ?) WHERE sid = ?", lastUsedAt, sid);
    }
  }

  /**
   * The name and address of every account here with no session left that may act (each expired or
   * revoked) go: nothing reads them until a session opens again, and the sign-in that opens it (or the
   * Worker adopting a session this book no longer knows) brings them back. The epoch and the roles
   * stay: a revocation that landed here first must still win. Answers how many accounts lost theirs.
   */
  forgetIdleAccounts(now: number): number {
    return this.#sql
      .exec(
        `UPDATE session_accounts SET email = NULL, name = NULL
         WHERE (email IS NOT NULL OR name IS NOT NULL) AND NOT EXISTS (
           SELECT 1 FROM session_states s
           WHERE s.user_id = session_accounts.user_id AND s.expires_at > ? AND s.revoked_at IS NULL)
         RETURNING user_id`,
        now,
      )
      .toArray().length;
  }

  /** When the last session here that may act ends (the alarm then clears the idle accounts), or null. */
  lastSessionEnd(now: number): number | null {
    return this.#sql
      .exec<{ at: number | null }>(
        "SELECT MAX(expires_at) AS at FROM session_states WHERE expires_at > ? AND revoked_at IS NULL",
        now,
      )
      .one().at;
  }

  /** Whether any live session's last use is still to be given to D1. */
  hasUnsynced(): boolean {
    return this.unsynced(1).length > 0;
  }

  /**
   * Takes back one ordering request's note: the request was refused (sold out, over the limit, no
   * queue pass, …), so the user's reads need not wait for that event's push on its account. The note
   * goes once no request behind it is left: a refused double-click keeps the note of the order its
   * twin placed. A note taken back by an overtaking window is simply gone.
   */
  unnote(request: { userId: string; eventId: string }): void {
    this.#sql.exec(
      "UPDATE session_orders SET refs = refs - 1 WHERE user_id = ? AND event_id = ?",
      request.userId,
      request.eventId,
    );
    this.#sql.exec(
      "DELETE FROM session_orders WHERE user_id = ? AND event_id = ? AND refs <= 0",
      request.userId,
      request.eventId,
    );
  }

  /** Takes D1's copy of a session the book did not know, keeping whatever is stricter, then checks it. */
  adopt(request: AdoptSessionRequest): SessionVerdict {
    const { account, session } = request;
    this.#putAccount(request.userId, account.epoch, account);
    this.#sql.exec(
      `INSERT INTO session_states (sid, user_id, epoch, last_used_at, expires_at, revoked_at, revoke_reason, synced_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 IS NULL THEN NULL ELSE 'read-model' END, ?4)
       ON CONFLICT (sid) DO UPDATE SET revoked_at = COALESCE(revoked_at, ?6),
         last_used_at = MAX(last_used_at, ?4), synced_at = MAX(synced_at, ?4)`,
      request.sid,
      request.userId,
      session.epoch,
      session.lastUsedAt,
      session.expiresAt,
      session.revokedAt,
    );
    return this.check(request);
  }

  /**
   * Revokes one session. Unknown sessions get a tombstone (kept until `expiresAt`, the longest the
   * session could have lived) so an adoption from a D1 copy that missed the revocation cannot revive it.
   */
  revoke(request: { userId: string; sid: string; reason: string; now: number; expiresAt: number }): void {
    this.#sql.exec(
      `INSERT INTO session_states (sid, user_id, epoch, last_used_at, expires_at, revoked_at, revoke_reason)
       VALUES (?1, ?2, -1, ?3, ?4, ?3, ?5)
       ON CONFLICT (sid) DO UPDATE SET revoked_at = COALESCE(revoked_at, ?3), revoke_reason = COALESCE(revoke_reason, ?5)`,
      request.sid,
      request.userId,
      request.now,
      request.expiresAt,
      request.reason,
    );
  }

  /** Moves the account to at least `epoch`: every session opened under an older one is dead at once. */
  advanceEpoch(request: { userId: string; epoch: number }): void {
    this.#putAccount(request.userId, request.epoch, null);
  }

  /** The account's current roles, name or address, written after D1 changed them. */
  updateAccount(request: { userId: string; roles?: string[]; name?: string; email?: string }): void {
    this.#sql.exec(
      `UPDATE session_accounts SET roles = COALESCE(?2, roles), name = COALESCE(?3, name), email = COALESCE(?4, email)
       WHERE user_id = ?1`,
      request.userId,
      request.roles ? JSON.stringify(request.roles) : null,
      request.name ?? null,
      request.email ?? null,
    );
  }
}
