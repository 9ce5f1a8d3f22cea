/**
 * /host/integrations: API keys and webhook endpoints managed from the host's pages, through the same
 * services as the API. A new key or signing secret is in the answer to its form once, and never on
 * the page again; revoking a key refuses it at once; an endpoint can be turned off, on, rotated and
 * deleted; its deliveries page lists what was sent and what came back, replays a delivery and sends a
 * test ping.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { WEBHOOK_SECRET_CONTEXT } from "../../src/features/webhooks";
import { DELIVERIES_PER_PAGE } from "../../src/web/pages/host/deliveries";
import { withKey } from "../features/api-keys/helpers";
import { fail, ok, receiver, subscribe } from "../features/webhooks/harness";
import { decode, signedIn } from "./host-helpers";

const textOf = (html: string) =>
  decode(html.replace(/<[^>]+>/g, " "))
    .replace(/\s+/g, " ")
    .trim();

/** The one-time value the page shows in its secret card. */
const secretOf = (html: string) => decode(/id="secret-value"[^>]*value="([^"]+)"/.exec(html)?.[1] ?? "");

describe("/host/integrations: API keys", () => {
  it("creates a key shown once that works with the API; the page lists it without the key; revoking refuses it at once", async () => {
    const { browser, user } = await signedIn();
    const page = await browser.get("/host/integrations");
    expect(page.status).toBe(200);
    expect(textOf(page.html)).toContain("No keys yet");

    const count = async () =>
      (
        await env.DB.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE host_id = ?")
          .bind(user.id)
          .first<{ n: number }>()
      )?.n;
    const nameless = await browser.submit("/host/integrations/keys", { name: " ", "scope:events:read": "on" });
    expect(nameless.status).toBe(400);
    expect(textOf(nameless.html)).toContain("Give the key a name");
    const scopeless = await browser.submit("/host/integrations/keys", { name: "CRM sync" });
    expect(scopeless.status).toBe(400);
    expect(textOf(scopeless.html)).toContain("Choose at least one thing the key may do.");
    // What was typed stays in the form.
    expect(scopeless.html).toContain('value="CRM sync"');
    expect(await count()).toBe(0);

    const created = await browser.submit("/host/integrations/keys", { name: "CRM sync", "scope:events:read": "on" });
    expect(created.status).toBe(200);
    expect(created.headers.get("Cache-Control")).toBe("no-store");
    const key = secretOf(created.html);
    expect(key).toMatch(/^gh_live_/);
    expect(textOf(created.html)).toContain("shown only now");
    const row = await env.DB.prepare("SELECT id, name, scopes, key_hash FROM api_keys WHERE host_id = ?")
      .bind(user.id)
      .first<{ id: string; name: string; scopes: string; key_hash: string }>();
    expect(row).toMatchObject({ name: "CRM sync", scopes: '["events:read"]' });
    expect(row?.key_hash).not.toContain(key);
    expect((await withKey(key, "/api/v1/me/events")).status).toBe(200);

    const later = await browser.get("/host/integrations");
    expect(later.html).not.toContain(key);
    expect(textOf(later.html)).toContain(`CRM sync ${key.slice(0, 12)}`);
    expect(later.html).toContain(`name="id" value="${row?.id}"`);

    const revoked = await browser.submit("/host/integrations/keys/revoke", { id: row?.id ?? "" });
    expect(revoked.status).toBe(303);
    expect(revoked.location).toBe("/host/integrations?notice=key-revoked#keys");
    expect((await withKey(key, "/api/v1/me/events")).status).toBe(401);
    expect(textOf((await browser.get("/host/integrations?notice=key-revoked")).html)).toContain("Revoked");
  });

  it("is a host's page: another user gets 403, another host cannot revoke the key (404)", async () => {
    const { browser } = await signedIn();
    await browser.get("/host/integrations");
    const created = await browser.submit("/host/integrations/keys", { name: "Mine", "scope:orders:read": "on" });
    const key = secretOf(created.html);
    const id = /name="id" value="([^"]+)"/.exec(created.html)?.[1] ?? "";
    expect(id).not.toBe("");

    const attendee = await signedIn({ roles: ["attendee"] });
    expect((await attendee.browser.get("/host/integrations")).status).toBe(403);
    const other = await signedIn();
    await other.browser.get("/host/integrations");
    expect((await other.browser.submit("/host/integrations/keys/revoke", { id })).status).toBe(404);
    expect((await withKey(key, "/api/v1/me/events")).status).not.toBe(401);
  });
});

