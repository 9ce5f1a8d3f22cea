/**
 * The Pro subscription through Stripe Billing: the user's Stripe customer (created once), Checkout in
 * subscription mode, the customer portal, and applying what Stripe says about a subscription.
 *
 * Ordering: Stripe delivers out of order and more than once, so a state is applied only when its
 * stamp is newer than `subscriptions.stripe_event_created` — the event's `created` for a snapshot
 * carried by a `customer.subscription.*` event, or the fetch time for a state retrieved from Stripe
 * (authoritative: it is newer than every event sent before it). A snapshot stamped the same second as
 * the stored state is a tie nothing in the event can break, so the subscription is fetched instead.
 * Every write is conditioned on the `version` read (optimistic locking; retried on conflict) and, in
 * the same batch, writes an audit row and moves the creator's cache version when the state changed.
 */

import type Stripe from "stripe";
import { LIMITS } from "../../config/limits";
import { SUBSCRIPTION_STATUSES } from "../../db/schema-money";
import { DomainError } from "../../lib/errors";
import { log } from "../../lib/log";
import { iso } from "../../lib/time";
import { classifyStripeError, notConfigured, type PaymentsDeps } from "../payments";
import { blocksNewCheckout, entitles, planOf, type SubscriptionStatus, subscriptionRows } from "./entitlements";

export type BillingDeps = Pick<PaymentsDeps, "db" | "config" | "payments" | "stripe">;

/** The scope whose version the creator's cached public profile names (creators/profile-page.ts). */
export const creatorScope = (userId: string) => `creator:${userId}`;

const idOf = (value: string | { id: string } | null | undefined): string | null =>
  !value ? null : typeof value === "string" ? value : value.id;

// ---------------------------------------------------------------- the customer

/**
 * The user's Stripe customer id, created at most once: our row first (so there is something to fill),
 * then `customers.create` with the idempotency key `customer:<userId>` (a retry, a crash in between, or
 * a concurrent request gets the same customer back from Stripe), then a fill that only writes an
 * empty row. Whatever the race, the stored id is the one answered.
 */
export async function ensureCustomer(deps: BillingDeps, user: { id: string; email: string }): Promise<string> {
  const now = Date.now();
  await deps.db
    .prepare(
      "INSERT INTO billing_customers (user_id, stripe_customer_id, created_at, updated_at) VALUES (?, NULL, ?, ?) ON CONFLICT (user_id) DO NOTHING",
    )
    .bind(user.id, now, now)
    .run();
  const stored = await customerIdOf(deps.db, user.id);
  if (stored) return stored;
  const customer = await deps.stripe.customers.create(
    { email: user.email, metadata: { userId: user.id } },
    { idempotencyKey: `customer:${user.id}` },
  );
  await deps.db
    .prepare(
      "UPDATE billing_customers SET stripe_customer_id = ?, updated_at = ? WHERE user_id = ? AND stripe_customer_id IS NULL",
    )
    .bind(customer.id, Date.now(), user.id)
    .run();
  const filled = await customerIdOf(deps.db, user.id);
  if (!filled) throw new Error("billing customer row vanished while filling it");
  return filled;
}

export async function customerIdOf(db: D1Database, userId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT stripe_customer_id FROM billing_customers WHERE user_id = ?")
    .bind(userId)
    .first<{ stripe_customer_id: string | null }>();
  return row?.stripe_customer_id ?? null;
}

async function userOfCustomer(db: D1Database, customerId: string): Promise<string | null> {
  const row = await db
    .prepare("SELECT user_id FROM billing_customers WHERE stripe_customer_id = ?")
    .bind(customerId)
    .first<{ user_id: string }>();
  return row?.user_id ?? null;
}

// ---------------------------------------------------------------- what the user sees

export interface SubscriptionView {
  plan: "free" | "pro";
  status: SubscriptionStatus | null;
  isPro: boolean;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
}

interface StoredSub {
  id: string;
  user_id: string;
  stripe_customer_id: string;
  price_id: string;
  status: SubscriptionStatus;
  current_period_end: number | null;
  cancel_at_period_end: number;
  stripe_event_created: number;
  version: number;
}

