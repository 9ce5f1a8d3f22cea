/**
 * Health checks: each dependency is probed for real (D1 query, Durable Object RPC, R2 head, a probe
 * message sent to each queue) with a time bound, so a hung dependency reports as failed instead of
 * hanging /health.
 */
import { LIMITS } from "../../config/limits";
import { QUEUE_PROBE } from "../../lib/queue-probe";

export interface HealthChecks {
  d1: "ok" | "fail";
  durableObjects: "ok" | "fail";
  r2: "ok" | "fail";
  queues: "ok" | "fail";
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

export async function checkHealth(env: Env): Promise<{ healthy: boolean; checks: HealthChecks }> {
  const [d1, durableObjects, r2, queues] = await Promise.all([
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
  ]);
  const checks: HealthChecks = { d1, durableObjects, r2, queues };
  return { healthy: Object.values(checks).every((v) => v === "ok"), checks };
}
