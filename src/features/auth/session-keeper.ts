/**
 * The Worker's side of durable-objects/session-book.ts: sessions are decided in the user's `user:`
 * shard of the RateLimiter (the same object that holds the user's own rate budgets), not in D1.
 *
 * Write order, the whole coherence argument:
 * - Taking a right away (logout, token reuse, reset, credentials cleared) lands in the book first,
 *   then in D1. A failure between the two leaves the book stricter than D1, never looser.
 * - An epoch bump is written to the book before D1 and again after with D1's resulting epoch, so a
 *   sign-in that raced the bump cannot keep a session under the new epoch with the old password.
 * - Opening a session registers it in the book before D1's conditional insert. When the book already
 *   knows a newer epoch than D1 (its earlier write landed, D1's did not), D1 is brought forward to it
 *   and the session opened under it: the credential was just checked against D1, which is what the
 *   unfinished change left in force.
 * - Grants (roles) and cosmetic changes (name) land in D1 first, then here.
 * The book is asked with a timeout. A write that cannot reach it fails (503) before D1 is touched;
 * a check that cannot reach it is decided on D1's copy by the same rule (see authorizeSession).
 */
import type { Authorization, RateLimiter, RateLimitRequest } from "../../../durable-objects/rate-limiter";
import {
  judgeSession,
  type OpenSessionRequest,
  type SessionAccount,
  type SessionVerdict,
} from "../../../durable-objects/session-book";
import type { Config } from "../../config";
import { LIMITS, type RatePolicy } from "../../config/limits";
import { DomainError, unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";
import { placement } from "../../lib/rate-limit-client";

export type SessionsNamespace = DurableObjectNamespace<RateLimiter>;
export type { SessionVerdict };

const userKey = (userId: string) => `user:${userId}`;

function bookOf(ns: SessionsNamespace, userId: string): DurableObjectStub<RateLimiter> {
  return ns.getByName(placement(userKey(userId), "sessions").object);
}

class BookUnavailable extends Error {
  override readonly name = "BookUnavailable";
}

/** Runs one call to the book, or throws BookUnavailable when it does not answer within the limiter's timeout. */
async function ask<T>(call: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("session book timed out")), LIMITS.rateLimiterTimeoutMs);
  });
  try {
    return await Promise.race([call(), timeout]);
  } catch (error) {
    log("error", "session book unavailable", { error });
    throw new BookUnavailable("session book unavailable", { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** `ask`, answering 503 when the book cannot answer: for writes, which must not go on without it. */
async function askOrFail<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await ask(call);
  } catch {
    throw unavailableError("Sign-in is briefly unavailable. Please retry shortly.");
  }
}

/** The user's own budgets as the book takes them: the same state rateLimit() reaches for `user:` keys. */
export function budgetRequests(userId: string, policies: readonly RatePolicy[]): RateLimitRequest[] {
  return policies.map((policy) => ({
    policy: placement(userKey(userId), policy.name).policy,
    limit: policy.limit,
    windowSeconds: policy.windowSeconds,
    cost: 1,
    lockSeconds: policy.lockSeconds,
    algorithm: policy.algorithm,
  }));
}

export interface AccessCheck {
  userId: string;
  sid: string;
  claimedEpoch?: number;
  now: number;
  /** The event this request may place an order at (its reads' settling, durable-objects/session-book.ts). */
  ordering?: string;
}

/** What D1 holds about a session and its account, for a session the book has not seen yet. */
export interface D1SessionCopy {
  session: { epoch: number; lastUsedAt: number; expiresAt: number; revokedAt: number | null };
  account: SessionAccount & { epoch: number };
}

/**
 * Whether the session may act, with the user's `budgets` taken in the same call when it may. A
 * session the book does not know is read from D1 once (`readCopy`, null when D1 has none) and adopted.
 * While the book cannot answer, D1's copy decides by the same rule (`judgeSession`) and no budget is
 * taken here (the route's rateLimit() then asks the limiter itself and applies each policy's fail
 * mode): an outage of one shard object must not sign its users out of the whole site, and D1's copy
 * is never looser than the book except after a write that already failed in front of its user.
 */
export async function authorizeSession(
  ns: SessionsNamespace,
  config: Config,
  check: AccessCheck,
  budgets: readonly RatePolicy[],
  readCopy: () => Promise<D1SessionCopy | null>,
): Promise<Authorization> {
  const request = {
    ...check,
    idleMs: config.sessionIdleSeconds * 1000,
    touchMs: LIMITS.sessionTouchIntervalMs,
    settleMs: LIMITS.ownOrdersSettleMs,
    budgets: budgetRequests(check.userId, budgets),
  };
  const book = bookOf(ns, check.userId);
  let first: Authorization;
  try {
    first = await ask(() => book.authorize(request));
  } catch (error) {
    if (!(error instanceof BookUnavailable)) throw error;
    const copy = await readCopy();
    if (!copy) return { verdict: { status: "invalid", reason: "revoked" }, decisions: [] };
    const verdict = judgeSession({ userId: check.userId, ...copy.session }, copy.account, request);
    // The book keeps the idle clock: D1's copy is not moved from here.
    return { verdict: verdict.status === "valid" ? { ...verdict, touched: false } : verdict, decisions: [] };
  }
  if (first.verdict.status !== "unknown") return first;
  const copy = await readCopy();
  if (!copy) return { verdict: { status: "invalid", reason: "revoked" }, decisions: [] };
  return askOrFail(() => book.adoptSession({ ...request, ...copy }));
}

/**
 * Registers a session about to be opened under `epoch`. Answers the epoch to open it under: `epoch`,
 * or the book's newer one once `raiseD1Epoch` brought D1 forward to it, which it does only while D1
 * is still behind (answering whether it moved). When D1 already stands at the newer epoch, the change
 * that moved it landed after this sign-in read the account: the credential checked may be gone, so
 * the sign-in is refused (see the file comment).
 */
export async function registerSession(
  ns: SessionsNamespace,
  request: OpenSessionRequest,
  raiseD1Epoch: (epoch: number) => Promise<boolean>,
): Promise<number> {
  const book = bookOf(ns, request.userId);
  const opened = await askOrFail(() => book.openSession(request));
  if (opened.ok) return request.epoch;
  if (!(await raiseD1Epoch(opened.epoch))) {
    throw new DomainError("unauthorized", "Your account changed while signing in. Sign in again.");
  }
  const again = await askOrFail(() => book.openSession({ ...request, epoch: opened.epoch }));
  if (!again.ok) throw unavailableError("Your account is changing right now. Please sign in again shortly.");
  return opened.epoch;
}

/**
 * Registers many fresh sessions at once, one call per shard object (fixtures that make thousands of
 * signed-in users; every account is new, so no epoch can be ahead).
 */
export async function registerSessions(
  ns: SessionsNamespace,
  requests: readonly {
    userId: string;
    sid: string;
    epoch: number;
    now: number;
    expiresAt: number;
    account: SessionAccount;
  }[],
): Promise<void> {
  const byShard = new Map<string, (typeof requests)[number][]>();
  for (const request of requests) {
    const shard = placement(userKey(request.userId), "sessions").object;
    const list = byShard.get(shard);
    if (list) list.push(request);
    else byShard.set(shard, [request]);
  }
  await Promise.all([...byShard].map(([shard, list]) => ns.getByName(shard).openSessions(list)));
}

export async function revokeInBook(
  ns: SessionsNamespace,
  config: Config,
  userId: string,
  sid: string,
  reason: string,
  now: number,
): Promise<void> {
  // A tombstone lives as long as the session could have: after that no copy of it can be valid.
  const expiresAt = now + config.sessionMaxSeconds * 1000;
  await askOrFail(() => bookOf(ns, userId).revokeSession({ userId, sid, reason, now, expiresAt }));
}

/** Every session opened under an epoch below `epoch` stops acting at once. */
export async function advanceEpochInBook(ns: SessionsNamespace, userId: string, epoch: number): Promise<void> {
  await askOrFail(() => bookOf(ns, userId).advanceEpoch({ userId, epoch }));
}

/** Roles, name or address as D1 now has them (after D1's write). */
export async function updateAccountInBook(
  ns: SessionsNamespace,
  userId: string,
  change: { roles?: string[]; name?: string; email?: string },
): Promise<void> {
  await askOrFail(() => bookOf(ns, userId).updateAccount({ userId, ...change }));
}

/**
 * Takes back a refused ordering request's note (durable-objects/session-book.ts `unnote`). Best
 * effort, after the answer: a note left behind only makes the user's reads for a minute ask the
 * event's object whether its push is done.
 */
export async function unnoteOrderingInBook(ns: SessionsNamespace, userId: string, eventId: string): Promise<void> {
  try {
    await ask(() => bookOf(ns, userId).unnoteOrdering({ userId, eventId }));
  } catch {
    // ask() logged it.
  }
}

/**
 * The events the user was noted as ordering at within the last minute; none when the book does not
 * answer (logged by `ask`).
 */
export async function orderNotesInBook(ns: SessionsNamespace, userId: string, now: number): Promise<string[]> {
  try {
    return await ask(() => bookOf(ns, userId).orderNotes({ userId, now }));
  } catch {
    return [];
  }
}