/** The user's plan: their entitling subscription if any, else the newest one (or none). */
export async function subscriptionView(db: D1Database, userId: string, nowMs = Date.now()): Promise<SubscriptionView> {
  const { results } = await db
    .prepare(
      `SELECT status, current_period_end, cancel_at_period_end FROM subscriptions WHERE user_id = ?
       ORDER BY updated_at DESC LIMIT 10`,
    )
    .bind(userId)
    .all<{ status: SubscriptionStatus; current_period_end: number | null; cancel_at_period_end: number }>();
  const pick =
    results.find((r) => entitles({ status: r.status, currentPeriodEnd: r.current_period_end }, nowMs)) ?? results[0];
  if (!pick) return { plan: "free", status: null, isPro: false, currentPeriodEnd: null, cancelAtPeriodEnd: false };
  const pro = entitles({ status: pick.status, currentPeriodEnd: pick.current_period_end }, nowMs);
  return {
    plan: planOf(pro),
    status: pick.status,
    isPro: pro,
    currentPeriodEnd: pick.current_period_end === null ? null : iso(pick.current_period_end * 1000),
    cancelAtPeriodEnd: pick.cancel_at_period_end === 1,
  };
}

// ---------------------------------------------------------------- checkout and portal

/** A Stripe call on a request's path: a failure becomes 502 `payment-provider-error`, logged with its kind. */
async function atStripe<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof DomainError) throw error;
    const failure = classifyStripeError(error);
    log(failure.kind === "permanent" ? "error" : "warn", `billing: ${what} failed at Stripe`, { failure });
    throw new DomainError(
      "payment-provider-error",
      failure.kind === "transient"
        ? "The payment provider did not answer. Try again shortly."
        : "The payment provider refused the request.",
      failure.kind === "transient" ? { retryAfter: LIMITS.paymentProviderRetryAfterSeconds } : {},
    );
  }
}

/**
 * A Checkout Session in subscription mode for the Pro price; 409 when a subscription already counts.
 * Nothing here may let one person pay for Pro twice:
 * - our rows come from webhooks, which may not have arrived yet (a buyer back from paying who clicks
 *   "Upgrade" again): Stripe's own list of the customer's subscriptions is asked too, and one that
 *   counts is applied now and refused like ours;
 * - a customer has at most one open Pro checkout: the ones still open (another tab, one abandoned
 *   yesterday that could still be paid) are expired before a new one is opened;
 * - two requests at once (a double click) send the same Idempotency-Key, derived from the newest
 *   session Stripe had for the customer, so Stripe opens one session and answers both with it.
 */
export async function startProCheckout(
  deps: BillingDeps,
  user: { id: string; email: string },
  returnBase: string,
): Promise<{ url: string }> {
  const price = deps.payments.proPriceId;
  if (!price) throw notConfigured();
  const alreadyPro = () =>
    new DomainError("already-subscribed", "You already have Pro; manage it from the billing portal.");
  const rows = await subscriptionRows(deps.db, user.id);
  if (rows.some((r) => blocksNewCheckout({ status: r.status, currentPeriodEnd: r.current_period_end }))) {
    throw alreadyPro();
  }
  const customer = await atStripe("customer", () => ensureCustomer(deps, user));
  const subscriptions = await atStripe("subscriptions", () =>
    deps.stripe.subscriptions.list({ customer, status: "all", limit: 10 }),
  );
  const counting = subscriptions.data.find((sub) => {
    const state = stateOf(sub);
    return state !== null && blocksNewCheckout({ status: state.status, currentPeriodEnd: state.currentPeriodEnd });
  });
  if (counting) {
    // Its webhook is still on the way: apply it now, so the next page already shows Pro.
    await syncSubscription(deps, counting.id, "checkout").catch((error) =>
      log("warn", "billing: applying a subscription found at checkout failed", { subscriptionId: counting.id, error }),
    );
    throw alreadyPro();
  }
  const sessions = await atStripe("checkout list", () => deps.stripe.checkout.sessions.list({ customer, limit: 10 }));
  for (const open of sessions.data.filter((s) => s.status === "open" && s.mode === "subscription")) {
    // Paid between the list and now: its subscription is on the way; no second one.
    if ((await atStripe("checkout expire", () => expireIfOpen(deps, open.id))) === "complete") throw alreadyPro();
  }
  const session = await atStripe("checkout", () =>
    deps.stripe.checkout.sessions.create(
      {
        mode: "subscription",
        customer,
        line_items: [{ price, quantity: 1 }],
        client_reference_id: user.id,
        metadata: { userId: user.id, kind: "pro" },
        subscription_data: { metadata: { userId: user.id } },
        success_url: `${returnBase}/me/billing?checkout=success`,
        cancel_url: `${returnBase}/me/billing?checkout=cancelled`,
      },
      // The return origin too: the same key with other parameters would be refused as another request.
      { idempotencyKey: `pro-checkout:${user.id}:after:${sessions.data[0]?.id ?? "none"}:${returnBase}` },
    ),
  );
  if (!session.url) throw new Error("Stripe returned a subscription checkout session without a URL");
  return { url: session.url };
}

