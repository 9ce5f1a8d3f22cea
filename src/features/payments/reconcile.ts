/**
 * Hourly reconciliation with Stripe, so an undelivered webhook is harmless: every checkout session
 * still open here well after it expired is fetched from Stripe and settled exactly as its webhook
 * would have settled it (a missed `completed` confirms — or refunds if the seats are gone —, a missed
 * `expired` releases). So is every session marked complete whose capture was not seen through
 * (`applied_at` still null an hour after its last change: its webhook failed past the mark until it
 * went to the dead letters, or an asynchronous payment's success never arrived): found paid at Stripe,
 * it is applied as the webhook would have; still settling, it is looked at again next hour. Also: refund jobs for every payment of a cancelled event (in case the request
 * that cancelled died before queueing them). (Old webhook payloads go with the retention job,
 * src/features/retention.) Tips
 * still pending are settled from Stripe the same way (money/tips.ts, run `tips` in reconciliation_runs).
 */

import type Stripe from "stripe";
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";
import { reconcileTips, type TipReconcileReport } from "../money";
import { applyCompletedSession, applyReleasedSession, type SessionFacts, sessionFacts } from "./apply";
import type { PaymentsDeps } from "./deps";
import { queueEventRefunds } from "./refunds";
import { classifyStripeError } from "./stripe";

export interface ReconcileReport {
  checked: number;
  /** Found paid (or settling) at Stripe: applied like a `checkout.session.completed`. */
  completed: number;
  /** Complete here but not seen through, found paid at Stripe: applied now. */
  reapplied: number;
  released: number;
  stillOpen: number;
  failed: number;
  refundJobs: number;
  tips: TipReconcileReport | null;
}

/**
 * Fetches each session from Stripe and settles it. One failing (Stripe down, a bug) does not stop the
 * others: it is counted and logged, and the next run tries it again.
 */
async function eachSession(
  deps: PaymentsDeps,
  report: ReconcileReport,
  rows: readonly { id: string }[],
  settle: (session: Stripe.Checkout.Session, facts: SessionFacts) => Promise<void>,
): Promise<void> {
  for (const { id } of rows) {
    report.checked += 1;
    try {
      const session = await deps.stripe.checkout.sessions.retrieve(id);
      const facts = sessionFacts(session);
      if (facts) await settle(session, facts);
    } catch (error) {
      report.failed += 1;
      log("error", "reconciliation of a checkout session failed", {
        sessionId: id,
        failure: classifyStripeError(error),
      });
    }
  }
}

export async function reconcilePayments(deps: PaymentsDeps, now = Date.now()): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    checked: 0,
    completed: 0,
    reapplied: 0,
    released: 0,
    stillOpen: 0,
    failed: 0,
    refundJobs: 0,
    tips: null,
  };
  const { results: sessions } = await deps.db
    .prepare("SELECT id FROM checkout_sessions WHERE status = 'open' AND expires_at <= ? ORDER BY expires_at LIMIT ?")
    .bind(now - LIMITS.reconcileGraceSeconds * 1000, LIMITS.paymentsSweepMaxRows)
    .all<{ id: string }>();
  await eachSession(deps, report, sessions, async (session, facts) => {
    if (session.status === "complete") {
      await applyCompletedSession(deps, facts);
      report.completed += 1;
    } else if (session.status === "expired") {
      await applyReleasedSession(deps, facts, "reconciled-expired");
      report.released += 1;
    } else {
      report.stillOpen += 1;
    }
  });

  const { results: unapplied } = await deps.db
    .prepare(
      `SELECT id FROM checkout_sessions
       WHERE status = 'complete' AND applied_at IS NULL AND expires_at >= ? AND updated_at <= ?
       ORDER BY expires_at LIMIT ?`,
    )
    .bind(
      now - LIMITS.reconcileUnappliedWindowSeconds * 1000,
      now - LIMITS.reconcileUnappliedGraceSeconds * 1000,
      LIMITS.paymentsSweepMaxRows,
    )
    .all<{ id: string }>();
  // Still settling (an asynchronous payment): looked at again next hour.
  await eachSession(deps, report, unapplied, async (session, facts) => {
    if (session.payment_status !== "paid") return;
    await applyCompletedSession(deps, facts);
    report.reapplied += 1;
  });

  const { results: cancelled } = await deps.db
    .prepare(
      `SELECT DISTINCT p.event_id FROM payments p JOIN events e ON e.id = p.event_id
       WHERE e.status = 'cancelled' AND p.amount_refunded < p.amount
         AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_intent = p.payment_intent)
       LIMIT ?`,
    )
    .bind(LIMITS.paymentsSweepMaxRows)
    .all<{ event_id: string }>();
  for (const { event_id } of cancelled) report.refundJobs += (await queueEventRefunds(deps, event_id)).length;

  try {
    report.tips = await reconcileTips(deps, now);
    report.failed += report.tips.errors;
  } catch (error) {
    report.failed += 1;
    log("error", "reconciliation of tips failed", { error });
  }
  return report;
}
