import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { LIMITS } from "../../../src/config/limits";
import { WEBHOOK_SECRET_CONTEXT } from "../../../src/features/webhooks";
import { freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, countRows, rows } from "../../support/db";
import { UNSAFE_URLS } from "../../support/unsafe-urls";
import { hostWithKey, withKey } from "../api-keys/helpers";
import { bearer } from "../auth/helpers";
import { buyers, hostWithToken } from "../events/helpers";
import { api, createEndpoint, fail, ok, receiver, WebhookHarness, writeEvent } from "./harness";

const BASE = "/api/v1/me/webhook-endpoints";

interface ApiEndpoint {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  description: string | null;
  disabledReason: string | null;
  failingSince: string | null;
  secret?: string;
}

interface ApiDelivery {
  id: string;
  eventId: string;
  type: string;
  status: string;
  attempts: number;
  lastStatusCode: number | null;
  responseSnippet: string | null;
}

const endpointRows = (hostId: string) => rows("SELECT * FROM webhook_endpoints WHERE host_id = ? ORDER BY id", hostId);

/** A stored signing secret, opened (D1 holds it sealed: docs/privacy.md). */
const opened = (value: string | undefined) => getConfig(env).pii.open(value ?? "", WEBHOOK_SECRET_CONTEXT);

/** Rows of `sql` with their `secret` opened. */
async function storedSecrets(sql: string, ...bindings: unknown[]) {
  return (await rows<{ secret: string }>(sql, ...bindings)).map((row) => ({ ...row, secret: opened(row.secret) }));
}

