/**
 * Send budgets for email, kept by RateLimiter objects: `email-recipient` per (pseudonymised)
 * recipient, then `email-global` for the whole platform. Over either, the email waits — the caller
 * puts it back on the queue with the returned delay — so a limit delays mail and never drops it.
 * The limiter being unreachable also means wait (policy fail mode `delay`): never send unmetered.
 */
import type { RateLimiter } from "../../../durable-objects/rate-limiter";
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { hmacHex } from "../../lib/crypto";
import { consumeRate, RateLimiterUnavailable } from "../../lib/rate-limit-client";

/**
 * One object for every send on the platform: the provider's limits are per account. At 100 sends a
 * minute it is far from a hot spot (RateLimiter's "never one global object" is about request load).
 */
export const GLOBAL_EMAIL_KEY = "email:global";

export type SendBudget =
  | { ok: true }
  | { ok: false; waitSeconds: number; limit: "recipient" | "global" | "unavailable" };

/** The RateLimiter key for a recipient: an HMAC, so object names never carry an address. */
export async function recipientKey(pepper: string, to: string): Promise<string> {
  return `mailto:${(await hmacHex(pepper, `mailto:${to.toLowerCase()}`)).slice(0, 32)}`;
}

const unavailable = (): SendBudget => ({
  ok: false,
  waitSeconds: LIMITS.emailLimiterUnavailableDelaySeconds,
  limit: "unavailable",
});

async function recipientBudget(
  limiter: DurableObjectNamespace<RateLimiter>,
  config: Config,
  to: string,
): Promise<SendBudget> {
  try {
    const decision = await consumeRate(
      limiter,
      await recipientKey(config.hashPepper, to),
      config.ratePolicies["email-recipient"],
    );
    return decision.allowed ? { ok: true } : { ok: false, waitSeconds: decision.retryAfterSeconds, limit: "recipient" };
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
    return unavailable();
  }
}

/**
 * Send budgets for a queue batch, one answer per address in order: every recipient's budget first
 * (their objects asked at once; in a burst to one inbox it is the one that says no, and a refusal
 * there spends nothing of the shared budget), then the global budget for all the recipients that said yes in a single
 * call (cost = their number), so a batch costs one global call instead of one per email. The global
 * budget grants the batch whole or not at all: when fewer units are left than the batch needs, the
 * batch waits for them (the limit is kept either way).
 */
export async function takeSendBudgets(
  limiter: DurableObjectNamespace<RateLimiter>,
  config: Config,
  recipients: readonly string[],
): Promise<SendBudget[]> {
  const budgets = await Promise.all(recipients.map((to) => recipientBudget(limiter, config, to)));
  const policy = config.ratePolicies["email-global"];
  const cleared = budgets.filter((b) => b.ok).length;
  // A batch larger than the whole budget could never be granted at once: the rest waits its turn.
  const asked = Math.min(cleared, policy.limit);
  if (asked === 0) return budgets;
  let global: SendBudget;
  try {
    const decision = await consumeRate(limiter, GLOBAL_EMAIL_KEY, policy, asked);
    global = decision.allowed ? { ok: true } : { ok: false, waitSeconds: decision.retryAfterSeconds, limit: "global" };
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
    global = unavailable();
  }
  const overflow: SendBudget = {
    ok: false,
    waitSeconds: Math.max(1, Math.ceil(((cleared - asked) * policy.windowSeconds) / policy.limit)),
    limit: "global",
  };
  let granted = 0;
  return budgets.map((b) => {
    if (!b.ok) return b;
    granted += 1;
    return granted > asked ? overflow : global;
  });
}
