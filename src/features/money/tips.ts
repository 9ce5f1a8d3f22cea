/**
 * Tips from fans to creators (S4): a Stripe Checkout payment on the platform, paid out to the
 * creator's connected account as a destination charge that carries the platform fee. The creator
 * lookup (handle → user → payout account that can take charges) and the tip's insert are one
 * INSERT … SELECT, so a profile deleted or an account disabled mid-way inserts nothing, and nothing is
 * charged without a tip row. The Checkout Session is created after, with a Stripe idempotency key
 * derived from the tip id: a retry of the same request (same client Idempotency-Key ⇒ same tip row)
 * gets the same session back, never a second one.
 *
 * Webhooks for tips go through the payments inbox like every Stripe event (recorded, ordered, retried);
 * process.ts hands the ones about a tip here, with their own attempt budget (TIP_WEBHOOK_MAX_ATTEMPTS).
 * A capture is fulfilled only if it is exactly the session we created for the tip (mirror of the
 * tickets' mismatch checks); anything else goes back to the fan. Refunds use the payments refund jobs
 * (one per payment, its own idempotency key), marked as tips by their event id TIP_REFUND_EVENT.
 */

import { TIP_FEE_MAX_SHARE_BPS } from "../../config/fees";
import { LIMITS } from "../../config/limits";
import {
  TIP_BOUNDS,
  TIP_CHECKOUT_TTL_SECONDS,
  TIP_CURRENCIES,
  TIP_MESSAGE_MAX,
  TIP_WEBHOOK_MAX_ATTEMPTS,
  type TipBounds,
} from "../../config/tips";
import type { RowOf } from "../../db/rows";
import type { tips } from "../../db/schema-money";
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { validateHandle } from "../../lib/handle";
import { log } from "../../lib/log";
import type { PiiCipher } from "../../lib/pii";
import { iso } from "../../lib/time";
import { emailIndex, openEmail, openName, openNameOptional } from "../auth";
import { emailStatements, enqueueCommitted } from "../email";
import {
  classifyStripeError,
  cursorOf,
  eventOf,
  type InboxRow,
  idOf,
  isLiveKey,
  type PaymentsDeps,
  queueRefunds,
  type RefundRow,
  type Stripe,
} from "../payments";
import { normalizeText, notificationInsert, textLength } from "../social";
import { insertedWebhookEventIds, wakeWebhookEvents, webhookEventStatement } from "../webhooks";
import { isPro } from "./entitlements";
import { platformFee } from "./fees";

export type TipRow = RowOf<typeof tips>;

/** The `event_id` of a refund job that refunds a tip (`order_id` is then the tip id). */
export const TIP_REFUND_EVENT = "tip";

export { TIP_WEBHOOK_MAX_ATTEMPTS };

export function tipBounds(currency: string): TipBounds | null {
  return TIP_BOUNDS[currency.toUpperCase()] ?? null;
}

/** 422 `amount-out-of-range` with the bounds in the problem, or the upper-case currency. */
export function checkTipAmount(amount: number, currency: string): string {
  const code = currency.toUpperCase();
  const bounds = tipBounds(code);
  if (!bounds) {
    throw new DomainError("validation-failed", "This currency is not accepted for tips.", {
      errors: [{ path: "currency", message: `one of ${TIP_CURRENCIES.join(", ")}` }],
    });
  }
  if (!Number.isInteger(amount) || amount < bounds.min || amount > bounds.max) {
    throw new DomainError(
      "amount-out-of-range",
      `A tip in ${code} is between ${bounds.min} and ${bounds.max} (minor units).`,
      { currency: code, min: bounds.min, max: bounds.max },
    );
  }
  return code;
}

/** The message as stored: normalised like social text, at most TIP_MESSAGE_MAX characters; empty ⇒ null. */
export function tipMessage(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const text = normalizeText(raw);
  if (textLength(text) > TIP_MESSAGE_MAX) {
    throw new DomainError("validation-failed", `The message is longer than ${TIP_MESSAGE_MAX} characters.`, {
      errors: [{ path: "message", message: `at most ${TIP_MESSAGE_MAX} characters` }],
    });
  }
  return text === "" ? null : text;
}

/** Whether the user can take tips now: a payout account that can take charges. */
export async function canReceiveTips(db: D1Database, userId: string): Promise<boolean> {
  const row = await db
    .prepare(
      "SELECT 1 FROM payout_accounts WHERE user_id = ? AND charges_enabled = 1 AND stripe_account_id IS NOT NULL",
    )
    .bind(userId)
    .first();
  return row !== null;
}