describe("/host/integrations: webhook endpoints", () => {
  it("adds an endpoint with its signing secret shown once (stored sealed), turns it off and on, and deletes it", async () => {
    const { browser, user } = await signedIn();
    const rowsOf = () =>
      env.DB.prepare(
        "SELECT id, url, event_types, secret, enabled, disabled_reason FROM webhook_endpoints WHERE host_id = ?",
      )
        .bind(user.id)
        .all<{
          id: string;
          url: string;
          event_types: string;
          secret: string;
          enabled: number;
          disabled_reason: string | null;
        }>()
        .then((r) => r.results);
    await browser.get("/host/integrations");

    const inside = await browser.submit("/host/integrations/endpoints", {
      url: "https://10.0.0.7/hooks",
      "event:order.created": "on",
    });
    expect(inside.status).toBe(422);
    expect(textOf(inside.html)).toContain("The URL is not allowed");
    const eventless = await browser.submit("/host/integrations/endpoints", { url: "https://hooks.example.com/in" });
    expect(eventless.status).toBe(400);
    expect(textOf(eventless.html)).toContain("Choose at least one event");
    expect(await rowsOf()).toEqual([]);

    const created = await browser.submit("/host/integrations/endpoints", {
      url: "https://hooks.example.com/in",
      description: "Box office",
      "event:order.created": "on",
      "event:ticket.checked_in": "on",
    });
    expect(created.status).toBe(200);
    const secret = secretOf(created.html);
    expect(secret).toMatch(/^whsec_/);
    const [row] = await rowsOf();
    expect(row).toMatchObject({
      url: "https://hooks.example.com/in",
      event_types: '["order.created","ticket.checked_in"]',
      enabled: 1,
    });
    expect(row?.secret).not.toContain(secret.slice("whsec_".length));

    const listed = await browser.get("/host/integrations");
    expect(listed.html).not.toContain(secret);
    expect(textOf(listed.html)).toContain(
      "https://hooks.example.com/in Box office Deliveries to https://hooks.example.com/in order.created, ticket.checked_in On",
    );

    const id = row?.id ?? "";
    const off = await browser.submit("/host/integrations/endpoints/change", { change: `disable:${id}` });
    expect(off.status).toBe(303);
    expect(off.location).toBe("/host/integrations?notice=endpoint-disabled#webhooks");
    expect(await rowsOf()).toEqual([expect.objectContaining({ enabled: 0, disabled_reason: "host" })]);
    expect(textOf((await browser.get("/host/integrations")).html)).toContain("Turned off by you");
    const on = await browser.submit("/host/integrations/endpoints/change", { change: `enable:${id}` });
    expect(on.location).toBe("/host/integrations?notice=endpoint-enabled#webhooks");
    expect(await rowsOf()).toEqual([expect.objectContaining({ enabled: 1, disabled_reason: null })]);

    // Nobody else's, and no other change.
    const other = await signedIn();
    await other.browser.get("/host/integrations");
    expect((await other.browser.submit("/host/integrations/endpoints/change", { change: `delete:${id}` })).status).toBe(
      404,
    );
    expect((await browser.submit("/host/integrations/endpoints/change", { change: `explode:${id}` })).status).toBe(404);
    expect(await rowsOf()).toHaveLength(1);

    const deleted = await browser.submit("/host/integrations/endpoints/change", { change: `delete:${id}` });
    expect(deleted.location).toBe("/host/integrations?notice=endpoint-deleted#webhooks");
    expect(await rowsOf()).toEqual([]);
  });
});

