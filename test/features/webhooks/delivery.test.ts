import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { LIMITS } from "../../../src/config/limits";
import { renderEmail } from "../../../src/features/email/templates";
import { runPiiJob } from "../../../src/features/privacy";
import { ENDPOINT_DISABLED_ERROR, requeueWebhooks, WEBHOOK_SECRET_CONTEXT } from "../../../src/features/webhooks";
import { advanceClock, freezeClock, setClock } from "../../support/clock";
import { countRows, rows } from "../../support/db";
import { outboundRequests } from "../../support/fetch-router";
import { hostWithToken } from "../events/helpers";
import { api, createEndpoint, fail, ok, receiver, tryWriteEvent, WebhookHarness, writeEvent } from "./harness";

const DAY = 24 * 60 * 60 * 1000;

interface DeliveryRow {
  id: string;
  event_id: string;
  endpoint_id: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
}

const deliveriesOf = (eventId: string) =>
  rows<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE event_id = ? ORDER BY endpoint_id", eventId);

const attemptsOf = (deliveryId: string) =>
  rows<{ attempt: number; status_code: number | null; error: string | null; response_snippet: string | null }>(
    "SELECT attempt, status_code, error, response_snippet FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt",
    deliveryId,
  );

describe("outgoing webhooks: delivery", () => {
  it("a delivery that fails twice then succeeds arrives three times with the same webhook-id, each validly signed", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://hooks.example.com/in");
    const hook = receiver(
      "https://hooks.example.com",
      () => [endpoint.secret],
      (n) => (n <= 2 ? fail(503) : ok()),
    );
    const start = freezeClock().now();
    const eventId = await writeEvent(host.id, "order.created", { orderId: "o1", quantity: 2 });
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.drain();

    expect(hook.received).toHaveLength(3);
    expect(hook.received.map((r) => r.id)).toEqual([eventId, eventId, eventId]);
    // Each verified by the reference library at the moment it arrived.
    expect(hook.received.map((r) => r.verifiedBy)).toEqual([[0], [0], [0]]);
    // The body is the same bytes every time: { type, timestamp, data }.
    expect(new Set(hook.received.map((r) => r.body)).size).toBe(1);
    expect(JSON.parse(hook.received[0]?.body ?? "")).toEqual({
      type: "order.created",
      timestamp: new Date(start).toISOString(),
      data: { orderId: "o1", quantity: 2 },
    });
    // The schedule: at once, then 5 s, then 5 min (each stretched by at most 10 %).
    const gaps = hook.received.slice(1).map((r, i) => r.at - (hook.received[i]?.at ?? 0));
    expect(gaps[0]).toBeGreaterThanOrEqual(5_000);
    expect(gaps[0]).toBeLessThanOrEqual(5_500);
    expect(gaps[1]).toBeGreaterThanOrEqual(300_000);
    expect(gaps[1]).toBeLessThanOrEqual(330_000);
    // A fresh timestamp on each attempt (a receiver's 5-minute tolerance holds for late retries).
    expect(hook.received.map((r) => Number(r.timestamp))).toEqual(hook.received.map((r) => Math.floor(r.at / 1000)));

    const [delivery] = await deliveriesOf(eventId);
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 3, last_status_code: 200, next_attempt_at: null });
    const attempts = await attemptsOf(delivery?.id ?? "");
    expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, 503],
      [2, 503],
      [3, 200],
    ]);
    expect(attempts[0]).toMatchObject({ error: "HTTP 503", response_snippet: "boom" });
    // A success ends the endpoint's failing run.
    expect(await rows("SELECT failing_since FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual([
      { failing_since: null },
    ]);
  });

  it("gives up after the last of the 8 scheduled attempts: the delivery is failed", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://down.example.com/in");
    const hook = receiver(
      "https://down.example.com",
      () => [endpoint.secret],
      () => fail(500),
    );
    const start = freezeClock().now();
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.drain();
    expect(hook.received).toHaveLength(LIMITS.outgoingWebhookRetryDelaysSeconds.length + 1);
    expect(new Set(hook.received.map((r) => r.id))).toEqual(new Set([eventId]));
    expect(hook.received.every((r) => r.verifiedBy.length === 1)).toBe(true);
    const [delivery] = await deliveriesOf(eventId);
    expect(delivery).toMatchObject({ status: "failed", attempts: 8, next_attempt_at: null, last_status_code: 500 });
    // 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h, each stretched by at most 10 %.
    const total = LIMITS.outgoingWebhookRetryDelaysSeconds.reduce((a, b) => a + b, 0) * 1000;
    const last = hook.received[hook.received.length - 1]?.at ?? 0;
    expect(last - start).toBeGreaterThanOrEqual(total);
    expect(last - start).toBeLessThanOrEqual(total * 1.1);
    // Every wait stays under Queues' 12 h delaySeconds ceiling.
    expect(Math.max(...sim.sent.map((s) => s.delaySeconds))).toBeLessThanOrEqual(12 * 3600);
  });

  it("does not follow a redirect: a 302 is a failed attempt and its target is never asked", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://moved.example.com/in");
    const hook = receiver(
      "https://moved.example.com",
      () => [endpoint.secret],
      () => new Response(null, { status: 302, headers: { Location: "http://169.254.169.254/latest/meta-data/" } }),
    );
    freezeClock();
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.drain({ advanceClock: false });
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]?.redirect).toBe("manual");
    expect(outboundRequests().map((r) => new URL(r.url).origin)).toEqual(["https://moved.example.com"]);
    const [delivery] = await deliveriesOf(eventId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, last_status_code: 302 });
    expect(delivery?.last_error).toContain("redirect (302) not followed");
  });

  it("counts an endpoint that does not answer within 10 s as a failed attempt", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://slow.example.com/in");
    const hook = receiver(
      "https://slow.example.com",
      () => [endpoint.secret],
      () => "hang",
    );
    const clock = freezeClock(Date.now(), { timers: true });
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.deliver(sim.takeDue()); // the fan-out
    const arrived = hook.next();
    const attempt = sim.deliver(sim.takeDue());
    await arrived;
    clock.advance(LIMITS.outgoingWebhookTimeoutMs - 1);
    // Not yet: one millisecond short of the deadline the attempt is still waiting.
    expect(
      await countRows(
        "webhook_attempts",
        "delivery_id IN (SELECT id FROM webhook_deliveries WHERE event_id = ?)",
        eventId,
      ),
    ).toBe(0);
    clock.advance(1);
    await attempt;
    const [delivery] = await deliveriesOf(eventId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, last_status_code: null });
    expect(delivery?.last_error).toBe(`timeout after ${LIMITS.outgoingWebhookTimeoutMs} ms`);
    expect(await attemptsOf(delivery?.id ?? "")).toEqual([
      { attempt: 1, status_code: null, error: "timeout after 10000 ms", response_snippet: null },
    ]);
    // The retry is on the schedule, 5 s on.
    expect(sim.pending.map((p) => p.body)).toEqual([{ deliveryId: delivery?.id }]);
  });

  it("fans out one delivery per subscribed endpoint however often the event is enqueued, and only the host's own", async () => {
    const host = await hostWithToken();
    const other = await hostWithToken();
    const a = await createEndpoint(host.token, "https://a.example.com/in", ["order.created", "order.refunded"]);
    const b = await createEndpoint(host.token, "https://b.example.com/in", ["order.created"]);
    // Subscribed to another type, disabled, or another host's: none of these receives it.
    await createEndpoint(host.token, "https://c.example.com/in", ["tip.received"]);
    const d = await createEndpoint(host.token, "https://d.example.com/in", ["order.created"]);
    expect((await api("PATCH", `/api/v1/me/webhook-endpoints/${d.id}`, host.token, { enabled: false })).status).toBe(
      200,
    );
    const theirs = await createEndpoint(other.token, "https://theirs.example.com/in", ["order.created"]);
    const hookA = receiver("https://a.example.com", () => [a.secret]);
    const hookB = receiver("https://b.example.com", () => [b.secret]);
    const hookTheirs = receiver("https://theirs.example.com", () => [theirs.secret]);
    freezeClock();
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    // The same event woken five times, three of them in one batch (handled concurrently).
    for (let i = 0; i < 3; i++) sim.wake(eventId);
    await sim.drain();
    sim.wake(eventId);
    sim.wake(eventId);
    await sim.drain();
    expect((await deliveriesOf(eventId)).map((d) => d.endpoint_id).sort()).toEqual([a.id, b.id].sort());
    expect(hookA.received).toHaveLength(1);
    expect(hookB.received).toHaveLength(1);
    expect(hookTheirs.received).toHaveLength(0);
    expect(outboundRequests()).toHaveLength(2);
  });

  it("during a rotation both secrets sign; after the overlap only the new one", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://rotating.example.com/in");
    const res = await api("POST", `/api/v1/me/webhook-endpoints/${endpoint.id}/rotate-secret`, host.token);
    expect(res.status).toBe(200);
    const rotated = (await res.json()) as { secret: string; previousSecretExpiresAt: string };
    expect(rotated.secret).not.toBe(endpoint.secret);
    const hook = receiver("https://rotating.example.com", () => [endpoint.secret, rotated.secret]);
    const start = freezeClock().now();
    expect(Date.parse(rotated.previousSecretExpiresAt)).toBeGreaterThan(start);
    const sim = new WebhookHarness();
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain();
    expect(hook.received[0]?.signature?.split(" ")).toHaveLength(2);
    expect(hook.received[0]?.verifiedBy).toEqual([0, 1]);
    // Each secret on its own verifies the message (a receiver holding either one accepts it).
    const first = hook.received[0];
    const headers = {
      "webhook-id": first?.id ?? "",
      "webhook-timestamp": first?.timestamp ?? "",
      "webhook-signature": first?.signature ?? "",
    };
    expect(new Webhook(endpoint.secret).verify(first?.body ?? "", headers)).toMatchObject({ type: "order.created" });
    expect(new Webhook(rotated.secret).verify(first?.body ?? "", headers)).toMatchObject({ type: "order.created" });
    // D1 holds neither secret in clear: both are sealed, the old one moved to previous_secret as it was.
    const [stored] = await rows<{ secret: string; previous_secret: string }>(
      "SELECT secret, previous_secret FROM webhook_endpoints WHERE id = ?",
      endpoint.id,
    );
    for (const value of [stored?.secret, stored?.previous_secret]) {
      expect(value).toMatch(/^pii1\./);
      expect(value).not.toContain("whsec_");
    }

    setClock(start + LIMITS.webhookSecretOverlapMs + 1);
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain();
    expect(hook.received[1]?.signature?.split(" ")).toHaveLength(1);
    expect(hook.received[1]?.verifiedBy).toEqual([1]);
  });

  it("an endpoint stored before secrets were sealed still signs with its plain secret, and the PII job seals it", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://legacy.example.com/in");
    await env.DB.prepare("UPDATE webhook_endpoints SET secret = ? WHERE id = ?")
      .bind(endpoint.secret, endpoint.id)
      .run();
    const hook = receiver("https://legacy.example.com", () => [endpoint.secret]);
    const sim = new WebhookHarness();
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain();
    expect(hook.received[0]?.verifiedBy).toEqual([0]);

    const report = await runPiiJob(env.DB, getConfig(env).pii);
    // This endpoint at least (the database may hold other files' rows).
    const secrets = report.columns.find((c) => c.column === "webhook_endpoints.secret");
    expect(secrets?.resealed).toBeGreaterThanOrEqual(1);
    expect(secrets?.remaining).toBe(0);
    const [stored] = await rows<{ secret: string }>("SELECT secret FROM webhook_endpoints WHERE id = ?", endpoint.id);
    expect(getConfig(env).pii.open(stored?.secret as string, WEBHOOK_SECRET_CONTEXT)).toBe(endpoint.secret);
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain();
    expect(hook.received[1]?.verifiedBy).toEqual([0]);
  });

  it("disables an endpoint failing for 5 days, emails its host once, and attempts nothing more to it", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://broken.example.com/in");
    const hook = receiver(
      "https://broken.example.com",
      () => [endpoint.secret],
      () => fail(500),
    );
    const start = freezeClock().now();
    const sim = new WebhookHarness({ batchSize: 1 });
    const first = await writeEvent(host.id, "order.created");
    const second = await writeEvent(host.id, "order.created");
    sim.wake(first);
    sim.wake(second);
    await sim.drain({ advanceClock: false });
    expect(hook.received).toHaveLength(2);
    expect(await rows("SELECT enabled, failing_since FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual([
      { enabled: 1, failing_since: start },
    ]);

    // Failures up to one millisecond short of 5 days leave it enabled (the two retries, a new event).
    setClock(start + LIMITS.webhookDisableAfterMs - 1);
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain({ advanceClock: false });
    expect(hook.received).toHaveLength(5);
    expect(await rows("SELECT enabled FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual([{ enabled: 1 }]);

    // The next failure, 5 days on: disabled, and the host is emailed.
    setClock(start + LIMITS.webhookDisableAfterMs);
    sim.wake(await writeEvent(host.id, "order.created"));
    await sim.drain({ advanceClock: false });
    expect(hook.received).toHaveLength(6);
    expect(await rows("SELECT enabled, disabled_reason FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual([
      { enabled: 0, disabled_reason: "failing" },
    ]);
    // One email to the host, its id naming the endpoint and the run's start (so a replay writes none).
    const emailId = `webhook-endpoint-disabled:${endpoint.id}:${start}`;
    expect(await rows("SELECT template FROM email_outbox WHERE id = ?", emailId)).toEqual([
      { template: "webhook-endpoint-disabled" },
    ]);
    expect(sim.emailMessages).toHaveLength(1);

    // Deliveries still pending for it are failed without an attempt, and new events are not fanned out to it.
    const requests = hook.received.length;
    advanceClock(DAY);
    await sim.drain();
    // Nobody is subscribed any more: a new event is not even written.
    expect(await tryWriteEvent(host.id, "order.created")).toBeNull();
    expect(hook.received).toHaveLength(requests);
    const states = await rows<{ status: string; last_error: string | null }>(
      "SELECT status, last_error FROM webhook_deliveries WHERE endpoint_id = ?",
      endpoint.id,
    );
    expect(
      states.every((s) => s.status === "failed"),
      "all failed",
    ).toBe(true);
    expect(
      states.some((s) => s.last_error === ENDPOINT_DISABLED_ERROR),
      "not attempted",
    ).toBe(true);
    expect(sim.emailMessages).toHaveLength(1);
    expect(await countRows("email_outbox", "template = 'webhook-endpoint-disabled' AND id = ?", emailId)).toBe(1);
  });

  it("the disabled endpoint's email names it by id and host name, never its URL, and says how to turn it back on", () => {
    const mail = renderEmail({
      template: "webhook-endpoint-disabled",
      name: "Ada <Host>",
      endpointId: "ep_123",
      endpointHost: "hooks.example.com",
      failingSince: "2026-01-01T00:00:00.000Z",
    });
    expect(mail.subject).toBe("A webhook endpoint was disabled");
    for (const part of [mail.text, mail.html]) {
      expect(part).toContain("ep_123");
      expect(part).toContain("hooks.example.com");
      expect(part).toContain("2026-01-01T00:00:00.000Z");
      expect(part).toContain("/api/v1/me/webhook-endpoints/ep_123");
      expect(part).not.toMatch(/https?:/);
    }
    expect(mail.html).toContain("Ada &lt;Host&gt;");
  });

  it("re-judges the URL before each attempt: a stored internal address is never fetched", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://fine.example.com/in");
    // As if stored under other rules (or development's loopback allowance, since switched off).
    await rows("UPDATE webhook_endpoints SET url = 'http://127.0.0.1:8787/hook' WHERE id = ?", endpoint.id);
    receiver("https://fine.example.com", () => [endpoint.secret]);
    freezeClock();
    const eventId = await writeEvent(host.id, "order.created");
    const sim = new WebhookHarness();
    sim.wake(eventId);
    await sim.drain({ advanceClock: false });
    expect(outboundRequests()).toEqual([]);
    const [delivery] = await deliveriesOf(eventId);
    expect(delivery).toMatchObject({ status: "pending", attempts: 1, last_status_code: null });
    expect(delivery?.last_error).toBe("URL refused (loopback): not sent");
  });

  it("the sweep hands over events whose wake-up was lost and deliveries whose message was", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://swept.example.com/in");
    const hook = receiver("https://swept.example.com", () => [endpoint.secret]);
    const start = freezeClock().now();
    const sim = new WebhookHarness();
    const lost = await writeEvent(host.id, "order.created");
    // Too young: the producer's own wake-up may still be on its way.
    expect((await requeueWebhooks(sim.env.DB, sim.env.OUTGOING_WEBHOOK_QUEUE, start)).events).toBe(0);
    setClock(start + LIMITS.webhookFanoutGraceMs);
    const swept = await requeueWebhooks(sim.env.DB, sim.env.OUTGOING_WEBHOOK_QUEUE, Date.now());
    expect(swept.events).toBeGreaterThanOrEqual(1);
    expect(sim.pending.map((p) => p.body)).toContainEqual({ webhookEventId: lost });
    // The fan-out runs, but its delivery messages are lost.
    const fanout = sim.takeDue().filter((d) => (d.body as { webhookEventId?: string }).webhookEventId === lost);
    await sim.deliver(fanout);
    sim.pending.length = 0;
    expect(hook.received).toHaveLength(0);
    const [delivery] = await deliveriesOf(lost);
    expect(delivery?.status).toBe("pending");
    setClock(Date.now() + LIMITS.webhookDeliveryOverdueMs);
    await requeueWebhooks(sim.env.DB, sim.env.OUTGOING_WEBHOOK_QUEUE, Date.now());
    expect(sim.pending.map((p) => p.body)).toContainEqual({ deliveryId: delivery?.id });
    await sim.drain({ advanceClock: false });
    expect(hook.received.map((r) => r.id)).toEqual([lost]);
    expect((await deliveriesOf(lost))[0]?.status).toBe("succeeded");
  });
});
