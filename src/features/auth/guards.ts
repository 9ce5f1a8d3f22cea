/**
 * Rate guards that count failures only (login, OTP) or that gate on a human challenge. Login and OTP
 * take a unit before checking the credential (so concurrent guesses cannot all slip past a peek) and
 * forgive on success; the challenge counters are peeked and spent on failure. The limiter being down
 * fails closed here: these guard credentials.
 */

import type { RateLimiter } from "../../../durable-objects/rate-limiter";
import type { RatePolicy } from "../../config/limits";
import { hmacHex } from "../../lib/crypto";
import { type DomainError, rateLimitedError, unavailableError } from "../../lib/errors";
import { ipKey } from "../../lib/ip";
import {
  consumeRate,
  giveBackRate,
  type RateLimitDecision,
  RateLimiterUnavailable,
  resetRate,
} from "../../lib/rate-limit-client";

export type LimiterNamespace = DurableObjectNamespace<RateLimiter>;

export async function emailKey(pepper: string, email: string): Promise<string> {
  return `email:${(await hmacHex(pepper, email)).slice(0, 32)}`;
}

export function addressKey(ip: string | null): string {
  return ip ? ipKey(ip) : "ip:unknown";
}

async function decide(ns: LimiterNamespace, key: string, policy: RatePolicy, cost: number): Promise<RateLimitDecision> {
  try {
    return await consumeRate(ns, key, policy, cost);
  } catch (error) {
    if (error instanceof RateLimiterUnavailable && policy.onUnavailable === "closed") {
      throw unavailableError("Sign-in is temporarily unavailable. Please retry shortly.");
    }
    if (error instanceof RateLimiterUnavailable) {
      return {
        allowed: true,
        limit: policy.limit,
        windowSeconds: policy.windowSeconds,
        remaining: 1,
        resetSeconds: 0,
        retryAfterSeconds: 0,
      };
    }
    throw error;
  }
}

/** Whether one more attempt is allowed, without spending one. */
export function peek(ns: LimiterNamespace, key: string, policy: RatePolicy) {
  return decide(ns, key, policy, 0);
}

export function spend(ns: LimiterNamespace, key: string, policy: RatePolicy) {
  return decide(ns, key, policy, 1);
}

export async function forgive(ns: LimiterNamespace, key: string, policy: RatePolicy): Promise<void> {
  try {
    await resetRate(ns, key, policy);
  } catch {
    // Forgiving is a courtesy after success; the budget refills by itself.
  }
}

/** Returns a unit taken for an attempt that succeeded; best effort, like forgive. */
export async function giveBack(ns: LimiterNamespace, key: string, policy: RatePolicy): Promise<void> {
  try {
    await giveBackRate(ns, key, policy);
  } catch {
    // The unit simply ages out of the window.
  }
}

export function rateLimited(policy: RatePolicy, decision: RateLimitDecision): DomainError {
  return rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many attempts.");
}