/**
 * Expires an open Checkout Session; one that stopped being open meanwhile is asked after: "complete"
 * when it was just paid (the caller must not open another), else "expired".
 */
async function expireIfOpen(deps: BillingDeps, sessionId: string): Promise<"expired" | "complete"> {
  let session: Stripe.Checkout.Session;
  try {
    session = await deps.stripe.checkout.sessions.expire(sessionId);
  } catch (error) {
    if (classifyStripeError(error).kind === "transient") throw error;
    session = await deps.stripe.checkout.sessions.retrieve(sessionId);
  }
  return session.status === "complete" ? "complete" : "expired";
}

/** A billing portal session for the user's customer; 409 when they never started a checkout. */
export async function openPortal(deps: BillingDeps, userId: string, returnBase: string): Promise<{ url: string }> {
  const customer = await customerIdOf(deps.db, userId);
  if (!customer) throw new DomainError("no-billing-customer", "There is no billing account yet: upgrade first.");
  const session = await atStripe("portal", () =>
    deps.stripe.billingPortal.sessions.create({ customer, return_url: `${returnBase}/me/billing` }),
  );
  return { url: session.url };
}

// ---------------------------------------------------------------- applying Stripe's state

export interface SubscriptionState {
  id: string;
  customer: string;
  userId: string | null;
  priceId: string;
  status: SubscriptionStatus;
  currentPeriodEnd: number | null;
  cancelAtPeriodEnd: boolean;
}

/** Our columns from a Stripe Subscription (the period lives on its item since API 2025-03-31). */
export function stateOf(sub: Stripe.Subscription): SubscriptionState | null {
  if (!(SUBSCRIPTION_STATUSES as readonly string[]).includes(sub.status)) return null;
  const item = sub.items?.data?.[0];
  return {
    id: sub.id,
    customer: idOf(sub.customer) ?? "",
    userId: sub.metadata?.userId ?? null,
    priceId: item?.price?.id ?? "",
    status: sub.status as SubscriptionStatus,
    currentPeriodEnd: item?.current_period_end ?? null,
    cancelAtPeriodEnd: sub.cancel_at_period_end,
  };
}

export type ApplyResult = "applied" | "unchanged" | "stale" | "tie" | "unknown-user";

const MAX_CONFLICT_RETRIES = 8;

/**
 * Applies `state` stamped `stamp` (seconds). `authoritative`: fetched from Stripe just now, so it wins
 * a tie; a snapshot from an event answers `tie` instead and the caller fetches. `origin`: the event id
 * or `reconcile`, for the audit row.
 */
