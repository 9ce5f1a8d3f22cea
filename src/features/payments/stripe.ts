/**
 * The Stripe boundary: the official SDK on Workers (fetch HTTP client, SubtleCrypto for signatures),
 * webhook signature verification, and the one classification of Stripe errors into "retry later"
 * and "will never work" that every caller uses.
 */
import Stripe from "stripe";
import { LIMITS } from "../../config/limits";
import type { PaymentsConfig } from "../../config/payments";

export type { Stripe };

const clients = new Map<string, Stripe>();

/**
 * One client per secret key, API base and isolate. `fetch` is looked up on every call (not captured
 * when the client is built), so the runtime's current fetch is always the one used. STRIPE_API_BASE
 * (development and test only; config refuses it in production) points the SDK at a local stand-in.
 */
export function stripeClient(config: Pick<PaymentsConfig, "secretKey" | "apiBase">): Stripe {
  const base = config.apiBase;
  const cacheKey = base ? `${config.secretKey} ${base.protocol}://${base.host}:${base.port}` : config.secretKey;
  let client = clients.get(cacheKey);
  if (!client) {
    client = new Stripe(config.secretKey, {
      httpClient: Stripe.createFetchHttpClient((input, init) => fetch(input, init)),
      maxNetworkRetries: LIMITS.stripeNetworkRetries,
      timeout: LIMITS.stripeTimeoutMs,
      appInfo: { name: "Gatehouse" },
      ...(base ? { protocol: base.protocol, host: base.host, port: base.port } : {}),
    });
    clients.set(cacheKey, client);
  }
  return client;
}

const cryptoProvider = Stripe.createSubtleCryptoProvider();

/**
 * Verifies `Stripe-Signature` over the raw body (HMAC-SHA-256, LIMITS.webhookToleranceSeconds) against
 * each configured secret. Stripe puts one `v1` signature per active secret in the header while a secret
 * is being rolled, and the SDK accepts the header if any of them matches. Returns the event, or null
 * with the reason (for the log only: the client gets a generic answer).
 */
export async function verifyWebhook(
  config: PaymentsConfig,
  rawBody: string,
  signature: string | undefined,
): Promise<{ event: Stripe.Event } | { event: null; reason: string }> {
  if (!signature) return { event: null, reason: "missing Stripe-Signature header" };
  let reason = "no secret configured";
  for (const secret of config.webhookSecrets) {
    try {
      const event = await Stripe.webhooks.constructEventAsync(
        rawBody,
        signature,
        secret,
        LIMITS.webhookToleranceSeconds,
        cryptoProvider,
      );
      return { event };
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
  }
  return { event: null, reason };
}

export type StripeFailure =
  /** Worth retrying: network, timeout, rate limit, Stripe 5xx, a concurrent request on the same object. */
  | { kind: "transient"; message: string }
  /** Retrying cannot help (bad request, authentication, idempotency misuse): needs a person. */
  | { kind: "permanent"; message: string; code: string | null };

/** Classifies anything the SDK threw. Unknown errors count as transient: retrying is the safe default. */
export function classifyStripeError(error: unknown): StripeFailure {
  if (error instanceof Stripe.errors.StripeError) {
    const message = `${error.type}${error.code ? ` ${error.code}` : ""}: ${error.message}`;
    const status = error.statusCode ?? 0;
    if (
      error instanceof Stripe.errors.StripeConnectionError ||
      error instanceof Stripe.errors.StripeAPIError ||
      error instanceof Stripe.errors.StripeRateLimitError ||
      status === 409 ||
      status === 429 ||
      status >= 500 ||
      error.code === "lock_timeout"
    ) {
      return { kind: "transient", message };
    }
    return { kind: "permanent", message, code: error.code ?? null };
  }
  return { kind: "transient", message: error instanceof Error ? error.message : String(error) };
}

/**
 * Whether a key acts on live data. Stripe keeps test and live mode apart per key (`sk_live_…` /
 * restricted `rk_live_…` vs `…_test_…`), and every object says which one it lives in (`livemode`).
 */
export function isLiveKey(secretKey: string): boolean {
  return /^(sk|rk)_live_/.test(secretKey);
}

/** The id of an expandable Stripe field (`"pi_…"` or `{ id: "pi_…" }`). */
export function idOf(value: string | { id: string } | null | undefined): string | null {
  if (!value) return null;
  return typeof value === "string" ? value : value.id;
}
