/**
 * The outgoing webhooks consumer's edges (queues/outgoing-webhooks.ts): duplicate messages for one
 * delivery make one attempt, a delivery whose endpoint was deleted meanwhile is dropped, a refused
 * connection is a failed attempt, malformed messages and health probes are acknowledged, and a broken
 * configuration keeps every message; the cron hands over what a lost wake-up left.
 */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { consumeOutgoingWebhookBatch, OUTGOING_WEBHOOK_QUEUE_NAME } from "../../../queues/outgoing-webhooks";
import { LIMITS } from "../../../src/config/limits";
import { fanOut } from "../../../src/features/webhooks";
import worker from "../../../src/index";
import { freezeClock } from "../../support/clock";
import { rows } from "../../support/db";
import { route } from "../../support/fetch-router";
import { captureLogs } from "../../support/logs";
import { hostWithToken } from "../events/helpers";
import { api, createEndpoint, receiver, WebhookHarness, writeEvent } from "./harness";

async function runBatch(bodies: unknown[], bindings: Env = env) {
  const batch = createMessageBatch(
    OUTGOING_WEBHOOK_QUEUE_NAME,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await consumeOutgoingWebhookBatch(batch, bindings);
  return getQueueResult(batch, ctx);
}

describe("outgoing webhooks consumer", () => {
  it("five messages for one delivery in one batch make one attempt (the claim), and the rest are acked", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://once.example.com/in");
    const hook = receiver("https://once.example.com", () => [endpoint.secret]);
    freezeClock();
    const eventId = await writeEvent(host.id, "order.created");
    const [deliveryId] = await fanOut(env.DB, eventId);
    const sim = new WebhookHarness();
    for (let i = 0; i < 5; i++) sim.enqueue(OUTGOING_WEBHOOK_QUEUE_NAME, { deliveryId });
    await sim.drain({ advanceClock: false });
    expect(hook.received).toHaveLength(1);
    expect(sim.settled.every((s) => s.outcome === "ack")).toBe(true);
    expect(await rows("SELECT status, attempts FROM webhook_deliveries WHERE id = ?", deliveryId)).toEqual([
      { status: "succeeded", attempts: 1 },
    ]);
  });

  it("drops a delivery whose endpoint was deleted meanwhile, with nothing sent", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://gone.example.com/in");
    const hook = receiver("https://gone.example.com", () => [endpoint.secret]);
    const eventId = await writeEvent(host.id, "order.created");
    const [deliveryId] = await fanOut(env.DB, eventId);
    expect((await api("DELETE", `/api/v1/me/webhook-endpoints/${endpoint.id}`, host.token)).status).toBe(204);
    const result = await runBatch([{ deliveryId }]);
    expect(result.explicitAcks).toEqual(["m0"]);
    expect(hook.received).toHaveLength(0);
    expect(await rows("SELECT id FROM webhook_deliveries WHERE id = ?", deliveryId)).toEqual([]);
  });

  it("a refused connection is a failed attempt, retried on the schedule", async () => {
    const host = await hostWithToken();
    await createEndpoint(host.token, "https://refusing.example.com/in");
    route("https://refusing.example.com", () => {
      throw new TypeError("connection refused");
    });
    freezeClock();
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.drain({ advanceClock: false });
    const [delivery] = await rows<{ status: string; last_status_code: number | null; last_error: string }>(
      "SELECT status, last_status_code, last_error FROM webhook_deliveries WHERE event_id = ?",
      eventId,
    );
    expect(delivery).toMatchObject({ status: "pending", last_status_code: null });
    expect(delivery?.last_error).toMatch(/^network error: .*connection refused/);
    expect(sim.pending).toHaveLength(1);
    expect(sim.pending[0]?.dueAt).toBe(Date.now() + 5_000);
  });

  it("the five-minute cron hands over a webhook event whose wake-up was lost", async () => {
    const host = await hostWithToken();
    await createEndpoint(host.token, "https://lost.example.com/in");
    const start = freezeClock().now();
    const lost = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    const logs = captureLogs();
    const ctx = createExecutionContext();
    worker.scheduled(
      createScheduledController({ scheduledTime: start + LIMITS.webhookFanoutGraceMs, cron: "*/5 * * * *" }),
      sim.env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(sim.pending.map((p) => p.body)).toContainEqual({ webhookEventId: lost });
    expect(logs.entries("sweep")[0]?.webhooksRequeued).toMatchObject({ events: expect.any(Number) });
  });

  it("acks malformed messages and health probes without doing anything", async () => {
    const result = await runBatch([{ probe: "health" }, "nonsense", { deliveryId: "" }, { webhookEventId: 42 }, null]);
    expect(result.explicitAcks.sort()).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(result.retryMessages).toEqual([]);
  });

  it("keeps every message while the configuration is broken (nothing sent)", async () => {
    const broken = { ...env, ENVIRONMENT: "production", HASH_PEPPER: "" } as unknown as Env;
    const result = await runBatch([{ webhookEventId: "msg_order.created_x" }, { deliveryId: "dlv_x" }], broken);
    expect(result.retryMessages.map((m) => m.msgId).sort()).toEqual(["m0", "m1"]);
  });

  it("retries a message when D1 fails under it", async () => {
    const failing = {
      ...env,
      DB: {
        prepare: () => {
          throw new Error("D1 unavailable");
        },
        batch: () => Promise.reject(new Error("D1 unavailable")),
      },
    } as unknown as Env;
    const result = await runBatch([{ webhookEventId: "msg_order.created_y" }], failing);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(["m0"]);
  });
});
