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

/**
 * Takes one send from the recipient's budget, then one from the global budget. The recipient goes
 * first: in a burst to one inbox it is the one that says no, and a refusal there spends nothing of
 * the shared budget other recipients need.
 */
export async function takeSendBudget(
  limiter: DurableObjectNamespace<RateLimiter>,
  config: Config,
  to: string,
): Promise<SendBudget> {
  try {
    const perRecipient = await consumeRate(
      limiter,
      await recipientKey(config.hashPepper, to),
      config.ratePolicies["email-recipient"],
    );
    if (!perRecipient.allowed) return { ok: false, waitSeconds: perRecipient.retryAfterSeconds, limit: "recipient" };
    const global = await consumeRate(limiter, GLOBAL_EMAIL_KEY, config.ratePolicies["email-global"]);
    if (!global.allowed) return { ok: false, waitSeconds: global.retryAfterSeconds, limit: "global" };
    return { ok: true };
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
    return { ok: false, waitSeconds: LIMITS.emailLimiterUnavailableDelaySeconds, limit: "unavailable" };
  }
}
