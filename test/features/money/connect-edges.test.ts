/**
 * Connect's edges: a creator (not a host) onboarding, Stripe refusing the onboarding link,
 * `account.updated` for an account that is not ours or arrives late, a requirements column that does
 * not parse, and a refund of a payment that stayed on the platform (nothing to reverse).
 */
import { env } from "cloudflare:workers";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyAccountUpdated, readPayoutAccount, summaryOf } from "../../../src/features/money";
import { rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { createUser, login } from "../auth/helpers";
import { hostWithToken } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { buyer, checkout, orderStatus, PRICE, paid, paidEvent } from "../payments/helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const payoutRow = (userId: string) => rows("SELECT * FROM payout_accounts WHERE user_id = ?", userId);
const startOnboarding = (h: PaymentsHarness, token: string) =>
  h.fetch("/api/v1/me/payouts/account", { method: "POST", token });

describe("POST /api/v1/me/payouts/account", () => {
  it("a creator with an active handle (no host role) may onboard", async () => {
    const h = new PaymentsHarness();
    const user = await createUser();
    await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
      .bind(`creator${crypto.randomUUID().slice(0, 8)}`, user.id, Date.now())
      .run();
    const { accessToken } = await login(user.email);
    const res = await startOnboarding(h, accessToken);
    expect(res.status).toBe(200);
    expect(stripe.accounts.size).toBe(1);
    expect(await payoutRow(user.id)).toMatchObject([{ stripe_account_id: [...stripe.accounts.keys()][0] }]);
  });

  it("Stripe refusing the onboarding link is 502 'refused' without Retry-After; the account is kept", async () => {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    const logs = captureLogs();
    stripe.script = (call) =>
      call.path === "/v1/account_links" ? { status: 400, type: "invalid_request_error" } : undefined;
    const res = await startOnboarding(h, host.token);
    expect(res.status).toBe(502);
    expect(res.headers.get("Retry-After")).toBeNull();
    expect(((await res.json()) as { detail: string }).detail).toBe("The payment provider refused the request.");
    expect(logs.entries("account link not created", "error")).toHaveLength(1);
    // The account itself was made and stored: the retry only needs a new link.
    const accountId = [...stripe.accounts.keys()].at(-1);
    expect(await payoutRow(host.id)).toMatchObject([{ stripe_account_id: accountId }]);
    stripe.script = () => undefined;
    expect((await startOnboarding(h, host.token)).status).toBe(200);
    expect(stripe.accounts.size).toBe(1);
  });
});

describe("applyAccountUpdated", () => {
  const account = (id: string, extra: Record<string, unknown> = {}) =>
    ({
      id,
      object: "account",
      charges_enabled: true,
      payouts_enabled: true,
      details_submitted: true,
      ...extra,
    }) as unknown as Stripe.Account;

  it("an account that is not ours is ignored and writes nothing", async () => {
    const before = await rows("SELECT * FROM payout_accounts");
    expect(await applyAccountUpdated(env.DB, account("acct_test_not_ours"), 100)).toBe("ignored");
    expect(await rows("SELECT * FROM payout_accounts")).toEqual(before);
  });

  it("an older event for our account is skipped; one without requirements clears them and disables", async () => {
    const user = await createUser();
    const id = `acct_test_${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare(
      `INSERT INTO payout_accounts (user_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted,
         requirements, stripe_event_created, created_at, updated_at) VALUES (?, ?, 1, 1, 1, '{}', 200, 0, 0)`,
    )
      .bind(user.id, id)
      .run();
    expect(await applyAccountUpdated(env.DB, account(id, { charges_enabled: false }), 150)).toBe("skipped");
    expect(await payoutRow(user.id)).toMatchObject([{ charges_enabled: 1, stripe_event_created: 200 }]);

    const disabled = account(id, { charges_enabled: false, payouts_enabled: false, details_submitted: false });
    expect(await applyAccountUpdated(env.DB, disabled, 250)).toBe("processed");
    const row = await readPayoutAccount(env.DB, user.id);
    expect(row).toMatchObject({ charges_enabled: 0, payouts_enabled: 0, details_submitted: 0 });
    expect(summaryOf(row).requirements).toEqual({ currentlyDue: [], pastDue: [], disabledReason: null });
  });

  it("a requirements column that does not parse reads as no requirements", async () => {
    const user = await createUser();
    await env.DB.prepare(
      `INSERT INTO payout_accounts (user_id, stripe_account_id, charges_enabled, payouts_enabled, details_submitted,
         requirements, stripe_event_created, created_at, updated_at) VALUES (?, ?, 0, 0, 0, 'not json', 0, 0, 0)`,
    )
      .bind(user.id, `acct_test_${crypto.randomUUID().slice(0, 8)}`)
      .run();
    const summary = summaryOf(await readPayoutAccount(env.DB, user.id));
    expect(summary.requirements).toEqual({ currentlyDue: [], pastDue: [], disabledReason: null });
    expect(summary.chargesEnabled).toBe(false);
  });
});

describe("refunds of a payment that stayed on the platform", () => {
  it("the host's account could not take charges at the sale: the refund reverses no transfer and no fee", async () => {
    const h = new PaymentsHarness();
    const { host, event } = await paidEvent();
    // The account was restricted after publishing: the sale is charged on the platform.
    await env.DB.prepare("UPDATE payout_accounts SET charges_enabled = 0 WHERE user_id = ?").bind(host.id).run();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");

    const res = await h.fetch(`/api/v1/orders/${order.id}/refund`, { method: "POST", token: who.token });
    expect(res.status).toBe(202);
    await h.drain();
    const [refund] = stripe.created("/v1/refunds");
    expect(refund?.params.reverse_transfer).toBeUndefined();
    expect(refund?.params.refund_application_fee).toBeUndefined();
    expect(stripe.refunds).toMatchObject([{ amount: PRICE }]);
  });
});