// ---------------------------------------------------------------- creating a tip

export interface NewTip {
  handle: string;
  amount: number;
  currency: string;
  message?: string;
  /** Required for a guest; ignored when signed in (the receipt goes to the account's address). */
  email?: string;
  sender: { id: string } | null;
  /** The client's Idempotency-Key (required by the route). */
  clientKey: string;
  /** Where Stripe sends the fan back (PUBLIC_URL or the request's origin). */
  returnBase: string;
}

/** The creator behind a handle who can take charges: resolved in the same statement as the insert. */
const CREATOR_SQL = `FROM handles h JOIN users u ON u.id = h.user_id
  JOIN payout_accounts pa ON pa.user_id = u.id
  WHERE h.handle_key = ? AND h.state = 'active' AND pa.charges_enabled = 1 AND pa.stripe_account_id IS NOT NULL`;

export async function createTip(deps: PaymentsDeps, input: NewTip): Promise<{ tipId: string; checkoutUrl: string }> {
  const currency = checkTipAmount(input.amount, input.currency);
  const message = tipMessage(input.message);
  const guestEmail = input.sender ? null : (input.email?.trim().toLowerCase() ?? null);
  if (!input.sender && !guestEmail) {
    throw new DomainError("validation-failed", "Sign in, or give an email for the receipt.", {
      errors: [{ path: "email", message: "required when not signed in" }],
    });
  }
  const valid = validateHandle(input.handle);
  if (!valid.ok) throw new DomainError("not-found", "No such creator.");
  const creator = await deps.db
    .prepare(
      `SELECT u.id, u.name, pa.charges_enabled, pa.stripe_account_id FROM handles h JOIN users u ON u.id = h.user_id
       LEFT JOIN payout_accounts pa ON pa.user_id = u.id WHERE h.handle_key = ? AND h.state = 'active'`,
    )
    .bind(valid.key)
    .first<{ id: string; name: string; charges_enabled: number | null; stripe_account_id: string | null }>();
  if (!creator) throw new DomainError("not-found", "No such creator.");
  if (!creator.charges_enabled || !creator.stripe_account_id) throw cannotReceive();

  // The same client key from the same fan is the same tip, whichever address the retry comes from.
  // A guest is named by the email's blind index: the key column never holds the address.
  const fan = input.sender ? `user:${input.sender.id}` : `guest:${emailIndex(deps.config.pii, guestEmail ?? "")}`;
  const idempotencyKey = `tip:${fan}:${input.clientKey}`;
  const fee = platformFee(input.amount, currency, {
    pro: await isPro(deps.db, creator.id),
    maxShareBps: TIP_FEE_MAX_SHARE_BPS,
  });
  const now = Date.now();
  const tipId = randomId();
  const inserted = await deps.db
    .prepare(
      `INSERT INTO tips (id, recipient_id, sender_id, guest_email, amount, currency, message, status, fee_amount,
         stripe_account_id, idempotency_key, created_at, updated_at)
       SELECT ?, u.id, ?, ?, ?, ?, ?, 'pending', ?, pa.stripe_account_id, ?, ?, ? ${CREATOR_SQL}
       ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
    )
    .bind(
      tipId,
      input.sender?.id ?? null,
      deps.config.pii.sealOptional(guestEmail, TIP_GUEST_EMAIL),
      input.amount,
      currency,
      deps.config.pii.sealOptional(message, TIP_MESSAGE),
      fee,
      idempotencyKey,
      now,
      now,
      valid.key,
    )
    .all<{ id: string }>();
  let tip: TipRow | null;
  if (inserted.results.length === 1) {
    tip = await readTip(deps.db, tipId);
  } else {
    tip = await deps.db.prepare("SELECT * FROM tips WHERE idempotency_key = ?").bind(idempotencyKey).first<TipRow>();
    // Nothing inserted and no earlier tip under this key: the creator went away or lost charges meanwhile.
    if (!tip) throw cannotReceive();
    if (tip.amount !== input.amount || tip.currency !== currency || tip.recipient_id !== creator.id) {
      throw new DomainError(
        "idempotency-key-reused",
        "This Idempotency-Key was used for a different tip. Use a new key for a new tip.",
      );
    }
  }
  if (!tip) throw new Error("tip row vanished after its insert");
  if (tip.checkout_url && tip.status === "pending") return { tipId: tip.id, checkoutUrl: tip.checkout_url };
  if (tip.status !== "pending") {
    throw new DomainError("conflict", "This tip is already settled; use a new Idempotency-Key for a new tip.");
  }
  const email = guestEmail ?? (await senderEmail(deps.db, deps.config.pii, input.sender?.id ?? ""));
  const session = await openSession(
    deps,
    tip,
    { creatorName: openName(deps.config.pii, creator.name), email, handle: valid.handle },
    input,
  );
  await deps.db
    .prepare(
      "UPDATE tips SET checkout_session_id = ?, checkout_url = ?, updated_at = ? WHERE id = ? AND checkout_session_id IS NULL",
    )
    .bind(session.id, session.url, Date.now(), tip.id)
    .run();
  if (!session.url) throw new Error("Stripe returned a session without a URL");
  return { tipId: tip.id, checkoutUrl: session.url };
}

function cannotReceive(): DomainError {
  return new DomainError("cannot-receive-tips", "This creator cannot receive tips yet.");
}

/** Where a tip's personal fields are sealed (src/lib/pii.ts): a guest's receipt address and the message. */
export const TIP_GUEST_EMAIL = "tips.guest_email";
export const TIP_MESSAGE = "tips.message";

async function senderEmail(db: D1Database, pii: PiiCipher, userId: string): Promise<string | null> {
  const row = await db.prepare("SELECT email FROM users WHERE id = ?").bind(userId).first<{ email: string }>();
  return row ? openEmail(pii, row.email) : null;
}

export function readTip(db: D1Database, id: string): Promise<TipRow | null> {
  return db.prepare("SELECT * FROM tips WHERE id = ?").bind(id).first<TipRow>();
}

/** The success page Stripe sends the fan back to. */
export function tipThanksPath(tipId: string): string {
  return `/tips/${encodeURIComponent(tipId)}/thanks`;
}

async function openSession(
  deps: PaymentsDeps,
  tip: TipRow,
  who: { creatorName: string; email: string | null; handle: string },
  input: Pick<NewTip, "returnBase">,
): Promise<Stripe.Checkout.Session> {
  const metadata = { kind: "tip", tipId: tip.id };
  // From the tip, not the clock: a retry sends Stripe the same parameters under the same key (a request
  // whose answer was lost is then replayed, never refused as an idempotency_error).
  const seconds = Math.floor(tip.created_at / 1000) + TIP_CHECKOUT_TTL_SECONDS;
  try {
    return await deps.stripe.checkout.sessions.create(
      {
        mode: "payment",
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: tip.currency.toLowerCase(),
              unit_amount: tip.amount,
              product_data: { name: `Tip for ${who.creatorName}` },
            },
          },
        ],
        client_reference_id: tip.id,
        ...(who.email ? { customer_email: who.email } : {}),
        metadata,
        // A destination charge: the creator's account receives it, the platform keeps the fee.
        payment_intent_data: {
          metadata,
          application_fee_amount: tip.fee_amount,
          transfer_data: { destination: tip.stripe_account_id },
        },
        success_url: `${input.returnBase}${tipThanksPath(tip.id)}`,
        cancel_url: `${input.returnBase}/@${encodeURIComponent(who.handle)}`,
        expires_at: seconds,
      },
      // Derived from the tip: however often the request is retried, Stripe opens one session.
      { idempotencyKey: `tip-checkout:${tip.id}` },
    );
  } catch (error) {
    const failure = classifyStripeError(error);
    log(failure.kind === "permanent" ? "error" : "warn", "tip checkout not created", { tipId: tip.id, failure });
    if (failure.kind === "permanent") {
      await deps.db
        .prepare("UPDATE tips SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'pending'")
        .bind(Date.now(), tip.id)
        .run();
    }
    throw new DomainError(
      "payment-provider-error",
      failure.kind === "transient"
        ? "The payment provider did not answer. Retry with the same Idempotency-Key."
        : "The payment provider refused to open a checkout for this tip.",
      failure.kind === "transient" ? { retryAfter: LIMITS.paymentProviderRetryAfterSeconds } : {},
    );
  }
}

// ---------------------------------------------------------------- webhooks

interface StripeObject {
  id?: string;
  metadata?: Record<string, string> | null;
  payment_intent?: string | { id: string } | null;
}

/** Whether an inbox row is about a tip: its object says so, or its payment intent is a tip's. */
export async function isTipEvent(db: D1Database, pii: PiiCipher, row: InboxRow): Promise<boolean> {
  const event = eventOf(pii, row);
  const object = event.data.object as StripeObject;
  if (object.metadata?.kind === "tip") return true;
  if (!event.type.startsWith("charge.")) return false;
  const pi = idOf(object.payment_intent);
  return pi !== null && (await db.prepare("SELECT 1 FROM tips WHERE payment_intent = ?").bind(pi).first()) !== null;
}

const TIP_CAPTURES = new Set(["checkout.session.completed", "checkout.session.async_payment_succeeded"]);
const TIP_FAILURES = new Set(["checkout.session.expired", "checkout.session.async_payment_failed"]);

/** Applies one tip event; throws on a failure worth retrying (TIP_WEBHOOK_MAX_ATTEMPTS, then dead letters). */
export async function applyTipEvent(deps: PaymentsDeps, row: InboxRow): Promise<"processed" | "skipped" | "ignored"> {
  const event = eventOf(deps.config.pii, row);
  if (TIP_CAPTURES.has(event.type)) {
    const session = event.data.object as Stripe.Checkout.Session;
    // The event and the session it carries say the same mode, or neither is believed.
    const livemode = event.livemode === session.livemode ? session.livemode : null;
    return applyTipCapture(deps, session, livemode, event.id);
  }
  const handled =
    TIP_FAILURES.has(event.type) || event.type === "charge.refunded" || event.type === "charge.dispute.created";
  if (!handled) return "ignored";
  // An older snapshot than the newest applied to its object changes nothing (captures are exempt).
  const newest = await cursorOf(deps.db, row.object_id);
  if (newest !== null && newest > row.created) return "skipped";
  if (TIP_FAILURES.has(event.type)) {
    const session = event.data.object as Stripe.Checkout.Session;
    const tipId = session.metadata?.tipId ?? session.client_reference_id;
    if (!tipId) return "ignored";
    await deps.db
      .prepare(
        "UPDATE tips SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'pending' AND checkout_session_id IS ?",
      )
      .bind(Date.now(), tipId, session.id)
      .run();
    return "processed";
  }
  if (event.type === "charge.refunded") return applyTipRefunded(deps, event.data.object as Stripe.Charge);
  return applyTipDispute(deps, event.data.object as Stripe.Dispute);
}

export type TipMismatch = "session" | "amount" | "currency" | "livemode";

/** Everything that differs between a paid session and the tip it claims; empty: fulfil. */
export function tipMismatches(
  session: Pick<Stripe.Checkout.Session, "id" | "client_reference_id" | "metadata" | "amount_total" | "currency">,
  livemode: boolean | null,
  tip: Pick<TipRow, "id" | "checkout_session_id" | "amount" | "currency">,
  liveKey: boolean,
): TipMismatch[] {
  const reasons: TipMismatch[] = [];
  // Our row names the session (null only if the answer never reached us: then both names must agree).
  if (
    (tip.checkout_session_id !== null && tip.checkout_session_id !== session.id) ||
    session.client_reference_id !== tip.id ||
    session.metadata?.tipId !== tip.id
  ) {
    reasons.push("session");
  }
  if (session.amount_total !== tip.amount) reasons.push("amount");
  if ((session.currency ?? "").toUpperCase() !== tip.currency) reasons.push("currency");
  if (livemode !== liveKey) reasons.push("livemode");
  return reasons;
}

/**
 * A tip's Checkout Session completed (webhook or reconciliation). Paid and exactly ours: the tip
 * succeeds, and the fan's receipt and the creator's notification go out with it, once (conditioned on
 * this call being the one that moved the tip). Not ours or not what we sold: the money goes back.
 */
export async function applyTipCapture(
  deps: PaymentsDeps,
  session: Stripe.Checkout.Session,
  livemode: boolean | null,
  origin = "reconcile",
): Promise<"processed" | "ignored"> {
  const tipId = session.metadata?.tipId ?? session.client_reference_id;
  const tip =
    (tipId ? await readTip(deps.db, tipId) : null) ??
    (await deps.db.prepare("SELECT * FROM tips WHERE checkout_session_id = ?").bind(session.id).first<TipRow>());
  if (session.payment_status !== "paid") return "processed";
  const pi = idOf(session.payment_intent);
  if (!pi) return "processed";
  if (!tip) {
    log("warn", "tip payment this deployment does not know: ignored", { sessionId: session.id, origin });
    return "ignored";
  }
  const reasons = tipMismatches(session, livemode, tip, isLiveKey(deps.payments.secretKey));
  if (reasons.length > 0) {
    log("warn", "paid tip session does not match its tip: not fulfilled, refunding", {
      sessionId: session.id,
      tipId: tip.id,
      reasons,
      origin,
      captured: { amount: session.amount_total, currency: session.currency },
    });
    await queueRefunds(deps, [
      { paymentIntent: pi, orderId: tip.id, eventId: TIP_REFUND_EVENT, reason: "checkout-mismatch", outcome: "none" },
    ]);
    return "processed";
  }
  if (tip.status !== "pending" && tip.status !== "failed") return "processed";
  const now = Date.now();
  // This call moved the tip iff the row carries its stamp afterwards.
  const stamp = now;
  const moved = {
    sql: "EXISTS (SELECT 1 FROM tips WHERE id = ? AND status = 'succeeded' AND payment_intent = ? AND updated_at = ?)",
    bindings: [tip.id, pi, stamp],
  };
  const to =
    deps.config.pii.openOptional(tip.guest_email, TIP_GUEST_EMAIL) ??
    (tip.sender_id ? await senderEmail(deps.db, deps.config.pii, tip.sender_id) : null);
  const creator = tip.recipient_id
    ? await deps.db.prepare("SELECT name FROM users WHERE id = ?").bind(tip.recipient_id).first<{ name: string }>()
    : null;
  const results = await deps.db.batch([
    deps.db
      .prepare(
        `UPDATE tips SET status = 'succeeded', payment_intent = ?, checkout_session_id = COALESCE(checkout_session_id, ?),
           updated_at = ? WHERE id = ? AND status IN ('pending', 'failed')`,
      )
      .bind(pi, session.id, stamp, tip.id),
    ...(to
      ? emailStatements(
          deps.db,
          deps.config,
          to,
          {
            template: "tip-receipt",
            creatorName: openNameOptional(deps.config.pii, creator?.name) ?? "the creator",
            amount: tip.amount,
            currency: tip.currency,
            tipId: tip.id,
          },
          now,
          { onlyIf: moved },
        )
      : []),
    ...(tip.recipient_id
      ? [
          // Once per tip (its dedupe key); a guest's tip has no actor.
          notificationInsert(deps.db, {
            recipientId: tip.recipient_id,
            actorId: tip.sender_id,
            kind: "tip",
            orderId: tip.id,
            at: now,
          }),
          // The creator's webhook (tip.received), once per tip; the fan's message and address stay out.
          webhookEventStatement(
            deps.db,
            {
              type: "tip.received",
              hostId: tip.recipient_id,
              factId: tip.id,
              data: { tipId: tip.id, amount: tip.amount, currency: tip.currency, receivedAt: iso(now) },
              at: now,
            },
            { onlyIf: moved },
          ),
        ]
      : []),
  ]);
  await enqueueCommitted(deps.db, deps.emailQueue, results);
  await wakeWebhookEvents(deps.outgoingWebhookQueue, insertedWebhookEventIds(results));
  return "processed";
}

/** The tip a charge or dispute is about; one of ours not recorded yet is retried, a foreign one ignored. */
async function tipForCharge(
  deps: PaymentsDeps,
  paymentIntent: string | null,
  metadata: Stripe.Metadata | null | undefined,
): Promise<TipRow | null> {
  const tip = paymentIntent
    ? await deps.db.prepare("SELECT * FROM tips WHERE payment_intent = ?").bind(paymentIntent).first<TipRow>()
    : null;
  if (tip || !paymentIntent || metadata?.kind !== "tip" || !metadata.tipId) return tip;
  if (!(await readTip(deps.db, metadata.tipId))) return null;
  // A mismatched capture is refunded, never recorded: there is nothing to update and nothing to wait for.
  const refunding = await deps.db
    .prepare("SELECT 1 FROM refunds WHERE payment_intent = ? AND event_id = ?")
    .bind(paymentIntent, TIP_REFUND_EVENT)
    .first();
  if (refunding) return null;
  throw new Error("tip payment not recorded yet; its checkout event is still on its way");
}

/** `charge.refunded` carries the cumulative `amount_refunded`: the tip follows it (it only grows). */
async function applyTipRefunded(deps: PaymentsDeps, charge: Stripe.Charge): Promise<"processed" | "ignored"> {
  const tip = await tipForCharge(deps, idOf(charge.payment_intent), charge.metadata);
  if (!tip) return "ignored";
  const refunded = Math.min(tip.amount, Math.max(tip.refunded_amount, charge.amount_refunded));
  if (refunded <= 0) return "processed";
  const now = Date.now();
  await deps.db
    .prepare(
      `UPDATE tips SET refunded_amount = ?1, status = ?2, refunded_at = ?3, updated_at = ?3
       WHERE id = ?4 AND refunded_amount <= ?1`,
    )
    .bind(refunded, refunded >= tip.amount ? "refunded" : "partially_refunded", now, tip.id)
    .run();
  return "processed";
}

async function applyTipDispute(deps: PaymentsDeps, dispute: Stripe.Dispute): Promise<"processed" | "ignored"> {
  const tip = await tipForCharge(deps, idOf(dispute.payment_intent), dispute.metadata);
  if (!tip) return "ignored";
  await deps.db
    .prepare("UPDATE tips SET status = 'disputed', updated_at = ? WHERE id = ?")
    .bind(Date.now(), tip.id)
    .run();
  log("warn", "tip disputed", { tipId: tip.id, reason: dispute.reason });
  return "processed";
}

// ---------------------------------------------------------------- refunds

/** Whether a refund job refunds a tip (payments/process.ts routes it here). */
export function isTipRefund(job: Pick<RefundRow, "event_id">): boolean {
  return job.event_id === TIP_REFUND_EVENT;
}

/** The recipient (or an admin) asks for a tip's money back: one refund job, processed from the queue. */
export async function requestTipRefund(
  deps: PaymentsDeps,
  who: { id: string; admin: boolean },
  tipId: string,
): Promise<void> {
  const tip = await readTip(deps.db, tipId);
  if (!tip || (!who.admin && tip.recipient_id !== who.id)) throw new DomainError("not-found", "No such tip.");
  if ((tip.status !== "succeeded" && tip.status !== "partially_refunded") || !tip.payment_intent) {
    throw new DomainError("invalid-transition", `A ${tip.status} tip cannot be refunded.`);
  }
  await queueRefunds(deps, [
    {
      paymentIntent: tip.payment_intent,
      orderId: tip.id,
      eventId: TIP_REFUND_EVENT,
      reason: "requested",
      outcome: "none",
    },
  ]);
}

/**
 * One attempt at a tip's refund job: Stripe refunds what is left, taking the transfer back from the
 * creator's account and the platform fee with it (in proportion), under the job's idempotency key;
 * then the job and the tip are settled in one batch.
 */
export async function attemptTipRefund(
  deps: PaymentsDeps,
  job: RefundRow,
): Promise<{ kind: "done" } | { kind: "failed"; transient: boolean; message: string }> {
  let refund: Stripe.Refund | null = null;
  try {
    refund = await deps.stripe.refunds.create(
      {
        payment_intent: job.payment_intent,
        reverse_transfer: true,
        refund_application_fee: true,
        reason: "requested_by_customer",
        metadata: { kind: "tip", tipId: job.order_id, refundJob: job.id, reason: job.reason },
      },
      { idempotencyKey: job.idempotency_key },
    );
  } catch (error) {
    const failure = classifyStripeError(error);
    if (!(failure.kind === "permanent" && failure.code === "charge_already_refunded")) {
      return { kind: "failed", transient: failure.kind === "transient", message: failure.message };
    }
  }
  const now = Date.now();
  const marker = randomId();
  await deps.db.batch([
    deps.db
      .prepare(
        `UPDATE refunds SET status = 'succeeded', stripe_refund_id = ?, amount = ?, completed_at = ?, settled_by = ?,
           last_error = NULL, next_attempt_at = NULL
         WHERE id = ? AND status = 'pending'`,
      )
      .bind(refund?.id ?? null, refund?.amount ?? null, now, marker, job.id),
    // A mismatched capture never became the tip's payment: only our own tip's payment is marked.
    deps.db
      .prepare(
        `UPDATE tips SET refunded_amount = amount, status = 'refunded', refunded_at = ?1, updated_at = ?1
         WHERE id = ?2 AND payment_intent = ?3 AND EXISTS (SELECT 1 FROM refunds WHERE id = ?4 AND settled_by = ?5)`,
      )
      .bind(now, job.order_id, job.payment_intent, job.id, marker),
  ]);
  log("info", "tip refund issued", { refundId: job.id, tipId: job.order_id, stripeRefundId: refund?.id ?? null });
  return { kind: "done" };
}

// ---------------------------------------------------------------- listing

export interface TipItem {
  id: string;
  amount: number;
  currency: string;
  status: TipRow["status"];
  refundedAmount: number;
  message: string | null;
  createdAt: string;
}

/** A user's tips, received or sent, newest first, keyset-paged on (created_at, id). */
export async function listTips(
  db: D1Database,
  pii: PiiCipher,
  userId: string,
  query: { direction: "received" | "sent"; limit: number; cursor?: string },
): Promise<{ items: TipItem[]; nextCursor: string | null }> {
  let after: { at: number; id: string } | null = null;
  if (query.cursor) {
    const raw = decodeCursor(query.cursor);
    const [at, id] = raw?.split("|") ?? [];
    if (!at || !id || !/^\d+$/.test(at)) throw invalidCursorError();
    after = { at: Number(at), id };
  }
  const column = query.direction === "received" ? "recipient_id" : "sender_id";
  const { results } = await db
    .prepare(
      `SELECT id, amount, currency, status, refunded_amount, message, created_at FROM tips
       WHERE ${column} = ?1 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(userId, after?.at ?? null, after?.id ?? "", query.limit + 1)
    .all<Pick<TipRow, "id" | "amount" | "currency" | "status" | "refunded_amount" | "message" | "created_at">>();
  const page = results.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map((t) => ({
      id: t.id,
      amount: t.amount,
      currency: t.currency,
      status: t.status,
      refundedAmount: t.refunded_amount,
      message: pii.openOptional(t.message, TIP_MESSAGE),
      createdAt: iso(t.created_at),
    })),
    nextCursor: results.length > query.limit && last ? encodeCursor(`${last.created_at}|${last.id}`) : null,
  };
}

