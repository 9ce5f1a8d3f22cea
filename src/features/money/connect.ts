/**
 * Payouts through Stripe Connect (Express accounts). A host, or a creator with a claimed handle, gets
 * one connected account. Creating it is atomic with our row: the `payout_accounts` row is inserted
 * first, Stripe is asked with an idempotency key derived from the user id, and the answer fills the
 * row only while it is still empty — so a crash or a lost response between the two never makes a
 * second account: the retry sends the same key and Stripe hands back the same one (within Stripe's
 * 24-hour idempotency window; the request's parameters never change, so the key never conflicts).
 * `account.updated` webhooks (Connect events: they carry the `account` field) keep the flags in D1,
 * ordered per account by the event's `created`: an older event never overwrites a newer state.
 */
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { payoutAccounts } from "../../db/schema-money";
import { DomainError } from "../../lib/errors";
import { log } from "../../lib/log";
import type { PaymentsDeps, Stripe } from "../payments";
import { classifyStripeError } from "../payments";
import { isPro } from "./entitlements";
import { platformFee } from "./fees";

export type PayoutAccountRow = RowOf<typeof payoutAccounts>;

/**
 * - `none`: nothing at Stripe yet (never started, or the create has not been answered);
 * - `onboarding`: the account exists but its owner has not finished Stripe's form;
 * - `restricted`: the form was sent, but Stripe does not (yet, or any more) let it take charges or pay out;
 * - `active`: charges and payouts both enabled.
 */
export type PayoutStatus = "none" | "onboarding" | "restricted" | "active";

export interface PayoutRequirements {
  currentlyDue: string[];
  pastDue: string[];
  disabledReason: string | null;
}

export interface PayoutSummary {
  status: PayoutStatus;
  chargesEnabled: boolean;
  payoutsEnabled: boolean;
  requirements: PayoutRequirements;
}

const NO_REQUIREMENTS: PayoutRequirements = { currentlyDue: [], pastDue: [], disabledReason: null };

export function statusOf(row: PayoutAccountRow | null): PayoutStatus {
  if (!row?.stripe_account_id) return "none";
  if (row.charges_enabled && row.payouts_enabled) return "active";
  if (!row.details_submitted) return "onboarding";
  return "restricted";
}

function requirementsOf(row: PayoutAccountRow | null): PayoutRequirements {
  if (!row) return NO_REQUIREMENTS;
  try {
    const parsed = JSON.parse(row.requirements) as Partial<PayoutRequirements>;
    return {
      currentlyDue: Array.isArray(parsed.currentlyDue) ? parsed.currentlyDue.map(String) : [],
      pastDue: Array.isArray(parsed.pastDue) ? parsed.pastDue.map(String) : [],
      disabledReason: typeof parsed.disabledReason === "string" ? parsed.disabledReason : null,
    };
  } catch {
    return NO_REQUIREMENTS;
  }
}

export function summaryOf(row: PayoutAccountRow | null): PayoutSummary {
  return {
    status: statusOf(row),
    chargesEnabled: Boolean(row?.stripe_account_id && row.charges_enabled),
    payoutsEnabled: Boolean(row?.stripe_account_id && row.payouts_enabled),
    requirements: requirementsOf(row),
  };
}

export function readPayoutAccount(db: D1Database, userId: string): Promise<PayoutAccountRow | null> {
  return db.prepare("SELECT * FROM payout_accounts WHERE user_id = ?").bind(userId).first<PayoutAccountRow>();
}

/** The connected account that can take charges for this user now, or null. */
export async function chargeableAccount(db: D1Database, userId: string): Promise<string | null> {
  const row = await db
    .prepare(
      "SELECT stripe_account_id FROM payout_accounts WHERE user_id = ? AND charges_enabled = 1 AND stripe_account_id IS NOT NULL",
    )
    .bind(userId)
    .first<{ stripe_account_id: string }>();
  return row?.stripe_account_id ?? null;
}

/** Whether the user ever got a connected account (a charge of theirs may have been a destination charge). */
export async function connectedAccountOf(db: D1Database, userId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT stripe_account_id FROM payout_accounts WHERE user_id = ?")
    .bind(userId)
    .first<{ stripe_account_id: string | null }>();
  return row?.stripe_account_id ?? null;
}

/**
 * How a sale of `amount` for `hostId` is charged: a destination charge to the host's account with the
 * platform fee (the Pro share when the host is Pro, unless `options.pro` says), or null (no account
 * able to take charges: the charge stays on the platform).
 */
export async function destinationChargeFor(
  db: D1Database,
  hostId: string,
  amount: number,
  currency: string,
  options: { pro?: boolean } = {},
): Promise<{ destination: string; applicationFeeAmount: number } | null> {
  const destination = await chargeableAccount(db, hostId);
  if (!destination) return null;
  const pro = options.pro ?? (await isPro(db, hostId));
  return { destination, applicationFeeAmount: platformFee(amount, currency, { pro }) };
}

/** Who may get paid out: a host, or a creator (a user with an active handle). */
export async function assertMayReceivePayouts(
  db: D1Database,
  user: { id: string; roles: readonly string[] },
): Promise<void> {
  if (user.roles.includes("host")) return;
  const handle = await db
    .prepare("SELECT 1 AS ok FROM handles WHERE user_id = ? AND state = 'active'")
    .bind(user.id)
    .first<{ ok: number }>();
  if (!handle) {
    throw new DomainError("forbidden", "Payouts are for hosts and creators: become a host or claim a handle first.");
  }
}

