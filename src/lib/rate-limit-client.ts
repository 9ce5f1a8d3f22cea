/**
 * Worker-side access to RateLimiter objects: one call per (key, policy), with a timeout and an
 * isolate-local memory of blocked keys so a flood is answered here until its Retry-After instead of
 * reaching the object on every request. Keys of the numerous, mostly cold kinds (users, email
 * recipients) live in LIMITS.rateLimiterShards shared objects, each key with its own state there;
 * every other key has an object of its own (see `placement`).
 */
import type { RateLimitDecision, RateLimiter } from "../../durable-objects/rate-limiter";
import { LIMITS, type RatePolicy } from "../config/limits";
import { BoundedCache } from "./bounded-cache";
import { fnv1a } from "./hash";

export type { RateLimitDecision };

export class RateLimiterUnavailable extends Error {
  override readonly name = "RateLimiterUnavailable";
}

/** Key prefixes whose keys share sharded objects; see LIMITS.rateLimiterShards. */
const SHARDED_PREFIXES = ["user:", "mailto:"] as const;

/** The names of every shared object the sharded keys live in (LIMITS.rateLimiterShards per prefix). */
export function shardObjects(): string[] {
  return SHARDED_PREFIXES.flatMap((prefix) =>
    Array.from({ length: LIMITS.rateLimiterShards }, (_, n) => `shard:${prefix}${n}`),
  );
}

/**
 * Where a key's state lives: the object's name, and the name of its state in that object. A key of
 * its own object uses the policy name; a sharded key qualifies it with the key, so keys sharing an
 * object never share a budget.
 */
export function placement(key: string, policy: string): { object: string; policy: string } {
  const prefix = SHARDED_PREFIXES.find((p) => key.startsWith(p));
  if (!prefix) return { object: key, policy };
  return {
    object: `shard:${prefix}${fnv1a(key) % LIMITS.rateLimiterShards}`,
    policy: `${policy}|${key}`,
  };
}

/** `${policy}|${key}` → when the block ends and when the full quota is back (epoch ms). */
const blocked = new BoundedCache<string, { until: number; resetAt: number; decision: RateLimitDecision }>(
  LIMITS.blockedKeyCacheEntries,
);

function rememberBlocked(id: string, decision: RateLimitDecision, now: number): void {
  const until = now + decision.retryAfterSeconds * 1000;
  blocked.set(id, { until, resetAt: now + decision.resetSeconds * 1000, decision }, now, until);
}

function cachedBlock(id: string, now: number): RateLimitDecision | null {
  const entry = blocked.get(id, now);
  if (!entry) return null;
  return {
    ...entry.decision,
    retryAfterSeconds: Math.max(1, Math.ceil((entry.until - now) / 1000)),
    resetSeconds: Math.max(1, Math.ceil((entry.resetAt - now) / 1000)),
  };
}

/**
 * Takes `cost` units of `policy` for `key` (cost 0 only asks). Throws RateLimiterUnavailable when
 * the object cannot answer in time; the caller applies the policy's fail mode.
 */
export async function consumeRate(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: RatePolicy,
  cost = 1,
): Promise<RateLimitDecision> {
  const id = `${policy.name}|${key}`;
  const hit = cachedBlock(id, Date.now());
  if (hit) return hit;

  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RateLimiterUnavailable("rate limiter timed out")), LIMITS.rateLimiterTimeoutMs);
  });
  let decision: RateLimitDecision;
  try {
    const where = placement(key, policy.name);
    const stub = namespace.getByName(where.object);
    decision = await Promise.race([
      stub.consume({
        policy: where.policy,
        limit: policy.limit,
        windowSeconds: policy.windowSeconds,
        cost,
        lockSeconds: policy.lockSeconds,
        algorithm: policy.algorithm,
      }),
      timeout,
    ]);
  } catch (error) {
    if (error instanceof RateLimiterUnavailable) throw error;
    throw new RateLimiterUnavailable("rate limiter unreachable", { cause: error });
  } finally {
    clearTimeout(timer);
  }
  if (!decision.allowed) rememberBlocked(id, decision, Date.now());
  return decision;
}

/**
 * Takes one unit of each of `policies` for `key` in a single call to the key's object, in order,
 * stopping at the first refusal: the decisions up to and including it. A block this isolate
 * remembers for one of them ends the list there without asking for it. Throws
 * RateLimiterUnavailable like consumeRate.
 */
