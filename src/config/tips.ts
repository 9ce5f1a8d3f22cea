/**
 * Tip bounds per currency, in minor units, checked before Stripe is called. The floor is the larger of
 * the equivalent of USD 0.30 (below it the fees eat the tip) and Stripe's minimum charge for the
 * currency (CURRENCY_MINIMUMS, from Stripe's "Minimum and maximum charge amounts": a smaller charge is
 * refused with `amount_too_small`); the ceiling is the equivalent of USD 500. The equivalents come
 * from a fixed table of rates, not live FX: a bound that drifts a few percent with the market is
 * fine, a bound that changes between two requests is not. JPY has no minor unit (ISO 4217 exponent 0).
 */
import { CURRENCY_MINIMUMS } from "./currencies";

/** Units of each currency per US dollar (rounded; reviewed by hand, not fetched). */
const UNITS_PER_USD: Readonly<Record<string, number>> = {
  USD: 1,
  EUR: 0.92,
  GBP: 0.79,
  CAD: 1.36,
  AUD: 1.52,
  NZD: 1.65,
  CHF: 0.88,
  SEK: 10.5,
  NOK: 10.8,
  DKK: 6.9,
  PLN: 4,
  CZK: 23,
  JPY: 150,
  SGD: 1.34,
  HKD: 7.8,
  MXN: 17,
  BRL: 5,
  INR: 83,
};

/** ISO 4217 exponents that are not 2. */
const ZERO_DECIMAL = new Set(["JPY"]);

/** The tip floor in US cents (0.30 USD) and ceiling (500 USD). */
export const TIP_MIN_USD_CENTS = 30;
export const TIP_MAX_USD_CENTS = 50_000;

export interface TipBounds {
  /** Smallest tip, minor units. */
  min: number;
  /** Largest tip, minor units. */
  max: number;
}

function minorPerUsdCent(currency: string): number {
  const rate = UNITS_PER_USD[currency] ?? 1;
  return ZERO_DECIMAL.has(currency) ? rate / 100 : rate;
}

/** The table, per upper-case ISO 4217 code (USD: 50 … 50,000; GBP: 30 … 39,500; JPY: 50 … 75,000). */
export const TIP_BOUNDS: Readonly<Record<string, TipBounds>> = Object.fromEntries(
  Object.keys(UNITS_PER_USD).map((currency) => {
    const perCent = minorPerUsdCent(currency);
    const stripeMin = CURRENCY_MINIMUMS[currency] ?? 0;
    return [
      currency,
      {
        min: Math.max(Math.ceil(TIP_MIN_USD_CENTS * perCent), stripeMin),
        max: Math.floor(TIP_MAX_USD_CENTS * perCent),
      },
    ];
  }),
);

export const TIP_CURRENCIES = Object.keys(TIP_BOUNDS) as [string, ...string[]];

/** The currency the tip form's chips use when the creator has none of their own. */
export const TIP_DEFAULT_CURRENCY = "USD";

/** Amount chips on the tip form, in major units of TIP_DEFAULT_CURRENCY. */
export const TIP_CHIPS = [3, 5, 10, 20] as const;

/** A tip's message: plain text, at most this many characters (code points, after normalisation). */
export const TIP_MESSAGE_MAX = 280;

/**
 * How long a tip's Checkout Session stays open: an hour (Stripe takes 30 minutes to 24 hours; nothing
 * is held meanwhile, and a margin over Stripe's minimum keeps a second boundary from refusing it).
 */
export const TIP_CHECKOUT_TTL_SECONDS = 60 * 60;

/** Attempts a tip webhook gets before the dead letters (S4 asks for 3; tickets keep their longer schedule). */
export const TIP_WEBHOOK_MAX_ATTEMPTS = 3;
