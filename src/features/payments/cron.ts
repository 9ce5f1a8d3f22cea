/**
 * The payments side of the cron (queues/scheduled.ts dispatches by `controller.cron`): the hourly
 * reconciliation with Stripe, and the 5-minute safety net that re-sends lost queue messages. Neither
 * throws: a failure is logged and the next run tries again.
 */
import { log } from "../../lib/log";
import { reconcileSubscriptions } from "../money";
import { paymentsDepsFromEnv } from "./deps";
import { requeueStuckPayments } from "./inbox";
import type { PaymentsQueue } from "./queue";
import { reconcilePayments } from "./reconcile";

/** wrangler.toml [triggers]: hourly, on the hour. */
export const PAYMENTS_RECONCILE_CRON = "0 * * * *";

export async function reconcileCron(controller: ScheduledController, env: Env): Promise<void> {
  const deps = paymentsDepsFromEnv(env);
  if (!deps) return;
  try {
    const report = await reconcilePayments(deps, controller.scheduledTime);
    log(report.failed > 0 ? "warn" : "info", "payments reconciled", { cron: controller.cron, ...report });
  } catch (error) {
    log("error", "payments reconciliation failed", { cron: controller.cron, error });
  }
  if (!deps.payments.proPriceId) return;
  try {
    const report = await reconcileSubscriptions(deps, controller.scheduledTime);
    log(report.failed > 0 ? "warn" : "info", "subscriptions reconciled", { cron: controller.cron, ...report });
  } catch (error) {
    log("error", "subscriptions reconciliation failed", { cron: controller.cron, error });
  }
}

export async function requeuePaymentsCron(controller: ScheduledController, env: Env): Promise<void> {
  try {
    const requeued = await requeueStuckPayments(env.DB, env.WEBHOOK_QUEUE as PaymentsQueue, controller.scheduledTime);
    if (requeued > 0) log("warn", "payments work re-queued", { cron: controller.cron, requeued });
  } catch (error) {
    log("error", "payments sweep failed", { cron: controller.cron, error });
  }
}
