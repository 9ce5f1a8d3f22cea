/**
 * Payout-account fixtures: a host whose Stripe Connect account can take charges, written directly
 * (the account id is made up; the fake Stripe never needs to have seen it, because a destination
 * charge names it only as a parameter). Paid events publish only for such a host.
 */
import { env } from "cloudflare:workers";

export async function givePayoutAccount(
  userId: string,
  options: { accountId?: string; chargesEnabled?: boolean; payoutsEnabled?: boolean } = {},
): Promise<string> {
  const accountId = options.accountId ?? `acct_test_${userId.replace(/[^A-Za-z0-9]/g, "").slice(0, 24)}`;
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO payout_accounts (user_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted,
       requirements, stripe_event_created, created_at, updated_at)
     VALUES (?, ?, ?, ?, 1, '{}', 0, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET stripe_account_id = excluded.stripe_account_id,
       charges_enabled = excluded.charges_enabled, payouts_enabled = excluded.payouts_enabled`,
  )
    .bind(
      userId,
      accountId,
      options.chargesEnabled === false ? 0 : 1,
      options.payoutsEnabled === false ? 0 : 1,
      now,
      now,
    )
    .run();
  return accountId;
}