export async function applySubscriptionState(
  deps: Pick<BillingDeps, "db" | "config">,
  state: SubscriptionState,
  stamp: number,
  options: { authoritative: boolean; origin: string },
): Promise<ApplyResult> {
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const row = await deps.db.prepare("SELECT * FROM subscriptions WHERE id = ?").bind(state.id).first<StoredSub>();
    const userId = row?.user_id ?? (await userOfCustomer(deps.db, state.customer)) ?? state.userId;
    if (!userId) return "unknown-user";
    const now = Date.now();
    if (!row) {
      const [insert] = await deps.db.batch([
        deps.db
          .prepare(
            `INSERT INTO subscriptions (id, user_id, stripe_customer_id, price_id, status, current_period_end,
               cancel_at_period_end, stripe_event_created, version, created_at, updated_at)
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ? WHERE EXISTS (SELECT 1 FROM users WHERE id = ?)
             ON CONFLICT (id) DO NOTHING`,
          )
          .bind(
            state.id,
            userId,
            state.customer,
            state.priceId,
            state.status,
            state.currentPeriodEnd,
            state.cancelAtPeriodEnd ? 1 : 0,
            stamp,
            now,
            now,
            userId,
          ),
        ...changeRecord(deps, userId, state, null, options.origin, now),
      ]);
      if (insert?.meta.changes === 1) return "applied";
      // A concurrent delivery inserted it first (or the user is gone): read again and compare.
      if (!(await deps.db.prepare("SELECT 1 FROM users WHERE id = ?").bind(userId).first())) return "unknown-user";
      continue;
    }
    if (stamp < row.stripe_event_created) return "stale";
    if (stamp === row.stripe_event_created && !options.authoritative) return "tie";
    const changed =
      row.status !== state.status ||
      row.current_period_end !== state.currentPeriodEnd ||
      (row.cancel_at_period_end === 1) !== state.cancelAtPeriodEnd ||
      row.price_id !== state.priceId;
    const update = deps.db
      .prepare(
        `UPDATE subscriptions SET status = ?, current_period_end = ?, cancel_at_period_end = ?, price_id = ?,
           stripe_event_created = ?, version = version + 1, updated_at = ?
         WHERE id = ? AND version = ?`,
      )
      .bind(
        state.status,
        state.currentPeriodEnd,
        state.cancelAtPeriodEnd ? 1 : 0,
        state.priceId || row.price_id,
        Math.max(stamp, row.stripe_event_created),
        now,
        state.id,
        row.version,
      );
    const [result] = await deps.db.batch([
      update,
      ...(changed ? changeRecord(deps, row.user_id, state, row, options.origin, now) : []),
    ]);
    if (result?.meta.changes === 1) return changed ? "applied" : "unchanged";
    // Someone else moved the version between our read and our write: read again and decide again.
  }
  throw new Error(`subscription ${state.id}: version conflict persisted after ${MAX_CONFLICT_RETRIES} attempts`);
}

/**
 * The audit row and the creator cache bump that go with a state change, each written only when the
 * statement before it in the batch changed a row (the guarded write won).
 */
function changeRecord(
  deps: Pick<BillingDeps, "db">,
  userId: string,
  state: SubscriptionState,
  before: StoredSub | null,
  origin: string,
  now: number,
): D1PreparedStatement[] {
  const detail = {
    subscriptionId: state.id,
    from: before?.status ?? null,
    to: state.status,
    pro: entitles({ status: state.status, currentPeriodEnd: state.currentPeriodEnd }, now),
    cancelAtPeriodEnd: state.cancelAtPeriodEnd,
    currentPeriodEnd: state.currentPeriodEnd,
    origin,
  };
  return [
    deps.db
      .prepare(
        `INSERT INTO audit_log (id, at, user_id, action, outcome, ip_hash, user_agent, request_id, detail)
         SELECT ?, ?, ?, 'billing.subscription-changed', 'success', NULL, NULL, ?, ? WHERE changes() = 1`,
      )
      .bind(crypto.randomUUID(), now, userId, origin, JSON.stringify(detail)),
    deps.db
      .prepare(
        `INSERT INTO cache_versions (scope, version) SELECT ?, 1 WHERE changes() = 1
         ON CONFLICT (scope) DO UPDATE SET version = version + 1`,
      )
      .bind(creatorScope(userId)),
  ];
}

/** Fetches the subscription from Stripe and applies it as the authoritative state. */
export async function syncSubscription(
  deps: BillingDeps,
  subscriptionId: string,
  origin: string,
  floorStamp = 0,
): Promise<ApplyResult> {
  const sub = await deps.stripe.subscriptions.retrieve(subscriptionId);
  const state = stateOf(sub);
  if (!state) return "unchanged";
  const stamp = Math.max(floorStamp, Math.floor(Date.now() / 1000));
  return applySubscriptionState(deps, state, stamp, { authoritative: true, origin });
}

// ---------------------------------------------------------------- webhooks

export const BILLING_EVENTS = new Set([
  "customer.subscription.created",
  "customer.subscription.updated",
  "customer.subscription.deleted",
  "customer.subscription.paused",
  "customer.subscription.resumed",
  "invoice.paid",
  "invoice.payment_failed",
]);

/** Whether the event is the Pro subscription's (a subscription-mode Checkout Session included). */
export function isBillingEvent(event: Stripe.Event): boolean {
  if (BILLING_EVENTS.has(event.type)) return true;
  return (
    event.type === "checkout.session.completed" &&
    (event.data.object as Stripe.Checkout.Session).mode === "subscription"
  );
}

function invoiceSubscription(invoice: Stripe.Invoice): string | null {
  const parent = invoice.parent?.subscription_details?.subscription;
  const legacy = (invoice as unknown as { subscription?: string | { id: string } | null }).subscription;
  return idOf(parent ?? legacy ?? null);
}

