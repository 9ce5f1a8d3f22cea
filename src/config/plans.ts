/**
 * The plans and what Pro unlocks, in one table. Entitlements themselves derive from the Stripe
 * subscription's status (src/features/money/entitlements.ts); this says what being Pro is worth.
 *
 * - `branding`: the "Made with Gatehouse" footer on the public profile (`/@:handle`) and event pages
 *   is shown to free creators only.
 * - `platformFeeBps`: the platform fee's share on ticket sales and tips (fees.ts: PLATFORM_FEE_BPS,
 *   PLATFORM_FEE_BPS_PRO; the charge asks `isPro` of money/entitlements.ts).
 * - `rateMultiplier`: per-user write allowances that grow with Pro. Today: the `posts` policy (10 posts
 *   per 5 minutes for everyone, 20 for Pro — the `posts-pro` policy in limits.ts). The 100-link cap
 *   is the contract's and stays the same for every plan.
 */
import { PLATFORM_FEE_BPS, PLATFORM_FEE_BPS_PRO } from "./fees";

export const PLANS = {
  free: { branding: true, platformFeeBps: PLATFORM_FEE_BPS, rateMultiplier: 1 },
  pro: { branding: false, platformFeeBps: PLATFORM_FEE_BPS_PRO, rateMultiplier: 2 },
} as const;

export type Plan = keyof typeof PLANS;

/**
 * How long a `past_due` subscription keeps Pro: until its current period ends (Stripe's retries run
 * inside it under the default dunning settings), plus this grace, so a card that fails on renewal
 * day does not switch the profile's branding on while Stripe is still retrying.
 */
export const PAST_DUE_GRACE_SECONDS = 3 * 24 * 60 * 60;