// ---------------------------------------------------------------- reconciliation

export interface TipReconcileReport {
  checked: number;
  succeeded: number;
  failed: number;
  stillOpen: number;
  errors: number;
}

/**
 * Hourly: every tip still pending after LIMITS.reconcileGraceSeconds is looked up at Stripe and settled
 * as its webhook would have settled it, so a captured payment is never left unrecorded. The run is
 * recorded in `reconciliation_runs` (`tips`).
 */
export async function reconcileTips(deps: PaymentsDeps, now = Date.now()): Promise<TipReconcileReport> {
  const report: TipReconcileReport = { checked: 0, succeeded: 0, failed: 0, stillOpen: 0, errors: 0 };
  const { results } = await deps.db
    .prepare(
      `SELECT id, checkout_session_id FROM tips WHERE status = 'pending' AND checkout_session_id IS NOT NULL
         AND created_at <= ? ORDER BY created_at LIMIT ?`,
    )
    .bind(now - LIMITS.reconcileGraceSeconds * 1000, LIMITS.paymentsSweepMaxRows)
    .all<{ id: string; checkout_session_id: string }>();
  for (const tip of results) {
    report.checked += 1;
    try {
      const session = await deps.stripe.checkout.sessions.retrieve(tip.checkout_session_id);
      if (session.status === "complete" && session.payment_status === "paid") {
        await applyTipCapture(deps, session, session.livemode, "reconcile");
        report.succeeded += 1;
      } else if (session.status === "expired") {
        await deps.db
          .prepare("UPDATE tips SET status = 'failed', updated_at = ? WHERE id = ? AND status = 'pending'")
          .bind(Date.now(), tip.id)
          .run();
        report.failed += 1;
      } else {
        report.stillOpen += 1;
      }
    } catch (error) {
      report.errors += 1;
      log("error", "reconciliation of a tip failed", { tipId: tip.id, failure: classifyStripeError(error) });
    }
  }
  await deps.db
    .prepare(
      `INSERT INTO reconciliation_runs (name, finished_at, summary) VALUES ('tips', ?, ?)
       ON CONFLICT (name) DO UPDATE SET finished_at = excluded.finished_at, summary = excluded.summary`,
    )
    .bind(Date.now(), JSON.stringify(report))
    .run();
  return report;
}
