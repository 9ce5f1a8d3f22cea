/**
 * Health checks: each dependency is probed for real (D1 query, Durable Object RPC, R2 head, a probe
 * message sent to each queue) with a time bound, so a hung dependency reports as failed instead of
 * hanging /health. `billing` is the age of the last Pro subscription reconciliation: failing past
 * 2 hours (BILLING_RECONCILE_STALE_SECONDS; the cron runs hourly, so one missed run is
 * tolerated), `skipped` when billing is not configured (no Stripe keys or no STRIPE_PRO_PRICE_ID:
 * nothing to reconcile, which is not a failure).
 */
import { getConfig } from "../../config";
import { LIMITS } from "../../config/limits";
import { QUEUE_PROBE } from "../../lib/queue-probe";
import { billingReconciliationAge } from "../money";

/** A reconciliation older than this fails /health (issue 19: "failing over 2 hours"). */
export const BILLING_RECONCILE_STALE_SECONDS = 2 * 60 * 60;

export interface HealthChecks {
  d1: "ok" | "fail";
  durableObjects: "ok" | "fail";
  r2: "ok" | "fail";
  queues: "ok" | "fail";
  billing: "ok" | "fail" | "skipped";
}

export interface BillingHealth {
  /** Seconds since the last subscriptions reconciliation finished; null if none ever did. */
  lastReconciliationSecondsAgo: number | null;
}

async function billingCheck(env: Env): Promise<{ check: HealthChecks["billing"]; billing?: BillingHealth }> {
  let configured: boolean;
  try {
    configured = Boolean(getConfig(env).payments?.proPriceId);
  } catch {
    // An invalid configuration is reported by every other route (503); here billing cannot be judged.
    return { check: "fail" };
  }
  if (!configured) return { check: "skipped" };
  try {
    const age = await billingReconciliationAge(env.DB);
    const fresh = age !== null && age <= BILLING_RECONCILE_STALE_SECONDS;
    return { check: fresh ? "ok" : "fail", billing: { lastReconciliationSecondsAgo: age } };
  } catch {
    return { check: "fail", billing: { lastReconciliationSecondsAgo: null } };
  }
}

async function probe(check: () => Promise<unknown>): Promise<"ok" | "fail"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), LIMITS.healthCheckTimeoutMs);
      }),
    ]);
    return "ok";
  } catch {
    return "fail";
  } finally {
    clearTimeout(timer);
  }
}

/** When each queue binding last took a probe, per isolate (see LIMITS.healthQueueProbeReuseMs). */
const probedAt = new WeakMap<Queue, number>();

/**
 * Sends the probe message, which the consumers acknowledge and ignore: only a send the queue accepted
 * proves it takes writes. A send that went through recently enough is not repeated.
 */
async function probeQueue(queue: Queue | undefined): Promise<void> {
  if (!queue) throw new Error("queue binding missing");
  const last = probedAt.get(queue);
  if (last !== undefined && Date.now() - last < LIMITS.healthQueueProbeReuseMs) return;
  await queue.send(QUEUE_PROBE);
  probedAt.set(queue, Date.now());
}

export async function checkHealth(
  env: Env,
): Promise<{ healthy: boolean; checks: HealthChecks; billing?: BillingHealth }> {
  const [d1, durableObjects, r2, queues, billing] = await Promise.all([
    probe(async () => {
      const row = await env.DB.prepare("SELECT 1 AS one").first<{ one: number }>();
      if (row?.one !== 1) throw new Error("unexpected D1 answer");
    }),
    probe(async () => {
      if ((await env.RATE_LIMITER.getByName("health").ping()) !== "pong") throw new Error("bad pong");
    }),
    // A head of a key that never exists: proves the bucket answers without reading data.
    probe(() => env.MEDIA.head("health/probe")),
    probe(() => Promise.all([probeQueue(env.EMAIL_QUEUE), probeQueue(env.WEBHOOK_QUEUE)])),
    billingCheck(env),
  ]);
  const checks: HealthChecks = { d1, durableObjects, r2, queues, billing: billing.check };
  const healthy = Object.values(checks).every((v) => v === "ok" || v === "skipped");
  return { healthy, checks, ...(billing.billing ? { billing: billing.billing } : {}) };
}
