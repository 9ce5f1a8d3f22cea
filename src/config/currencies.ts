/**
 * Currencies Gatehouse sells in, with Stripe's minimum charge amount in minor units
 * (Stripe docs, "Minimum and maximum charge amounts"): a paid price below it cannot be charged.
 */
export const CURRENCY_MINIMUMS: Readonly<Record<string, number>> = {
  USD: 50,
  EUR: 50,
  GBP: 30,
  CAD: 50,
  AUD: 50,
  NZD: 50,
  CHF: 50,
  SEK: 300,
  NOK: 300,
  DKK: 250,
  PLN: 200,
  CZK: 1500,
  JPY: 50,
  SGD: 50,
  HKD: 400,
  MXN: 1000,
  BRL: 50,
  INR: 50,
};

export const CURRENCIES = Object.keys(CURRENCY_MINIMUMS) as [string, ...string[]];