export async function consumeRates(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policies: readonly RatePolicy[],
): Promise<RateLimitDecision[]> {
  const leaseUnits = policies.length > 0 ? leaseUnitsFor(policies) : 0;
  if (leaseUnits > 0) return consumeLeased(namespace, key, policies, leaseUnits);
  const [first] = policies;
  if (policies.length === 1 && first) return [await consumeRate(namespace, key, first)];
  const now = Date.now();
  let asked = policies;
  let cached: RateLimitDecision | null = null;
  for (const [i, policy] of policies.entries()) {
    cached = cachedBlock(`${policy.name}|${key}`, now);
    if (cached) {
      asked = policies.slice(0, i);
      break;
    }
  }
  const decisions = asked.length > 0 ? (await askObject(namespace, key, asked, 0)).decisions : [];
  for (const [i, decision] of decisions.entries()) {
    if (!decision.allowed) rememberBlocked(`${(asked[i] as RatePolicy).name}|${key}`, decision, Date.now());
  }
  const refused = decisions.some((d) => !d.allowed);
  return cached && !refused ? [...decisions, cached] : decisions;
}

/**
 * Units this isolate holds of plain budgets far from their limits, by `${policies}|${key}`: taken
 * from the key's object in advance (RateLimiter.consumeAllWithLease), handed out here one per request
 * until used up or `LIMITS.rateLeaseMs` passes. A busy address (a venue's NAT, a load test) then costs
 * its object one call per lease instead of one per request; units an isolate does not use in time
 * are simply lost, so no key ever gets more than its budget.
 */
const leases = new BoundedCache<string, { used: number; leased: number; decisions: RateLimitDecision[] }>(
  LIMITS.blockedKeyCacheEntries,
);

/**
 * Units to ask for with a request of `policies`: a lease is at most 1% of the smallest budget, and
 * none below LIMITS.rateLeaseMinUnits, so leasing only ever applies to large budgets (a load test, a
 * creator's tracking allowance), where a lease an isolate loses is a rounding error of the window;
 * an ordinary address's 100 a minute is decided by its object on every request.
 */
function leaseUnitsFor(policies: readonly RatePolicy[]): number {
  if (!policies.every((p) => !p.lockSeconds && (p.algorithm ?? "gcra") === "gcra")) return 0;
  const units = Math.min(LIMITS.rateLeaseUnits, ...policies.map((p) => Math.floor(p.limit / 100)));
  return units >= LIMITS.rateLeaseMinUnits ? units : 0;
}

async function consumeLeased(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policies: readonly RatePolicy[],
  leaseUnits: number,
): Promise<RateLimitDecision[]> {
  const id = `${policies.map((p) => p.name).join(",")}|${key}`;
  const now = Date.now();
  for (const policy of policies) {
    const block = cachedBlock(`${policy.name}|${key}`, now);
    if (block) return [block];
  }
  const lease = leases.get(id, now);
  if (lease && lease.used < lease.leased) {
    lease.used += 1;
    const used = lease.used;
    if (used === lease.leased) leases.delete(id);
    return lease.decisions.map((d) => ({ ...d, remaining: Math.max(0, d.remaining - used) }));
  }
  const { decisions, leased } = await askObject(namespace, key, policies, leaseUnits);
  if (leased > 0) leases.set(id, { used: 0, leased, decisions }, now, now + LIMITS.rateLeaseMs);
  for (const [i, decision] of decisions.entries()) {
    if (!decision.allowed) rememberBlocked(`${(policies[i] as RatePolicy).name}|${key}`, decision, Date.now());
  }
  return decisions;
}

async function askObject(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policies: readonly RatePolicy[],
  leaseUnits: number,
): Promise<{ decisions: RateLimitDecision[]; leased: number }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RateLimiterUnavailable("rate limiter timed out")), LIMITS.rateLimiterTimeoutMs);
  });
  try {
    // Every policy of one key lives in the same object (see placement).
    const object = placement(key, (policies[0] as RatePolicy).name).object;
    const requests = policies.map((policy) => ({
      policy: placement(key, policy.name).policy,
      limit: policy.limit,
      windowSeconds: policy.windowSeconds,
      cost: 1,
      lockSeconds: policy.lockSeconds,
      algorithm: policy.algorithm,
    }));
    const stub = namespace.getByName(object);
    const asked =
      leaseUnits > 0
        ? stub.consumeAllWithLease(requests, leaseUnits)
        : stub.consumeAll(requests).then((decisions) => ({ decisions, leased: 0 }));
    return await Promise.race([asked, timeout]);
  } catch (error) {
    if (error instanceof RateLimiterUnavailable) throw error;
    throw new RateLimiterUnavailable("rate limiter unreachable", { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Clears `policy` for `key` in the object and in this isolate's memory. */
export async function resetRate(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: RatePolicy,
): Promise<void> {
  blocked.delete(`${policy.name}|${key}`);
  const where = placement(key, policy.name);
  await namespace.getByName(where.object).reset(where.policy);
}

/**
 * Returns one unit of a `window` policy taken for an attempt that turned out fine. A block this
 * isolate remembers for the key is forgotten too: with the unit back, the object may allow again.
 */
export async function giveBackRate(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: RatePolicy,
): Promise<void> {
  blocked.delete(`${policy.name}|${key}`);
  const where = placement(key, policy.name);
  await namespace.getByName(where.object).giveBack(where.policy);
}