/**
 * Applies one billing event from the inbox; throws on a failure worth retrying (Stripe unreachable, a
 * conflict that would not settle). `processed` when it wrote, `skipped` when it was older than what
 * is stored, `ignored` when it is about nobody we know.
 */
export async function applyBillingEvent(
  deps: BillingDeps,
  event: Stripe.Event,
): Promise<"processed" | "skipped" | "ignored"> {
  let result: ApplyResult;
  if (event.type.startsWith("customer.subscription.")) {
    const state = stateOf(event.data.object as Stripe.Subscription);
    if (!state) return "ignored";
    result = await applySubscriptionState(deps, state, event.created, { authoritative: false, origin: event.id });
    // Same second as the stored state: the event cannot say which is newer; Stripe's current state can.
    if (result === "tie") result = await syncSubscription(deps, state.id, event.id, event.created);
  } else {
    const id =
      event.type === "checkout.session.completed"
        ? idOf((event.data.object as Stripe.Checkout.Session).subscription)
        : invoiceSubscription(event.data.object as Stripe.Invoice);
    if (!id) return "ignored";
    result = await syncSubscription(deps, id, event.id, event.created);
  }
  if (result === "unknown-user") {
    log("warn", "billing event for a customer we do not know", { eventId: event.id, type: event.type });
    return "ignored";
  }
  return result === "stale" ? "skipped" : "processed";
}

// ---------------------------------------------------------------- hourly reconciliation

export interface BillingReconcileReport {
  checked: number;
  fixed: number;
  failed: number;
}

/**
 * Every subscription Stripe may still move, plus those changed in the last day, is fetched and
 * applied as authoritative (a drift becomes an `applied` with origin `reconcile` and its audit row);
 * customers made in the last day are listed too, so a subscription whose webhooks all went missing is
 * found. Writes the `subscriptions` reconciliation run that /health reports on.
 */
export async function reconcileSubscriptions(deps: BillingDeps, now = Date.now()): Promise<BillingReconcileReport> {
  const report: BillingReconcileReport = { checked: 0, fixed: 0, failed: 0 };
  const dayAgo = now - 24 * 60 * 60 * 1000;
  const { results } = await deps.db
    .prepare(
      `SELECT id FROM subscriptions
       WHERE status NOT IN ('canceled', 'incomplete_expired') OR updated_at > ?
       ORDER BY updated_at LIMIT ?`,
    )
    .bind(dayAgo, LIMITS.paymentsSweepMaxRows)
    .all<{ id: string }>();
  const seen = new Set<string>();
  const sync = async (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    report.checked += 1;
    try {
      if ((await syncSubscription(deps, id, "reconcile")) === "applied") report.fixed += 1;
    } catch (error) {
      report.failed += 1;
      log("error", "reconciliation of a subscription failed", { subscriptionId: id, error });
    }
  };
  for (const { id } of results) await sync(id);

  const { results: customers } = await deps.db
    .prepare(
      "SELECT stripe_customer_id FROM billing_customers WHERE stripe_customer_id IS NOT NULL AND updated_at > ? LIMIT ?",
    )
    .bind(dayAgo, LIMITS.paymentsSweepMaxRows)
    .all<{ stripe_customer_id: string }>();
  for (const { stripe_customer_id } of customers) {
    try {
      const list = await deps.stripe.subscriptions.list({ customer: stripe_customer_id, status: "all", limit: 10 });
      for (const sub of list.data) await sync(sub.id);
    } catch (error) {
      report.failed += 1;
      log("error", "listing a customer's subscriptions failed", { customer: stripe_customer_id, error });
    }
  }

  await deps.db
    .prepare(
      `INSERT INTO reconciliation_runs (name, finished_at, summary) VALUES ('subscriptions', ?, ?)
       ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary`,
    )
    .bind(Date.now(), JSON.stringify(report))
    .run();
  return report;
}

/** /health's billing check: age of the last subscriptions reconciliation (seconds), null if never. */
export async function billingReconciliationAge(db: D1Database, now = Date.now()): Promise<number | null> {
  const row = await db
    .prepare("SELECT finished_at FROM reconciliation_runs WHERE name = 'subscriptions'")
    .first<{ finished_at: number }>();
  return row ? Math.max(0, Math.floor((now - row.finished_at) / 1000)) : null;
}
