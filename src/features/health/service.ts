/**
 * Health checks: each dependency is probed for real (D1 query, Durable Object RPC, R2 head, queue
 * producers bound) with a time bound, so a hung dependency reports as failed instead of hanging /health.
 */
export interface HealthChecks {
  d1: "ok" | "fail";
  durableObjects: "ok" | "fail";
  r2: "ok" | "fail";
  queues: "ok" | "fail";
}

/** Per-check time bound: a health probe must answer quickly even when a dependency hangs. */
export const HEALTH_CHECK_TIMEOUT_MS = 2000;

async function probe(check: () => Promise<unknown>): Promise<"ok" | "fail"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), HEALTH_CHECK_TIMEOUT_MS);
      }),
    ]);
    return "ok";
  } catch {
    return "fail";
  } finally {
    clearTimeout(timer);
  }
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
    probe(async () => {
      for (const queue of [env.EMAIL_QUEUE, env.WEBHOOK_QUEUE]) {
        if (typeof queue?.send !== "function") throw new Error("queue binding missing");
      }
    }),
  ]);
  const checks: HealthChecks = { d1, durableObjects, r2, queues };
  return { healthy: Object.values(checks).every((v) => v === "ok"), checks };
}
