import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";

describe("scheduled sweeps", () => {
  it("the cron handler deletes expired idempotency keys and keeps live ones", async () => {
    const now = Date.UTC(2034, 0, 1);
    const insert = env.DB.prepare(
      "INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, expires_at, created_at) VALUES ('user:x', ?, 'f', 'done', 0, ?, 0)",
    );
    await env.DB.batch([insert.bind("old", now - 1), insert.bind("edge", now), insert.bind("live", now + 1)]);
    const ctx = createExecutionContext();
    worker.scheduled(createScheduledController({ scheduledTime: now, cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const left = await env.DB.prepare("SELECT key FROM idempotency_keys WHERE scope = 'user:x' ORDER BY key").all();
    expect(left.results.map((r) => r.key)).toEqual(["live"]);
  });
});