describe("webhook endpoints: create, read, edit, delete", () => {
  it("creates an endpoint with a whsec_ secret shown once (24–32 random bytes), stored URL in its parsed form", async () => {
    const host = await hostWithToken();
    const res = await api("POST", BASE, host.token, {
      url: "HTTPS://Hooks.Example.COM/in",
      events: ["order.created", "event.published", "order.created"],
      description: "CRM",
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as ApiEndpoint;
    expect(created).toMatchObject({
      url: "https://hooks.example.com/in",
      events: ["order.created", "event.published"],
      description: "CRM",
      enabled: true,
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const key = atob((created.secret ?? "").slice("whsec_".length));
    expect(key.length).toBeGreaterThanOrEqual(24);
    expect(key.length).toBeLessThanOrEqual(32);
    // The reference library accepts it as a secret.
    expect(() => new Webhook(created.secret ?? "")).not.toThrow();
    // Never shown again.
    const listed = (await (await api("GET", BASE, host.token)).json()) as { items: ApiEndpoint[] };
    expect(listed.items.map((e) => e.id)).toEqual([created.id]);
    expect(listed.items[0]).not.toHaveProperty("secret");
    const one = (await (await api("GET", `${BASE}/${created.id}`, host.token)).json()) as ApiEndpoint;
    expect(one).not.toHaveProperty("secret");
    expect(JSON.stringify(one)).not.toContain(created.secret);
  });

  it("refuses every bypass spelling of an internal URL with 422 invalid-url and its reason, storing nothing", async () => {
    const host = await hostWithToken();
    // Enough write budget for the whole list (the `dashboard-write` policy itself is tested with links).
    const bindings = { ...env, RATE_LIMITS: '{"dashboard-write":{"limit":1000,"windowSeconds":60}}' } as Env;
    const app = createApp();
    const wrong: string[] = [];
    for (const [url, reason] of UNSAFE_URLS) {
      const res = await app.request(
        BASE,
        {
          method: "POST",
          headers: { ...bearer(host.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
          body: JSON.stringify({ url, events: ["order.created"] }),
        },
        bindings,
      );
      const problem = res.status === 422 ? await problemOf(res) : null;
      if (!problem || codeOf(problem) !== "invalid-url" || problem.reason !== reason) {
        wrong.push(`${JSON.stringify(url)}: ${res.status} ${problem ? `${codeOf(problem)} ${problem.reason}` : ""}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(UNSAFE_URLS.length).toBeGreaterThanOrEqual(80);
    expect(await endpointRows(host.id)).toEqual([]);
    // And as an edit.
    const endpoint = await createEndpoint(host.token, "https://ok.example.com/");
    const res = await api("PATCH", `${BASE}/${endpoint.id}`, host.token, { url: "http://0x7f.1/" });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).reason).toBe("loopback");
    expect((await rows("SELECT url FROM webhook_endpoints WHERE id = ?", endpoint.id))[0]).toEqual({
      url: "https://ok.example.com/",
    });
  });

  it("accepts loopback only with OUTGOING_ALLOW_LOOPBACK=1 outside production", async () => {
    const host = await hostWithToken();
    const post = (bindings: Env) =>
      createApp().request(
        BASE,
        {
          method: "POST",
          headers: { ...bearer(host.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
          body: JSON.stringify({ url: "http://127.0.0.1:8788/hooks", events: ["order.created"] }),
        },
        bindings,
      );
    expect((await post(env)).status).toBe(422);
    const allowed = await post({ ...env, OUTGOING_ALLOW_LOOPBACK: "1" } as Env);
    expect(allowed.status).toBe(201);
    // Only exactly "1", and never in production.
    expect(getConfig({ ...env, OUTGOING_ALLOW_LOOPBACK: "true" } as Env).outgoingAllowLoopback).toBe(false);
    expect(
      getConfig({
        ...env,
        ENVIRONMENT: "production",
        PUBLIC_URL: "https://tickets.example",
        OUTGOING_ALLOW_LOOPBACK: "1",
      } as Env).outgoingAllowLoopback,
    ).toBe(false);
  });

  it("refuses an unknown event type, an empty list and fields it does not take with 400, storing nothing", async () => {
    const host = await hostWithToken();
    for (const payload of [
      { url: "https://a.example.com/", events: ["order.exploded"] },
      { url: "https://a.example.com/", events: [] },
      { url: "https://a.example.com/" },
      { url: "https://a.example.com/", events: ["order.created"], secret: "whsec_mine" },
      { url: "https://a.example.com/", events: ["order.created"], enabled: false },
    ]) {
      const res = await api("POST", BASE, host.token, payload);
      expect(res.status, JSON.stringify(payload)).toBe(400);
      expect(codeOf(await problemOf(res))).toBe("validation-failed");
    }
    expect(await endpointRows(host.id)).toEqual([]);
  });

  it(`allows ${LIMITS.webhookEndpointsPerHost} endpoints per host and refuses the next with 409, also when they race`, async () => {
    const host = await hostWithToken();
    for (let i = 0; i < LIMITS.webhookEndpointsPerHost; i++) {
      await createEndpoint(host.token, `https://h${i}.example.com/`);
    }
    const res = await api("POST", BASE, host.token, {
      url: "https://one-more.example.com/",
      events: ["order.created"],
    });
    expect(res.status).toBe(409);
    expect(codeOf(await problemOf(res))).toBe("too-many-webhook-endpoints");
    expect(await countRows("webhook_endpoints", "host_id = ?", host.id)).toBe(LIMITS.webhookEndpointsPerHost);
    // Deleting one makes room for one.
    const first = ((await (await api("GET", BASE, host.token)).json()) as { items: ApiEndpoint[] }).items[0];
    expect((await api("DELETE", `${BASE}/${first?.id}`, host.token)).status).toBe(204);
    await createEndpoint(host.token, "https://replacement.example.com/");

    const racer = await hostWithToken();
    const results = await Promise.all(
      Array.from({ length: LIMITS.webhookEndpointsPerHost + 5 }, (_, i) =>
        api("POST", BASE, racer.token, { url: `https://r${i}.example.com/`, events: ["order.created"] }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(LIMITS.webhookEndpointsPerHost);
    expect(statuses.filter((s) => s === 409)).toHaveLength(5);
    expect(await countRows("webhook_endpoints", "host_id = ?", racer.id)).toBe(LIMITS.webhookEndpointsPerHost);
  });

  it("edits URL, events and description; disabling says `host`, enabling clears the failing run", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://a.example.com/");
    const edited = await api("PATCH", `${BASE}/${endpoint.id}`, host.token, {
      url: "https://b.example.com/x",
      events: ["tip.received"],
      description: "tips",
    });
    expect(edited.status).toBe(200);
    expect(await edited.json()).toMatchObject({
      url: "https://b.example.com/x",
      events: ["tip.received"],
      description: "tips",
      enabled: true,
    });
    const off = await api("PATCH", `${BASE}/${endpoint.id}`, host.token, { enabled: false });
    expect(await off.json()).toMatchObject({ enabled: false, disabledReason: "host" });
    // As if we had disabled it after 5 days of failures.
    await env.DB.prepare("UPDATE webhook_endpoints SET disabled_reason = 'failing', failing_since = 1 WHERE id = ?")
      .bind(endpoint.id)
      .run();
    const on = await api("PATCH", `${BASE}/${endpoint.id}`, host.token, { enabled: true });
    expect(await on.json()).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    expect(
      await rows("SELECT enabled, disabled_reason, failing_since FROM webhook_endpoints WHERE id = ?", endpoint.id),
    ).toEqual([{ enabled: 1, disabled_reason: null, failing_since: null }]);
    const cleared = await api("PATCH", `${BASE}/${endpoint.id}`, host.token, { description: null });
    expect(await cleared.json()).toMatchObject({ description: null });
  });

  it("answers 404 for another host's endpoint and its deliveries on every route, changing nothing", async () => {
    const owner = await hostWithToken();
    const other = await hostWithToken();
    const endpoint = await createEndpoint(owner.token, "https://mine.example.com/");
    receiver("https://mine.example.com", () => [endpoint.secret]);
    const ping = await api("POST", `${BASE}/${endpoint.id}/test`, owner.token);
    const delivery = (await ping.json()) as ApiDelivery;
    const before = await endpointRows(owner.id);
    for (const [method, path, payload] of [
      ["GET", `${BASE}/${endpoint.id}`],
      ["PATCH", `${BASE}/${endpoint.id}`, { enabled: false }],
      ["DELETE", `${BASE}/${endpoint.id}`],
      ["POST", `${BASE}/${endpoint.id}/rotate-secret`],
      ["GET", `${BASE}/${endpoint.id}/deliveries`],
      ["POST", `${BASE}/${endpoint.id}/test`],
      ["POST", `${BASE}/deliveries/${delivery.id}/replay`],
    ] as const) {
      const res = await api(method, path, other.token, payload);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(codeOf(await problemOf(res))).toBe("not-found");
    }
    expect(await endpointRows(owner.id)).toEqual(before);
    expect(((await (await api("GET", BASE, other.token)).json()) as { items: unknown[] }).items).toEqual([]);
  });

  it("the POST actions are exactly the contract's: any other action or segment is 404, a bad id 400", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://actions.example.com/");
    for (const path of [
      `${BASE}/${endpoint.id}/rotate`,
      `${BASE}/${endpoint.id}/deliveries`,
      `${BASE}/replays/${endpoint.id}/replay`,
      `${BASE}/deliveries/${endpoint.id}/retry`,
    ]) {
      const res = await api("POST", path, host.token);
      expect(res.status, path).toBe(404);
      expect(codeOf(await problemOf(res))).toBe("not-found");
    }
    const long = await api("POST", `${BASE}/${"x".repeat(65)}/test`, host.token);
    expect(long.status).toBe(400);
    expect(codeOf(await problemOf(long))).toBe("validation-failed");
    // The secret did not change on the way.
    expect(await storedSecrets("SELECT secret FROM webhook_endpoints WHERE id = ?", endpoint.id)).toEqual([
      { secret: endpoint.secret },
    ]);
  });

  it("is for signed-in hosts: anonymous 401, a user who is not a host 403", async () => {
    const [user] = await buyers(1);
    const anonymous = await api("GET", BASE, "");
    expect(anonymous.status).toBe(401);
    const notHost = await api("POST", BASE, user?.token ?? "", {
      url: "https://a.example.com/",
      events: ["order.created"],
    });
    expect(notHost.status).toBe(403);
    expect(codeOf(await problemOf(notHost))).toBe("forbidden");
  });

  it("an API key cannot manage endpoints, whatever its scopes: 403 insufficient-scope, nothing stored", async () => {
    const { host, key } = await hostWithKey();
    const endpoint = await createEndpoint(host.token, "https://a.example.com/");
    for (const [method, path, payload] of [
      ["POST", BASE, { url: "https://b.example.com/", events: ["order.created"] }],
      ["GET", BASE],
      ["GET", `${BASE}/${endpoint.id}`],
      ["PATCH", `${BASE}/${endpoint.id}`, { enabled: false }],
      ["POST", `${BASE}/${endpoint.id}/rotate-secret`],
      ["POST", `${BASE}/${endpoint.id}/test`],
    ] as const) {
      const res = await withKey(key.key, path, {
        method,
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(codeOf(await problemOf(res))).toBe("insufficient-scope");
    }
    expect(await storedSecrets("SELECT id, enabled, secret FROM webhook_endpoints WHERE host_id = ?", host.id)).toEqual(
      [{ id: endpoint.id, enabled: 1, secret: endpoint.secret }],
    );
  });

  it("rotating returns a new secret once and keeps the previous one signing until the overlap ends", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://a.example.com/");
    const res = await api("POST", `${BASE}/${endpoint.id}/rotate-secret`, host.token);
    const rotated = (await res.json()) as ApiEndpoint & { previousSecretExpiresAt: string };
    expect(rotated.secret).toMatch(/^whsec_/);
    expect(rotated.secret).not.toBe(endpoint.secret);
    const [row] = await rows<{ secret: string; previous_secret: string; previous_secret_expires_at: number }>(
      "SELECT secret, previous_secret, previous_secret_expires_at FROM webhook_endpoints WHERE id = ?",
      endpoint.id,
    );
    // Stored sealed, the old value moved to previous_secret as it was.
    expect(opened(row?.secret)).toBe(rotated.secret);
    expect(opened(row?.previous_secret)).toBe(endpoint.secret);
    expect(Date.parse(rotated.previousSecretExpiresAt)).toBe(row?.previous_secret_expires_at);
    expect((row?.previous_secret_expires_at ?? 0) - Date.now()).toBeLessThanOrEqual(LIMITS.webhookSecretOverlapMs);
    expect((row?.previous_secret_expires_at ?? 0) - Date.now()).toBeGreaterThan(LIMITS.webhookSecretOverlapMs - 60_000);
  });
});

describe("webhook endpoints: test ping, delivery log, replay", () => {
  it("a test ping reaches that endpoint only, signed, typed webhook.test, and shows in the log", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://ping.example.com/in");
    const sibling = await createEndpoint(host.token, "https://sibling.example.com/in");
    const hook = receiver(
      "https://ping.example.com",
      () => [endpoint.secret],
      () => ok("pong"),
    );
    const siblingHook = receiver("https://sibling.example.com", () => [sibling.secret]);
    const res = await api("POST", `${BASE}/${endpoint.id}/test`, host.token);
    expect(res.status).toBe(200);
    const delivery = (await res.json()) as ApiDelivery;
    expect(delivery).toMatchObject({
      type: "webhook.test",
      status: "succeeded",
      attempts: 1,
      lastStatusCode: 200,
      responseSnippet: "pong",
    });
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]?.verifiedBy).toEqual([0]);
    expect(hook.received[0]?.id).toBe(delivery.eventId);
    expect(JSON.parse(hook.received[0]?.body ?? "")).toMatchObject({
      type: "webhook.test",
      data: { endpointId: endpoint.id },
    });
    expect(siblingHook.received).toHaveLength(0);
    const log = (await (await api("GET", `${BASE}/${endpoint.id}/deliveries`, host.token)).json()) as {
      items: ApiDelivery[];
    };
    expect(log.items.map((d) => d.id)).toEqual([delivery.id]);
  });

  it("a failed ping is failed at once with what the endpoint said; replay tries again with the same webhook-id", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://flaky.example.com/in");
    const hook = receiver(
      "https://flaky.example.com",
      () => [endpoint.secret],
      (n) => (n === 1 ? fail(500, "x".repeat(5000)) : ok()),
    );
    const ping = (await (await api("POST", `${BASE}/${endpoint.id}/test`, host.token)).json()) as ApiDelivery;
    expect(ping).toMatchObject({ status: "failed", attempts: 1, lastStatusCode: 500 });
    expect(ping.responseSnippet).toHaveLength(LIMITS.webhookResponseSnippetChars);
    const replay = await api("POST", `${BASE}/deliveries/${ping.id}/replay`, host.token);
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ id: ping.id, status: "succeeded", attempts: 2, lastStatusCode: 200 });
    expect(hook.received.map((r) => r.id)).toEqual([ping.eventId, ping.eventId]);
    expect(hook.received.every((r) => r.verifiedBy.length === 1)).toBe(true);
    expect(hook.received[0]?.body).toBe(hook.received[1]?.body);
    expect(await countRows("webhook_attempts", "delivery_id = ?", ping.id)).toBe(2);
  });

  it("replays a delivery the schedule gave up on; a disabled endpoint refuses replay and ping with 409", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://late.example.com/in");
    let up = false;
    const hook = receiver(
      "https://late.example.com",
      () => [endpoint.secret],
      () => (up ? ok() : fail(502)),
    );
    const sim = new WebhookHarness();
    const eventId = await writeEvent(host.id, "order.created", { orderId: "o-9" });
    sim.wake(eventId);
    freezeClock();
    await sim.drain();
    // Back to now: the host's session would have expired on the schedule's clock.
    vi.useRealTimers();
    const [failed] = await rows<{ id: string; status: string; attempts: number }>(
      "SELECT id, status, attempts FROM webhook_deliveries WHERE event_id = ?",
      eventId,
    );
    expect(failed).toMatchObject({ status: "failed", attempts: 8 });
    up = true;
    const replayed = await api("POST", `${BASE}/deliveries/${failed?.id}/replay`, host.token);
    expect(await replayed.json()).toMatchObject({ status: "succeeded", attempts: 9, eventId });
    expect(new Set(hook.received.map((r) => r.id))).toEqual(new Set([eventId]));

    await api("PATCH", `${BASE}/${endpoint.id}`, host.token, { enabled: false });
    const refusedReplay = await api("POST", `${BASE}/deliveries/${failed?.id}/replay`, host.token);
    expect(refusedReplay.status).toBe(409);
    expect(codeOf(await problemOf(refusedReplay))).toBe("invalid-transition");
    const refusedPing = await api("POST", `${BASE}/${endpoint.id}/test`, host.token);
    expect(refusedPing.status).toBe(409);
    expect(hook.received).toHaveLength(9);
  });

  it("deleting an endpoint with a delivery log answers 204 and takes its deliveries and attempts with it", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://logged.example.com/in");
    receiver("https://logged.example.com", () => [endpoint.secret]);
    const ping = (await (await api("POST", `${BASE}/${endpoint.id}/test`, host.token)).json()) as ApiDelivery;
    expect(await countRows("webhook_attempts", "delivery_id = ?", ping.id)).toBe(1);
    expect((await api("DELETE", `${BASE}/${endpoint.id}`, host.token)).status).toBe(204);
    expect(await countRows("webhook_deliveries", "endpoint_id = ?", endpoint.id)).toBe(0);
    expect(await countRows("webhook_attempts", "delivery_id = ?", ping.id)).toBe(0);
    expect((await api("DELETE", `${BASE}/${endpoint.id}`, host.token)).status).toBe(404);
  });

  it("pages the delivery log newest first with a cursor, and refuses a made-up cursor", async () => {
    const host = await hostWithToken();
    const endpoint = await createEndpoint(host.token, "https://paged.example.com/in");
    receiver("https://paged.example.com", () => [endpoint.secret]);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(((await (await api("POST", `${BASE}/${endpoint.id}/test`, host.token)).json()) as ApiDelivery).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await api("GET", `${BASE}/${endpoint.id}/deliveries${query}`, host.token)).json()) as {
        items: ApiDelivery[];
        nextCursor: string | null;
      };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(seen).toHaveLength(5);
    const bad = await api("GET", `${BASE}/${endpoint.id}/deliveries?cursor=nonsense!`, host.token);
    expect(bad.status).toBe(400);
  });
});
