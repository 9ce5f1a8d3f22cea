/**
 * The platform fee on ticket sales (and tips) paid out to a host's or creator's Stripe Connect account:
 * a share of the amount in basis points, never less than a small fixed amount per currency (so a
 * cheap ticket still covers Stripe's own per-charge fee), and never more than the amount itself.
 * Pro hosts pay the lower share. The fee is charged as the destination charge's `application_fee_amount`.
 */
import type { CURRENCY_MINIMUMS } from "./currencies";

/** PLATFORM_FEE_BPS: 5 % of each sale. */
export const PLATFORM_FEE_BPS = 500;

/** What a Pro host pays instead (2.5 %). */
export const PLATFORM_FEE_BPS_PRO = 250;

/**
 * The most a tip's fee may take of it (50 %). The tip floor is about USD 0.30, as is the fee's fixed
 * minimum: uncapped, the smallest tips (in INR, every tip under ₹25) would go to the platform whole.
 */
export const TIP_FEE_MAX_SHARE_BPS = 5_000;

/** The least fee per charge, in minor units: about 0.30 USD in each currency Gatehouse sells in. */
export const PLATFORM_FEE_MINIMUMS: Readonly<Record<keyof typeof CURRENCY_MINIMUMS, number>> = {
  USD: 30,
  EUR: 30,
  GBP: 25,
  CAD: 40,
  AUD: 45,
  NZD: 50,
  CHF: 30,
  SEK: 300,
  NOK: 300,
  DKK: 200,
  PLN: 120,
  CZK: 700,
  JPY: 45,
  SGD: 40,
  HKD: 250,
  MXN: 500,
  BRL: 150,
  INR: 2500,
};
