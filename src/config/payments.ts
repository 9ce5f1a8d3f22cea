/**
 * Payments configuration: Stripe's secret API key, the webhook signing secret(s), the checkout hold
 * lifetime and the default refund policy. In production both Stripe secrets are required (fail closed
 * like every other secret); in development and test, leaving both unset switches paid checkout off
 * (paid orders answer 503 `payments-not-configured`, free events keep working). Setting only one of
 * the two is a mistake and is reported, never half-applied. STRIPE_PRO_PRICE_ID names the Pro plan's
 * Price (unset: no upgrade); STRIPE_API_BASE points the SDK at a local Stripe stand-in and is refused
 * in production, so live keys can only ever go to Stripe.
 */
import { z } from "zod";
import { LIMITS } from "./limits";

export interface PaymentsConfig {
  /** `sk_…` or a restricted `rk_…` key; test keys in development. */
  secretKey: string;
  /**
   * Webhook endpoint signing secrets (`whsec_…`). Any one verifying is enough: during a rotation both
   * the old and the new secret are listed (comma-separated) until Stripe stops signing with the old one.
   */
  webhookSecrets: readonly [string, ...string[]];
  /** Lifetime of a Checkout Session and of the seat hold behind it (CHECKOUT_TTL_SECONDS). */
  checkoutTtlSeconds: number;
  /** Attendee refunds are allowed until this many hours before the start, unless the event says otherwise. */
  refundCutoffHours: number;
  /** The Pro plan's recurring Price (`price_…`, STRIPE_PRO_PRICE_ID); null: the upgrade answers 503. */
  proPriceId: string | null;
  /**
   * STRIPE_API_BASE: a local Stripe stand-in the SDK talks to instead of api.stripe.com (development
   * and test only; refused in production at load, so live keys can never be sent anywhere else).
   */
  apiBase: { protocol: "http" | "https"; host: string; port: number } | null;
}

// Whitespace inside a key is a paste error (a trailing newline), worth catching at boot, not per payment.
const secretKey = z.string().regex(/^(sk|rk)_(test|live)_[A-Za-z0-9_]{8,}$/);
const webhookSecret = z.string().regex(/^whsec_[A-Za-z0-9+/=_-]{8,}$/);
const webhookSecrets = z
  .string()
  .transform((raw) => raw.split(",").map((s) => s.trim()))
  .pipe(z.array(webhookSecret).min(1).max(3));

const ttl = z.coerce
  .number()
  .int()
  .min(LIMITS.checkoutTtlMinSeconds)
  .max(LIMITS.checkoutTtlMaxSeconds)
  .default(LIMITS.checkoutTtlSeconds);
const cutoff = z.coerce
  .number()
  .int()
  .min(0)
  .max(365 * 24)
  .default(LIMITS.refundCutoffHours);

const blank = (value: unknown) => value === undefined || value === "";

const priceId = z.string().regex(/^price_[A-Za-z0-9_]{4,}$/);

/** An http(s) origin without path, e.g. `http://127.0.0.1:12111`. */
function parseApiBase(raw: unknown): PaymentsConfig["apiBase"] | undefined {
  if (typeof raw !== "string") return undefined;
  try {
    const url = new URL(raw);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.pathname !== "/" || url.search !== "") {
      return undefined;
    }
    const protocol = url.protocol === "http:" ? "http" : "https";
    return { protocol, host: url.hostname, port: Number(url.port || (protocol === "http" ? 80 : 443)) };
  } catch {
    return undefined;
  }
}

/**
 * Reads the payment settings. Returns the names of the offending keys (never their values) instead of
 * throwing, so the caller can report them together with other configuration errors.
 */
export function readPaymentsConfig(
  env: Record<string, unknown>,
  isProduction: boolean,
): { ok: true; payments: PaymentsConfig | null } | { ok: false; keys: string[] } {
  const bad: string[] = [];
  const ttlSeconds = ttl.safeParse(blank(env.CHECKOUT_TTL_SECONDS) ? undefined : env.CHECKOUT_TTL_SECONDS);
  if (!ttlSeconds.success) bad.push("CHECKOUT_TTL_SECONDS");
  const cutoffHours = cutoff.safeParse(blank(env.REFUND_CUTOFF_HOURS) ? undefined : env.REFUND_CUTOFF_HOURS);
  if (!cutoffHours.success) bad.push("REFUND_CUTOFF_HOURS");

  // A stand-in for Stripe in production would send live keys and card data elsewhere: refused outright.
  let apiBase: PaymentsConfig["apiBase"] = null;
  if (!blank(env.STRIPE_API_BASE)) {
    const parsed = isProduction ? undefined : parseApiBase(env.STRIPE_API_BASE);
    if (parsed) apiBase = parsed;
    else bad.push("STRIPE_API_BASE");
  }
  const pro = blank(env.STRIPE_PRO_PRICE_ID) ? null : priceId.safeParse(env.STRIPE_PRO_PRICE_ID);
  if (pro && !pro.success) bad.push("STRIPE_PRO_PRICE_ID");

  const unset = blank(env.STRIPE_SECRET_KEY) && blank(env.STRIPE_WEBHOOK_SECRET);
  if (unset && !isProduction) return bad.length > 0 ? { ok: false, keys: bad } : { ok: true, payments: null };

  const key = secretKey.safeParse(env.STRIPE_SECRET_KEY);
  const secrets = webhookSecrets.safeParse(env.STRIPE_WEBHOOK_SECRET);
  if (!key.success) bad.push("STRIPE_SECRET_KEY");
  if (!secrets.success) bad.push("STRIPE_WEBHOOK_SECRET");
  if (bad.length > 0 || !key.success || !secrets.success || !ttlSeconds.success || !cutoffHours.success) {
    return { ok: false, keys: bad };
  }
  return {
    ok: true,
    payments: {
      secretKey: key.data,
      webhookSecrets: secrets.data as [string, ...string[]],
      checkoutTtlSeconds: ttlSeconds.data,
      refundCutoffHours: cutoffHours.data,
      proPriceId: pro?.data ?? null,
      apiBase,
    },
  };
}
