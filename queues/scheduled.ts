/**
 * Cron sweeps (wrangler.toml [triggers]), dispatched by `controller.cron`. Every 5 minutes: retention
 * deletes (expired idempotency keys, and the retention job: src/features/retention), the email outbox
 * safety net, and the payments one (src/features/payments/cron.ts re-sends webhook events and refund
 * jobs whose message was lost), and the creator tracking rollups with the raw-event retention
 * (src/features/creators/rollups.ts), and the event objects erasures left to clear
 * (src/features/privacy/object-erasures.ts). Hourly: reconciliation with Stripe, alone. Each sweep is bounded,
 * safe to run twice and safe to run concurrently.
 */
import { getConfig } from "../src/config";
import { LIMITS } from "../src/config/limits";
import { trackRollupCron } from "../src/features/creators";
import { requeueStuckEmails } from "../src/features/email/sweep";
import { PAYMENTS_RECONCILE_CRON, reconcileCron, requeuePaymentsCron } from "../src/features/payments/cron";
import { expireDataExports, piiSweep, sweepEndedEventContacts, sweepObjectErasures } from "../src/features/privacy";
import { runRetention } from "../src/features/retention";
import { requeueWebhooks } from "../src/features/webhooks";
import { log } from "../src/lib/log";

export async function sweepExpiredIdempotencyKeys(db: D1Database, now = Date.now()): Promise<number> {
  const result = await db
    .prepare(
      "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)",
    )
    .bind(now, LIMITS.idempotencySweepMaxRows)
    .run();
  return result.meta.changes;
}

export async function scheduled(controller: ScheduledController, env: Env): Promise<void> {
  // Hourly: reconciliation with Stripe (src/features/payments/reconcile.ts); nothing else runs on it.
  if (controller.cron === PAYMENTS_RECONCILE_CRON) return reconcileCron(controller, env);
  await requeuePaymentsCron(controller, env);
  // Independent sweeps: one failing must not stop the others.
  const [deleted, requeued, retention, tracking, webhooks, exports, pii, objects, contacts] = await Promise.allSettled([
    sweepExpiredIdempotencyKeys(env.DB, controller.scheduledTime),
    requeueStuckEmails(env.DB, env.EMAIL_QUEUE, controller.scheduledTime),
    (async () => runRetention(env.DB, getConfig(env).retentionDays, controller.scheduledTime))(),
    (async () => trackRollupCron(env.DB, controller.scheduledTime, getConfig(env).trackRetentionDays))(),
    // Outgoing webhooks whose wake-up was lost (src/features/webhooks/sweep.ts).
    requeueWebhooks(env.DB, env.OUTGOING_WEBHOOK_QUEUE, controller.scheduledTime),
    // Data exports past their week: the archive out of R2, the row marked (src/features/privacy/export.ts).
    expireDataExports(env.DB, env.MEDIA, controller.scheduledTime),
    // Personal fields not yet sealed under the current key (src/features/privacy/pii-job.ts); skipped
    // while the key is marked clean.
    (async () => piiSweep(env.DB, getConfig(env).pii, controller.scheduledTime))(),
    // Event objects erasures left to clear of the person's contact (src/features/privacy/object-erasures.ts).
    sweepObjectErasures(env.DB, env.EVENT_INVENTORY, controller.scheduledTime),
    // Event objects past the contacts' retention whose alarm may never have cleared them
    // (src/features/privacy/contact-retention.ts).
    sweepEndedEventContacts(env.DB, env.EVENT_INVENTORY, controller.scheduledTime),
  ]);
  const retained = retention.status === "fulfilled" ? retention.value : null;
  const ok =
    [deleted, requeued, retention, tracking, webhooks, exports, pii, objects, contacts].every(
      (r) => r.status === "fulfilled",
    ) && Object.keys(retained?.errors ?? {}).length === 0;
  log(ok ? "info" : "error", "sweep", {
    cron: controller.cron,
    idempotencyKeysDeleted: deleted.status === "fulfilled" ? deleted.value : null,
    emailsRequeued: requeued.status === "fulfilled" ? requeued.value : null,
    emailsPurged: retained ? (retained["email-outbox"] ?? 0) : null,
    // Rows deleted per kind (src/config/retention.ts), and the kinds whose delete failed.
    retention: retained,
    trackCreatorDaysRolledUp: tracking.status === "fulfilled" ? tracking.value.creatorDays : null,
    trackEventsPurged: tracking.status === "fulfilled" ? tracking.value.purged : null,
    dataExportsExpired: exports.status === "fulfilled" ? exports.value : null,
    webhooksRequeued: webhooks.status === "fulfilled" ? webhooks.value : null,
    // Event objects cleared for erasures, and those that failed (tried again later).
    objectErasures: objects.status === "fulfilled" ? objects.value : null,
    // Ended events whose objects cleared their contacts this run, what they cleared, and those that failed.
    contactPurges: contacts.status === "fulfilled" ? contacts.value : null,
    // "clean" while the current key is marked done; else per column the values sealed again this run
    // and those that would not open.
    pii:
      pii.status === "fulfilled"
        ? "skipped" in pii.value
          ? pii.value.skipped
          : Object.fromEntries(pii.value.columns.map((col) => [col.column, [col.resealed, col.failed]]))
        : null,
    ...(deleted.status === "rejected" ? { idempotencyError: deleted.reason } : {}),
    ...(requeued.status === "rejected" ? { emailError: requeued.reason } : {}),
    ...(retention.status === "rejected" ? { retentionError: retention.reason } : {}),
    ...(tracking.status === "rejected" ? { trackingError: tracking.reason } : {}),
    ...(exports.status === "rejected" ? { dataExportsError: exports.reason } : {}),
    ...(webhooks.status === "rejected" ? { webhooksError: webhooks.reason } : {}),
    ...(pii.status === "rejected" ? { piiError: pii.reason } : {}),
    ...(objects.status === "rejected" ? { objectErasuresError: objects.reason } : {}),
  });
}
