/**
 * Worker-side access to RateLimiter objects: one call per (key, policy), with a timeout and an
 * isolate-local memory of blocked keys so a flood is answered here until its Retry-After instead of
 * reaching the object on every request.
 */
import type { RateLimitDecision, RateLimiter } from "../../durable-objects/rate-limiter";
import { LIMITS, type RatePolicy } from "../config/limits";

export type { RateLimitDecision };

export class RateLimiterUnavailable extends Error {
  override readonly name = "RateLimiterUnavailable";
}

/** `${policy}|${key}` → when the block ends and when the full quota is back (epoch ms). */
const blocked = new Map<string, { until: number; resetAt: number; decision: RateLimitDecision }>();

function rememberBlocked(id: string, decision: RateLimitDecision, now: number): void {
  blocked.delete(id);
  if (blocked.size >= LIMITS.blockedKeyCacheEntries) {
    // Map iterates in insertion order: drop the oldest entry to keep memory bounded.
    const oldest = blocked.keys().next().value;
    if (oldest !== undefined) blocked.delete(oldest);
  }
  blocked.set(id, {
    until: now + decision.retryAfterSeconds * 1000,
    resetAt: now + decision.resetSeconds * 1000,
    decision,
  });
}

function cachedBlock(id: string, now: number): RateLimitDecision | null {
  const entry = blocked.get(id);
  if (!entry) return null;
  if (entry.until <= now) {
    blocked.delete(id);
    return null;
  }
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
    const stub = namespace.getByName(key);
    decision = await Promise.race([
      stub.consume({
        policy: policy.name,
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

/** Clears `policy` for `key` in the object and in this isolate's memory. */
export async function resetRate(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: RatePolicy,
): Promise<void> {
  blocked.delete(`${policy.name}|${key}`);
  await namespace.getByName(key).reset(policy.name);
}

/** Returns one unit of a `window` policy taken for an attempt that turned out fine. */
export async function giveBackRate(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: RatePolicy,
): Promise<void> {
  await namespace.getByName(key).giveBack(policy.name);
}
