/**
 * The one place a subscription's Stripe status becomes an entitlement. Every status Stripe has is
 * decided here, so nothing else reads `subscriptions.status` to decide what a user may do:
 * - `active`, `trialing`: Pro.
 * - `past_due`: Pro until the current period ends plus PAST_DUE_GRACE_SECONDS (Stripe is still
 *   retrying the card; the profile should not flip to branded on the first failed attempt).
 * - `unpaid`, `canceled`, `incomplete` (first payment not made), `incomplete_expired`, `paused`: not Pro.
 */
import { PAST_DUE_GRACE_SECONDS, PLANS, type Plan } from "../../config/plans";
import type { SUBSCRIPTION_STATUSES } from "../../db/schema-money";

export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** Statuses Stripe may still move on (a subscription in any other is over for good). */
export const LIVE_STATUSES: readonly SubscriptionStatus[] = [
  "active",
  "trialing",
  "past_due",
  "unpaid",
  "incomplete",
  "paused",
];

export interface EntitlementInput {
  status: SubscriptionStatus;
  /** Epoch seconds (Stripe's), or null. */
  currentPeriodEnd: number | null;
}

/** Whether a subscription in this state entitles its user to Pro at `nowMs`. */
export function entitles(sub: EntitlementInput | null, nowMs = Date.now()): boolean {
  if (!sub) return false;
  switch (sub.status) {
    case "active":
    case "trialing":
      return true;
    case "past_due":
      return sub.currentPeriodEnd !== null && nowMs < (sub.currentPeriodEnd + PAST_DUE_GRACE_SECONDS) * 1000;
    case "unpaid":
    case "canceled":
    case "incomplete":
    case "incomplete_expired":
    case "paused":
      return false;
  }
}

/**
 * Whether a subscription blocks a new Checkout: one that entitles, or one Stripe can still bring back
 * to paid without a new subscription (past_due, unpaid, paused: the portal fixes those).
 */
export function blocksNewCheckout(sub: EntitlementInput | null, nowMs = Date.now()): boolean {
  if (!sub) return false;
  return entitles(sub, nowMs) || sub.status === "past_due" || sub.status === "unpaid" || sub.status === "paused";
}

export function planOf(pro: boolean): Plan {
  return pro ? "pro" : "free";
}

export function benefitsOf(pro: boolean) {
  return PLANS[planOf(pro)];
}

interface SubRow {
  status: SubscriptionStatus;
  current_period_end: number | null;
}

/** SQL for a user's subscriptions, most relevant first (the newest one Stripe still moves). */
const USER_SUBS_SQL = `SELECT status, current_period_end FROM subscriptions WHERE user_id = ?
  ORDER BY updated_at DESC LIMIT 10`;

/** The user's subscription rows (a user normally has one; a lapsed one and a new one can coexist). */
export async function subscriptionRows(db: D1Database, userId: string): Promise<SubRow[]> {
  return (await db.prepare(USER_SUBS_SQL).bind(userId).all<SubRow>()).results;
}

/** Whether `userId` is Pro now: any of their subscriptions entitles. For CONNECT's fee and the limits. */
export async function isPro(db: D1Database, userId: string, nowMs = Date.now()): Promise<boolean> {
  const rows = await subscriptionRows(db, userId);
  return rows.some((r) => entitles({ status: r.status, currentPeriodEnd: r.current_period_end }, nowMs));
}