describe("/host/integrations: an endpoint's deliveries", () => {
  it("a test ping and what the endpoint answered, a replay with the same webhook-id, a rotation shown once", async () => {
    const { browser, user } = await signedIn();
    const origin = `https://hooks-${crypto.randomUUID()}.example.com`;
    await browser.get("/host/integrations");
    const created = await browser.submit("/host/integrations/endpoints", {
      url: `${origin}/in`,
      "event:order.created": "on",
    });
    const secrets = [secretOf(created.html)];
    const hook = receiver(
      origin,
      () => secrets,
      (n) => (n === 1 ? fail(503, "down for maintenance") : ok("thanks")),
    );
    const id =
      (await env.DB.prepare("SELECT id FROM webhook_endpoints WHERE host_id = ?").bind(user.id).first<{ id: string }>())
        ?.id ?? "";
    const pagePath = `/host/integrations/endpoints/${id}`;
    expect((await browser.get("/host/integrations")).html).toContain(`href="${pagePath}"`);

    const empty = await browser.get(pagePath);
    expect(empty.status).toBe(200);
    expect(textOf(empty.html)).toContain("Nothing delivered yet");
    expect(empty.html).toContain(`value="test:${id}"`);

    const ping = await browser.submit("/host/integrations/endpoints/change", { change: `test:${id}` });
    expect(ping.status).toBe(303);
    expect(ping.location).toBe(`${pagePath}?notice=test-sent#deliveries`);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]?.verifiedBy).toEqual([0]);
    const failed = await browser.get(`${pagePath}?notice=test-sent`);
    expect(textOf(failed.html)).toContain("Test ping sent");
    expect(textOf(failed.html)).toMatch(
      /webhook\.test Failed 1 attempt HTTP 503 in \d+ ms Response body down for maintenance/,
    );
    const deliveryId = /name="id" value="([^"]+)"/.exec(failed.html)?.[1] ?? "";
    expect(deliveryId).toMatch(/^dlv_/);

    const replay = await browser.submit("/host/integrations/deliveries/replay", { id: deliveryId, endpoint: id });
    expect(replay.status).toBe(303);
    expect(replay.location).toBe(`${pagePath}?notice=replayed#d-${deliveryId}`);
    expect(hook.received.map((r) => r.id)).toEqual([hook.received[0]?.id, hook.received[0]?.id]);
    expect(hook.received[1]?.body).toBe(hook.received[0]?.body);
    expect(textOf((await browser.get(pagePath)).html)).toMatch(/webhook\.test Delivered 2 attempts HTTP 200 in \d+ ms/);

    // Rotation: the new secret in this answer only; the previous one still signs during the overlap.
    const rotated = await browser.submit("/host/integrations/endpoints/change", { change: `rotate:${id}` });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get("Cache-Control")).toBe("no-store");
    const fresh = secretOf(rotated.html);
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(secrets[0]);
    expect(textOf(rotated.html)).toContain("The previous one keeps signing for 24 hours");
    expect((await browser.get("/host/integrations")).html).not.toContain(fresh);
    const row = await env.DB.prepare("SELECT secret, previous_secret FROM webhook_endpoints WHERE id = ?")
      .bind(id)
      .first<{ secret: string; previous_secret: string }>();
    expect(getConfig(env).pii.open(row?.secret ?? "", WEBHOOK_SECRET_CONTEXT)).toBe(fresh);
    secrets.push(fresh);
    await browser.submit("/host/integrations/endpoints/change", { change: `test:${id}` });
    expect(hook.received[2]?.verifiedBy).toEqual([0, 1]);

    // Nobody else's: another host sees no log and cannot replay.
    const other = await signedIn();
    expect((await other.browser.get(pagePath)).status).toBe(404);
    await other.browser.get("/host/integrations");
    expect(
      (await other.browser.submit("/host/integrations/deliveries/replay", { id: deliveryId, endpoint: id })).status,
    ).toBe(404);
    expect((await other.browser.submit("/host/integrations/endpoints/change", { change: `rotate:${id}` })).status).toBe(
      404,
    );
    expect(hook.received).toHaveLength(3);

    // Off: nothing can be sent to it from the page, and a stale form is refused with the reason.
    await browser.submit("/host/integrations/endpoints/change", { change: `disable:${id}` });
    const off = await browser.get(pagePath);
    expect(off.html).not.toContain(`value="test:${id}"`);
    expect(off.html).not.toContain(`value="${deliveryId}"`);
    expect(textOf(off.html)).toContain("Turn the endpoint on to send to it.");
    const stalePing = await browser.submit("/host/integrations/endpoints/change", { change: `test:${id}` });
    expect(stalePing.status).toBe(409);
    expect(textOf(stalePing.html)).toContain("enable it before sending to it");
    const staleReplay = await browser.submit("/host/integrations/deliveries/replay", { id: deliveryId, endpoint: id });
    expect(staleReplay.status).toBe(409);
    expect(hook.received).toHaveLength(3);
  });

  it("lists the deliveries newest first, a page at a time", async () => {
    const { browser, user } = await signedIn();
    const endpointId = await subscribe(user.id, ["order.created"]);
    const total = DELIVERIES_PER_PAGE + 3;
    const at = Date.now() - total * 1000;
    const statements = [];
    for (let i = 0; i < total; i++) {
      const eventId = `msg_page_${i}_${crypto.randomUUID()}`;
      statements.push(
        env.DB.prepare(
          "INSERT INTO webhook_events (id, host_id, type, data, created_at, fanned_out_at) VALUES (?, ?, 'order.created', '{}', ?, ?)",
        ).bind(eventId, user.id, at + i * 1000, at + i * 1000),
        env.DB.prepare(
          `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
           VALUES (?, ?, ?, 'succeeded', 1, NULL, ?, ?)`,
        ).bind(`dlv_page_${String(i).padStart(2, "0")}`, eventId, endpointId, at + i * 1000, at + i * 1000),
      );
    }
    await env.DB.batch(statements);
    const shown = (html: string) => [...html.matchAll(/id="d-(dlv_page_\d+)"/g)].map((m) => m[1]);
    const first = await browser.get(`/host/integrations/endpoints/${endpointId}`);
    expect(shown(first.html)).toEqual(
      Array.from({ length: DELIVERIES_PER_PAGE }, (_, i) => `dlv_page_${String(total - 1 - i).padStart(2, "0")}`),
    );
    const older = decode(/href="([^"]*cursor=[^"]*)"/.exec(first.html)?.[1] ?? "");
    expect(older).toContain(`/host/integrations/endpoints/${endpointId}?cursor=`);
    const second = await browser.get(older.replace(/#.*$/, ""));
    expect(shown(second.html)).toEqual(["dlv_page_02", "dlv_page_01", "dlv_page_00"]);
    expect(second.html).not.toContain("cursor=");
    expect(textOf(second.html)).toContain("Newest deliveries");
    expect((await browser.get(`/host/integrations/endpoints/${endpointId}?cursor=not-a-cursor`)).status).toBe(400);
  });
});