function providerError(error: unknown, what: string): DomainError {
  const failure = classifyStripeError(error);
  log(failure.kind === "permanent" ? "error" : "warn", what, { failure });
  return new DomainError(
    "payment-provider-error",
    failure.kind === "transient"
      ? "The payment provider did not answer. Retry: the same account is used."
      : "The payment provider refused the request.",
    failure.kind === "transient" ? { retryAfter: LIMITS.paymentProviderRetryAfterSeconds } : {},
  );
}

/**
 * The user's connected account id, created at Stripe on first use. Row first; Stripe second with the
 * key `connect-account:<userId>`; then the row is filled only if still empty, and the stored id wins.
 */
export async function ensureConnectedAccount(deps: PaymentsDeps, userId: string): Promise<string> {
  const now = Date.now();
  await deps.db
    .prepare(
      "INSERT INTO payout_accounts (user_id, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(userId, now, now)
    .run();
  const existing = await connectedAccountOf(deps.db, userId);
  if (existing) return existing;
  let account: Stripe.Account;
  try {
    // Parameters that never change for this user, so a retry under the same key is always a replay.
    account = await deps.stripe.accounts.create(
      {
        type: "express",
        capabilities: { card_payments: { requested: true }, transfers: { requested: true } },
        metadata: { userId },
      },
      { idempotencyKey: `connect-account:${userId}` },
    );
  } catch (error) {
    throw providerError(error, "connected account not created");
  }
  await deps.db
    .prepare(
      "UPDATE payout_accounts SET stripe_account_id = ?, updated_at = ? WHERE user_id = ? AND stripe_account_id IS NULL",
    )
    .bind(account.id, Date.now(), userId)
    .run();
  const stored = await connectedAccountOf(deps.db, userId);
  if (!stored) throw new DomainError("internal", "The payout account row disappeared.");
  return stored;
}

/** An Account Link for Stripe's hosted onboarding, returning to /host on PUBLIC_URL (or this origin). */
export async function onboardingLink(deps: PaymentsDeps, userId: string, origin: string): Promise<string> {
  const account = await ensureConnectedAccount(deps, userId);
  try {
    // Links are single-use and expire within minutes: a fresh one each time, no idempotency key.
    const link = await deps.stripe.accountLinks.create({
      account,
      type: "account_onboarding",
      refresh_url: `${origin}/host?payouts=refresh`,
      return_url: `${origin}/host?payouts=done`,
    });
    return link.url;
  } catch (error) {
    throw providerError(error, "account link not created");
  }
}

/**
 * Applies an `account.updated` event: the flags and requirements replace ours only when the event is
 * at least as new as the last one applied to this account (`stripe_event_created`). Unknown accounts
 * (not ours) are ignored.
 */
export async function applyAccountUpdated(
  db: D1Database,
  account: Stripe.Account,
  eventCreated: number,
): Promise<"processed" | "skipped" | "ignored"> {
  const requirements: PayoutRequirements = {
    currentlyDue: account.requirements?.currently_due ?? [],
    pastDue: account.requirements?.past_due ?? [],
    disabledReason: account.requirements?.disabled_reason ?? null,
  };
  // An account whose create answer was lost is still ours: its metadata names the user, whose row waits empty.
  const owner = account.metadata?.userId;
  if (owner) {
    await db
      .prepare(
        "UPDATE payout_accounts SET stripe_account_id = ?, updated_at = ? WHERE user_id = ? AND stripe_account_id IS NULL",
      )
      .bind(account.id, Date.now(), owner)
      .run();
  }
  const result = await db
    .prepare(
      `UPDATE payout_accounts SET charges_enabled = ?, payouts_enabled = ?, details_submitted = ?, requirements = ?,
         stripe_event_created = ?, updated_at = ?
       WHERE stripe_account_id = ? AND stripe_event_created <= ?`,
    )
    .bind(
      account.charges_enabled ? 1 : 0,
      account.payouts_enabled ? 1 : 0,
      account.details_submitted ? 1 : 0,
      JSON.stringify(requirements),
      eventCreated,
      Date.now(),
      account.id,
      eventCreated,
    )
    .run();
  if (result.meta.changes === 1) return "processed";
  const known = await db
    .prepare("SELECT 1 AS ok FROM payout_accounts WHERE stripe_account_id = ?")
    .bind(account.id)
    .first<{ ok: number }>();
  return known ? "skipped" : "ignored";
}

/**
 * What a refund of this payment must also undo: a destination charge (its PaymentIntent has
 * `transfer_data`) takes the money back from the host's account (`reverse_transfer`) and gives back the
 * platform fee (`refund_application_fee`), both in proportion to the amount refunded. Stripe is asked
 * only when the event's host ever had a connected account; other payments stayed on the platform.
 */
export async function refundTermsFor(
  deps: Pick<PaymentsDeps, "db" | "stripe">,
  eventId: string,
  paymentIntent: string,
): Promise<{ reverse_transfer?: true; refund_application_fee?: true }> {
  const host = await deps.db
    .prepare(
      "SELECT p.stripe_account_id FROM events e JOIN payout_accounts p ON p.user_id = e.host_id WHERE e.id = ? AND p.stripe_account_id IS NOT NULL",
    )
    .bind(eventId)
    .first<{ stripe_account_id: string }>();
  if (!host) return {};
  const intent = await deps.stripe.paymentIntents.retrieve(paymentIntent);
  if (!intent.transfer_data?.destination) return {};
  return { reverse_transfer: true, refund_application_fee: true };
}
