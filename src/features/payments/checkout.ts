/**
 * Stripe Checkout for paid orders. The seats are held in the event's EventInventory first (capacity
 * is decided there), then a Checkout Session is created with server-side prices only, expiring exactly
 * when the hold does. Its idempotency key is derived from order, amount, currency and attempt number:
 * a network retry of the same attempt gets the same session back from Stripe, and a buyer retrying
 * after a declined card gets a new attempt — never Stripe's `idempotency_error` (alf.io #1254).
 */
import type { InventoryOrder } from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { checkoutSessions } from "../../db/schema-payments";
import { hmacHex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { log } from "../../lib/log";
import { isSafeRedirect, safeRedirect } from "../../lib/safe-redirect";
import { iso } from "../../lib/time";
import { openEmail } from "../auth";
import { type EventRow, inventoryOf, toSnapshot, unwrap } from "../events";
import { destinationChargeFor } from "../money";
import type { PaymentsDeps } from "./deps";
import { classifyStripeError, type Stripe } from "./stripe";

export interface CheckoutBuyer {
  id: string;
  email: string;
  name: string;
}

export interface CheckoutResult {
  order: InventoryOrder;
  checkoutUrl: string;
  holdExpiresAt: string;
}

export type SessionRow = RowOf<typeof checkoutSessions>;

/**
 * The order id for a POST carrying an Idempotency-Key: derived (keyed HMAC, 128 bits) from the caller
 * and the key, so a retry whose first response was lost — even one that failed with a 5xx and so was
 * not stored by the idempotency layer — lands on the same hold and the same Checkout Session.
 */
export async function orderIdFor(
  pepper: string,
  userId: string,
  eventId: string,
  idempotencyKey: string,
): Promise<string> {
  // The event too: a key a client reuses for another event (once its stored answer has expired) must
  // not name the same order in two events' objects, whose pushes would then overwrite one D1 row.
  return (await hmacHex(pepper, `order:${userId}:${eventId}:${idempotencyKey}`)).slice(0, 32);
}

/**
 * Where Stripe sends the buyer back. `returnUrl` (optional, from the client) must pass the redirect
 * validator (this origin or a configured front-end origin); the default is the order's page here.
 */
export function checkoutReturnBase(origin: string, allowedOrigins: readonly string[], returnUrl?: string): string {
  if (returnUrl === undefined) return `${origin}/orders`;
  const policy = { selfOrigin: origin, allowedOrigins };
  if (!isSafeRedirect(returnUrl, policy)) {
    throw new DomainError("validation-failed", "returnUrl is not an allowed address.", {
      errors: [{ path: "returnUrl", message: "must be on this site or an allowed front-end origin" }],
      in: "json",
    });
  }
  const safe = safeRedirect(returnUrl, policy);
  return new URL(safe, origin).href;
}

function returnUrls(base: string, orderId: string): { success: string; cancel: string } {
  const url = new URL(base);
  url.hash = "";
  url.searchParams.set("order", orderId);
  const with_ = (state: string) => {
    const u = new URL(url.href);
    u.searchParams.set("checkout", state);
    return u.href;
  };
  // {CHECKOUT_SESSION_ID} is Stripe's template variable and must reach Stripe unencoded.
  return { success: `${with_("success")}&session_id={CHECKOUT_SESSION_ID}`, cancel: with_("cancelled") };
}

export function latestSession(db: D1Database, orderId: string): Promise<SessionRow | null> {
  return db
    .prepare("SELECT * FROM checkout_sessions WHERE order_id = ? ORDER BY attempt DESC LIMIT 1")
    .bind(orderId)
    .first<SessionRow>();
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Holds the seats and opens a Checkout Session for a new paid order: 201 { order, checkoutUrl,
 * holdExpiresAt }. Repeating the call for the same order id (a network retry) returns the open session.
 */
export async function startCheckout(
  deps: PaymentsDeps,
  input: {
    buyer: CheckoutBuyer;
    event: EventRow;
    orderId: string;
    quantity: number;
    returnBase: string;
    /** The buyer showed a valid queue pass (src/features/queue): the event's object judges it. */
    queuePass?: boolean;
  },
): Promise<CheckoutResult> {
  const { buyer, event, orderId } = input;
  const now = Date.now();
  // A whole second, with slack, so Stripe's "at least 30 minutes from now" holds at its end too.
  const expiresAt = (seconds(now) + deps.payments.checkoutTtlSeconds + LIMITS.checkoutExpirySlackSeconds) * 1000;
  const inventory = inventoryOf(deps.inventory, event.id);
  const { order } = unwrap(
    await inventory.hold({
      orderId,
      userId: buyer.id,
      quantity: input.quantity,
      ttlMs: expiresAt - now,
      contact: { email: buyer.email, name: buyer.name },
      snapshot: toSnapshot(event),
      queuePass: input.queuePass === true,
      sentAt: now,
    }),
  );
  if (order.status !== "held") {
    throw new DomainError("conflict", "This order is no longer pending; start a new one with a new Idempotency-Key.");
  }
  if ((order.holdExpiresAt ?? 0) <= Date.now()) throw new DomainError("hold-expired", "The hold expired; start again.");

  const latest = await latestSession(deps.db, orderId);
  if (latest && latest.status === "open" && latest.url) {
    return { order, checkoutUrl: latest.url, holdExpiresAt: iso(order.holdExpiresAt ?? latest.expires_at) };
  }
  return createSession(deps, {
    order,
    eventTitle: event.title,
    hostId: event.host_id,
    email: buyer.email,
    attempt: (latest?.attempt ?? 0) + 1,
    returnBase: input.returnBase,
    releaseOnPermanentFailure: true,
  });
}

/**
 * A new Checkout Session for a pending order whose buyer came back (card declined, window closed):
 * the previous session is expired at Stripe first, so two sessions can never both be paid, and the
 * hold is stretched to the new session's lifetime.
 */
export async function retryCheckout(
  deps: PaymentsDeps,
  input: { userId: string; orderId: string; returnBase: string },
): Promise<CheckoutResult> {
  const row = await deps.db
    .prepare(
      "SELECT o.event_id, e.title, e.host_id, u.email FROM orders o JOIN events e ON e.id = o.event_id JOIN users u ON u.id = o.user_id WHERE o.id = ? AND o.user_id = ?",
    )
    .bind(input.orderId, input.userId)
    .first<{ event_id: string; title: string; host_id: string; email: string }>();
  if (!row) throw new DomainError("not-found", "No such order.");
  const inventory = inventoryOf(deps.inventory, row.event_id);
  const current = await inventory.getOrder(input.orderId);
  if (!current) throw new DomainError("not-found", "No such order.");
  const { order } = current;
  if (order.amount === 0) throw new DomainError("invalid-transition", "A free order has no checkout.");
  if (order.status === "confirmed") throw new DomainError("already-paid", "The order is already paid.");
  if (order.status !== "held" || (order.holdExpiresAt ?? 0) <= Date.now()) {
    throw new DomainError("hold-expired", "The hold expired; start a new order.");
  }

  const latest = await latestSession(deps.db, input.orderId);
  // The hold is stretched first: the expiry of the previous session, whose webhook may come back before
  // the new session is recorded, then finds a hold that is no longer its own and leaves it (apply.ts).
  const now = Date.now();
  const wanted = (seconds(now) + deps.payments.checkoutTtlSeconds + LIMITS.checkoutExpirySlackSeconds) * 1000;
  const extended = unwrap(await inventory.extendHold({ orderId: order.id, expiresAt: wanted }));
  if (latest?.status === "open" && (await expireSession(deps, latest.id)) === "complete") {
    throw new DomainError("already-paid", "The earlier checkout was just paid; your tickets are on their way.");
  }
  return createSession(deps, {
    order: extended,
    eventTitle: row.title,
    hostId: row.host_id,
    email: openEmail(deps.config.pii, row.email),
    attempt: (latest?.attempt ?? 0) + 1,
    returnBase: input.returnBase,
    releaseOnPermanentFailure: false,
  });
}

async function createSession(
  deps: PaymentsDeps,
  input: {
    order: InventoryOrder;
    eventTitle: string;
    hostId: string;
    email: string;
    attempt: number;
    returnBase: string;
    releaseOnPermanentFailure: boolean;
  },
): Promise<CheckoutResult> {
  const { order, attempt } = input;
  const expiresAt = seconds(order.holdExpiresAt ?? 0) * 1000;
  // A retry (attempt 2 on) stretches the hold at every try, so its key names the hold's end too: a try
  // whose answer was lost cannot leave Stripe refusing the next one as a different request under the
  // same key. The session a lost answer made is one nobody has the URL of; it expires unpaid.
  const idempotencyKey = `checkout:${order.id}:${order.amount}:${order.currency}:${attempt}${
    attempt > 1 ? `:until:${seconds(expiresAt)}` : ""
  }`;
  const urls = returnUrls(input.returnBase, order.id);
  const metadata = { orderId: order.id, eventId: order.eventId };
  // A host whose payout account can take charges is paid by a destination charge: the money goes to
  // their connected account and the platform keeps the fee (refunds.ts reverses both).
  const destination = await destinationChargeFor(deps.db, input.hostId, order.amount, order.currency);
  let session: Stripe.Checkout.Session;
  try {
    session = await deps.stripe.checkout.sessions.create(
      {
        mode: "payment",
        // Prices come from the inventory's copy of the event, never from the client.
        line_items: [
          {
            quantity: order.quantity,
            price_data: {
              currency: order.currency.toLowerCase(),
              unit_amount: order.amount / order.quantity,
              product_data: { name: input.eventTitle },
            },
          },
        ],
        client_reference_id: order.id,
        customer_email: input.email,
        metadata,
        // Carried onto the PaymentIntent and its charge, so refunds and disputes map back to the order.
        payment_intent_data: destination
          ? {
              metadata,
              application_fee_amount: destination.applicationFeeAmount,
              transfer_data: { destination: destination.destination },
            }
          : { metadata },
        success_url: urls.success,
        cancel_url: urls.cancel,
        expires_at: seconds(expiresAt),
      },
      { idempotencyKey },
    );
  } catch (error) {
    const failure = classifyStripeError(error);
    log(failure.kind === "permanent" ? "error" : "warn", "checkout session not created", {
      orderId: order.id,
      attempt,
      failure,
    });
    if (failure.kind === "permanent" && input.releaseOnPermanentFailure) {
      await inventoryOf(deps.inventory, order.eventId).release({ orderId: order.id, reason: "checkout-failed" });
    }
    throw new DomainError(
      "payment-provider-error",
      failure.kind === "transient"
        ? "The payment provider did not answer. Retry with the same Idempotency-Key: your seats stay held meanwhile."
        : "The payment provider refused to open a checkout for this order.",
      failure.kind === "transient" ? { retryAfter: LIMITS.paymentProviderRetryAfterSeconds } : {},
    );
  }
  const now = Date.now();
  await deps.db
    .prepare(
      `INSERT INTO checkout_sessions (id, order_id, attempt, event_id, user_id, amount, currency, url, idempotency_key,
         status, payment_status, expires_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    )
    .bind(
      session.id,
      order.id,
      attempt,
      order.eventId,
      order.userId,
      order.amount,
      order.currency,
      session.url,
      idempotencyKey,
      session.payment_status,
      session.expires_at * 1000,
      now,
      now,
    )
    .run();
  if (!session.url) throw new DomainError("payment-provider-error", "The payment provider returned no checkout URL.");
  return { order, checkoutUrl: session.url, holdExpiresAt: iso(order.holdExpiresAt ?? expiresAt) };
}

/**
 * Closes an open session at Stripe so it can no longer be paid. Answers what the session really is
 * now: `complete` when the buyer paid in the meantime (the caller must not release the seats).
 */
export async function expireSession(deps: PaymentsDeps, sessionId: string): Promise<"expired" | "complete"> {
  let session: Stripe.Checkout.Session;
  try {
    session = await deps.stripe.checkout.sessions.expire(sessionId);
  } catch (error) {
    if (classifyStripeError(error).kind === "transient") {
      throw new DomainError("payment-provider-error", "The payment provider did not answer; retry.", {
        retryAfter: LIMITS.paymentProviderRetryAfterSeconds,
      });
    }
    // Not open any more (paid or already expired): ask Stripe which.
    session = await deps.stripe.checkout.sessions.retrieve(sessionId);
  }
  const status = session.status === "complete" ? "complete" : "expired";
  await deps.db
    .prepare(
      "UPDATE checkout_sessions SET status = ?, payment_status = ?, updated_at = ? WHERE id = ? AND status = 'open'",
    )
    .bind(status, session.payment_status, Date.now(), sessionId)
    .run();
  return status;
}

/**
 * Buyer cancels a pending paid order: every open session is expired at Stripe first; if one was paid
 * meanwhile the cancel is refused (409 already-paid) and the payment confirms the order instead.
 */
export async function closeCheckouts(deps: PaymentsDeps, orderId: string): Promise<void> {
  const { results } = await deps.db
    .prepare("SELECT id FROM checkout_sessions WHERE order_id = ? AND status = 'open'")
    .bind(orderId)
    .all<{ id: string }>();
  for (const { id } of results) {
    if ((await expireSession(deps, id)) === "complete") {
      throw new DomainError(
        "already-paid",
        "The order was just paid; it cannot be cancelled, ask for a refund instead.",
      );
    }
  }
}
