/**
 * Rate limiting middleware over the RateLimiter Durable Object. Headers follow the IETF RateLimit
 * header fields draft (-10): `RateLimit-Policy: "api";q=100;w=60` and `RateLimit: "api";r=42;t=18`;
 * several policies on one route append list members. Over the limit: 429 `rate-limited` with
 * Retry-After. When the object cannot answer, the policy's fail mode decides: open lets the request
 * through, closed answers 503.
 */
import type { MiddlewareHandler } from "hono";
import type { RatePolicy, RatePolicyName } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { rateLimitedError, unavailableError } from "../../lib/errors";
import { clientIp, ipKey } from "../../lib/ip";
import { log } from "../../lib/log";
import { consumeRates, placement, type RateLimitDecision, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { domainErrorResponse } from "../problem";

export interface RateLimitOptions {
  policy: RatePolicyName;
  /** The rate-limit key for this request, or null to skip this policy for it. */
  key: (c: AppContext) => string | null | Promise<string | null>;
  /**
   * More policies of the same key for this request (e.g. a route's own per-address budget next to
   * `api`): taken after `policy`, in the same call to the key's object.
   */
  with?: (c: AppContext) => readonly RatePolicyName[];
}

export function policyHeader(policy: RatePolicy): string {
  return `"${policy.name}";q=${policy.limit};w=${policy.windowSeconds}`;
}

export function rateHeader(policy: RatePolicy, decision: RateLimitDecision): string {
  return `"${policy.name}";r=${decision.remaining};t=${decision.resetSeconds}`;
}

export function setRateHeaders(c: AppContext, policy: RatePolicy, decision: RateLimitDecision): void {
  c.header("RateLimit-Policy", policyHeader(policy), { append: true });
  c.header("RateLimit", rateHeader(policy, decision), { append: true });
}

/** 429 problem for a denied decision; services that count only failures use it too. */
export function rateLimitedResponse(c: AppContext, policy: RatePolicy, decision: RateLimitDecision): Response {
  return domainErrorResponse(c, rateLimitedError(policy.name, decision.retryAfterSeconds), {
    "RateLimit-Policy": policyHeader(policy),
    RateLimit: rateHeader(policy, decision),
  });
}

export function rateLimit(options: RateLimitOptions): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    const key = await options.key(c);
    if (key === null) return next();
    const configured = c.get("config").ratePolicies;
    const policies = [options.policy, ...(options.with?.(c) ?? [])].map((name) => configured[name]);
    let decisions: RateLimitDecision[];
    try {
      decisions = alreadyTaken(c, key, policies) ?? (await consumeRates(c.env.RATE_LIMITER, key, policies));
    } catch (error) {
      if (!(error instanceof RateLimiterUnavailable)) throw error;
      // Open only when every policy asked is: one closed policy keeps the route closed.
      const open = policies.every((p) => p.onUnavailable === "open");
      log("error", "rate limiter unavailable", {
        requestId: c.get("requestId"),
        policy: policies.map((p) => p.name).join(","),
        failMode: open ? "open" : "closed",
        error,
      });
      if (open) return next();
      return domainErrorResponse(
        c,
        unavailableError("This operation is temporarily unavailable. Please retry shortly."),
      );
    }
    for (const [i, decision] of decisions.entries()) {
      const policy = policies[i] as RatePolicy;
      if (!decision.allowed) return rateLimitedResponse(c, policy, decision);
      setRateHeaders(c, policy, decision);
    }
    await next();
  };
}

/**
 * The decisions an earlier call of this request already took for every one of `policies` (the
 * session check takes the user's own budgets with it: src/features/auth/authenticators.ts), or null.
 */
function alreadyTaken(c: AppContext, key: string, policies: readonly RatePolicy[]): RateLimitDecision[] | null {
  const taken = c.get("takenBudgets");
  if (!taken) return null;
  const decisions: RateLimitDecision[] = [];
  for (const policy of policies) {
    const decision = taken.get(placement(key, policy.name).policy);
    if (!decision) return null;
    decisions.push(decision);
  }
  return decisions;
}

/** Key by client address (IPv6 /64); requests without CF-Connecting-IP share one bucket. */
export function byIp(c: AppContext): string {
  const ip = clientIp(c.req.raw.headers);
  return ip ? ipKey(ip) : "ip:unknown";
}
