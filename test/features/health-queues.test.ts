/**
 * GET /health probes each queue by sending it a message, so a queue that refuses or hangs on writes
 * fails the check (a bound producer alone proved nothing); every consumer acknowledges the probe and
 * does nothing with it.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { EMAIL_DLQ_NAME } from "../../queues/email-dlq";
import { WEBHOOK_QUEUE_NAME } from "../../queues/webhooks";
import { WEBHOOK_DLQ_NAME } from "../../queues/webhooks-dlq";
import { createApp } from "../../src/app";
import { LIMITS } from "../../src/config/limits";
import worker from "../../src/index";
import { json } from "../helpers";
import { captureLogs } from "../support/logs";

afterEach(() => vi.restoreAllMocks());

/** A queue producer that records what it was asked to send and answers with `answer`. */
function fakeQueue(answer: () => Promise<void>) {
  const sent: unknown[] = [];
  const queue = {
    send: (body: unknown) => {
      sent.push(body);
      return answer();
    },
    sendBatch: () => Promise.reject(new Error("not used by /health")),
  };
  return { queue, sent };
}

const health = (bindings: object) => createApp().request("/health", {}, bindings);

describe("GET /health queue check", () => {
  it("a queue that refuses the probe's send fails the check: 503, queues fail, the rest ok", async () => {
    const { queue, sent } = fakeQueue(() => Promise.reject(new Error("queue unavailable")));
    const res = await health({ ...env, EMAIL_QUEUE: queue });
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({
      status: "degraded",
      checks: { d1: "ok", durableObjects: "ok", r2: "ok", queues: "fail", billing: "skipped" },
    });
    expect(sent).toEqual([{ probe: "health" }]);
  });

  it("a send that never answers fails the check once the health timeout has passed", async () => {
    const { queue, sent } = fakeQueue(() => new Promise<void>(() => {}));
    const started = Date.now();
    const res = await health({ ...env, WEBHOOK_QUEUE: queue });
    expect(res.status).toBe(503);
    expect((await json<{ checks: { queues: string } }>(res)).checks.queues).toBe("fail");
    expect(Date.now() - started).toBeGreaterThanOrEqual(LIMITS.healthCheckTimeoutMs - 50);
    expect(sent).toHaveLength(1);
  });

  it("sends one probe to each queue, and reuses a good one for healthQueueProbeReuseMs (no message per request)", async () => {
    const email = fakeQueue(() => Promise.resolve());
    const webhooks = fakeQueue(() => Promise.resolve());
    const bindings = { ...env, EMAIL_QUEUE: email.queue, WEBHOOK_QUEUE: webhooks.queue };
    const now = Date.now();
    const clock = vi.spyOn(Date, "now").mockReturnValue(now);
    for (let i = 0; i < 5; i++) expect((await health(bindings)).status).toBe(200);
    expect(email.sent).toEqual([{ probe: "health" }]);
    expect(webhooks.sent).toEqual([{ probe: "health" }]);
    clock.mockReturnValue(now + LIMITS.healthQueueProbeReuseMs);
    expect((await health(bindings)).status).toBe(200);
    expect(email.sent).toHaveLength(2);
    expect(webhooks.sent).toHaveLength(2);
  });
});

describe("queue consumers and the probe", () => {
  /** Delivers the probe /health sends to `queue`'s consumer; what the consumer did with it. */
  async function deliverProbe(queue: string, bindings: object) {
    const { queue: producer, sent } = fakeQueue(() => Promise.resolve());
    await health({ ...env, EMAIL_QUEUE: producer, WEBHOOK_QUEUE: producer });
    const batch = createMessageBatch(queue, [
      { id: `probe-${queue}`, timestamp: new Date(), attempts: 1, body: sent[0] },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, bindings as Env);
    return getQueueResult(batch, ctx);
  }

  it("every consumer acknowledges it without logging, retrying or writing anything", async () => {
    const logs = captureLogs();
    const tables = ["email_outbox", "dead_letters", "stripe_events", "refunds"];
    const count = async () =>
      Promise.all(
        tables.map(async (t) => (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${t}`).first<{ n: number }>())?.n),
      );
    const before = await count();
    for (const queue of [EMAIL_QUEUE_NAME, EMAIL_DLQ_NAME, WEBHOOK_QUEUE_NAME, WEBHOOK_DLQ_NAME]) {
      const result = await deliverProbe(queue, env);
      expect(result.explicitAcks, queue).toEqual([`probe-${queue}`]);
      expect(result.retryMessages, queue).toEqual([]);
      expect(result.retryBatch.retry, queue).toBe(false);
    }
    expect(logs.raw("error")).toEqual([]);
    expect(logs.raw("warn")).toEqual([]);
    expect(await count()).toEqual(before);
  });

  it("the payments consumer acknowledges it even while payments are not configured (its other messages wait)", async () => {
    const { STRIPE_SECRET_KEY: _k, STRIPE_WEBHOOK_SECRET: _w, ...rest } = env;
    const result = await deliverProbe(WEBHOOK_QUEUE_NAME, { ...rest, ENVIRONMENT: "development" });
    expect(result.explicitAcks).toEqual([`probe-${WEBHOOK_QUEUE_NAME}`]);
    expect(result.retryBatch.retry).toBe(false);
    expect(result.retryMessages).toEqual([]);
  });
});
