/**
 * /host/integrations: API keys and webhook endpoints managed from the host's pages, through the same
 * services as the API. A new key or signing secret is in the answer to its form once, and never on
 * the page again; revoking a key refuses it at once; an endpoint can be turned off, on, and deleted.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { withKey } from "../features/api-keys/helpers";
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
      "https://hooks.example.com/in Box office order.created, ticket.checked_in On",
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
