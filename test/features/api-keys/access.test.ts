/**
 * What a key may do: act on its own host's events only (another host's event is 404), within its
 * scopes (403 insufficient-scope otherwise, and on every route that names no scope), and nothing once
 * revoked. Unknown, revoked and malformed keys are 401, never anonymous.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { API_KEY_SCOPES } from "../../../src/db/schema-integrations";
import { call, problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { grantRoles } from "../../support/sessions";
import { bearer } from "../auth/helpers";
import { createEvent, eventBody } from "../events/helpers";
import { createKey, hostWithKey, KEYS_PATH, withKey } from "./helpers";

const json = (body: unknown) => ({ body: JSON.stringify(body) });

async function expectCode(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

describe("a key acts on its own host's events", () => {
  it("with events:write it creates, edits, publishes and cancels its host's events", async () => {
    const { host, key } = await hostWithKey(["events:write", "events:read"]);
    const created = await withKey(key.key, "/api/v1/events", { method: "POST", ...json(eventBody()) });
    expect(created.status).toBe(201);
    const event = (await created.json()) as { id: string; hostId: string; version: number };
    expect(event.hostId).toBe(host.id);

    const edited = await withKey(key.key, `/api/v1/events/${event.id}`, {
      method: "PATCH",
      ...json({ title: "Renamed by the CRM", version: event.version }),
    });
    expect(edited.status).toBe(200);
    expect(await edited.json()).toMatchObject({ title: "Renamed by the CRM", version: event.version + 1 });
    expect((await withKey(key.key, `/api/v1/events/${event.id}/publish`, { method: "POST" })).status).toBe(200);
    expect((await withKey(key.key, `/api/v1/events/${event.id}/cancel`, { method: "POST" })).status).toBe(200);
    const [row] = await rows<{ status: string; title: string }>(
      "SELECT status, title FROM events WHERE id = ?",
      event.id,
    );
    expect(row).toEqual({ status: "cancelled", title: "Renamed by the CRM" });
  });

  it("another host's event is 404 to a key, draft or published, read or written, and nothing changes", async () => {
    const { key } = await hostWithKey();
    const other = await hostWithKey();
    const published = await createEvent(other.host.token);
    const draft = await createEvent(other.host.token, {}, false);
    for (const event of [published, draft]) {
      await expectCode(await withKey(key.key, `/api/v1/events/${event.id}`), 404, "not-found");
      await expectCode(
        await withKey(key.key, `/api/v1/events/${event.id}`, { method: "PATCH", ...json({ title: "x", version: 1 }) }),
        404,
        "not-found",
      );
      await expectCode(
        await withKey(key.key, `/api/v1/events/${event.id}/cancel`, { method: "POST" }),
        404,
        "not-found",
      );
      for (const list of ["orders", "attendees", "checkins", "gate/stats"]) {
        await expectCode(await withKey(key.key, `/api/v1/events/${event.id}/${list}`), 404, "not-found");
      }
    }
    await expectCode(
      await withKey(key.key, `/api/v1/events/${draft.id}/publish`, { method: "POST" }),
      404,
      "not-found",
    );
    const stored = await rows<{ status: string; title: string }>(
      "SELECT status, title FROM events WHERE id IN (?, ?) ORDER BY status",
      published.id,
      draft.id,
    );
    expect(stored.map((r) => r.status)).toEqual(["draft", "published"]);
    expect(stored.every((r) => r.title === "Rooftop Jazz")).toBe(true);
    // A session of a third host still gets today's answers: 403 for a published event, 404 for a draft.
    const third = await hostWithKey();
    const patch = (id: string) =>
      call(`/api/v1/events/${id}`, {
        method: "PATCH",
        headers: { ...bearer(third.host.token), "Content-Type": "application/json" },
        ...json({ title: "x", version: 1 }),
      });
    await expectCode(await patch(published.id), 403, "forbidden");
    await expectCode(await patch(draft.id), 404, "not-found");
  });

  it("GET /api/v1/events/:id shows the key its own host's draft (events:read), never another host's", async () => {
    const { host, key } = await hostWithKey(["events:read"]);
    const draft = await createEvent(host.token, {}, false);
    const res = await withKey(key.key, `/api/v1/events/${draft.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: draft.id, status: "draft", availability: expect.any(Object) });
    // Anonymous: the draft does not exist.
    expect((await call(`/api/v1/events/${draft.id}`)).status).toBe(404);
  });
});

describe("a key acts within its scopes", () => {
  it("each route answers 403 insufficient-scope to a key without its scope, and changes nothing", async () => {
    const { host, key: full } = await hostWithKey();
    const event = await createEvent(host.token);
    const draft = await createEvent(host.token, {}, false);
    const needs: [string, string, RequestInit?][] = [
      ["events:read", `/api/v1/events/${event.id}`],
      ["events:read", "/api/v1/me/events"],
      ["events:write", "/api/v1/events", { method: "POST", ...json(eventBody()) }],
      ["events:write", `/api/v1/events/${event.id}`, { method: "PATCH", ...json({ title: "x", version: 2 }) }],
      ["events:write", `/api/v1/events/${draft.id}/publish`, { method: "POST" }],
      ["events:write", `/api/v1/events/${event.id}/cancel`, { method: "POST" }],
      ["orders:read", `/api/v1/events/${event.id}/orders`],
      ["attendees:read", `/api/v1/events/${event.id}/attendees`],
      ["checkins:read", `/api/v1/events/${event.id}/checkins`],
      ["checkins:read", `/api/v1/events/${event.id}/gate/stats`],
    ];
    for (const [scope, path, init] of needs) {
      // A key with every scope but this one is refused; the full key is let through.
      const others = API_KEY_SCOPES.filter((s) => s !== scope);
      const { key: lacking } = await createKey(host.token, others, "lacks one scope");
      const refused = await withKey(lacking, path, init);
      expect(refused.status, `${scope} ${path}`).toBe(403);
      const problem = await problemOf(refused);
      expect(codeOf(problem)).toBe("insufficient-scope");
      expect(problem.scope).toBe(scope);
      if (init?.method !== "POST" && init?.method !== "PATCH") {
        expect((await withKey(full.key, path, init)).status, `${scope} ${path}`).toBe(200);
      }
    }
    expect(await countRows("events", "host_id = ?", host.id)).toBe(2);
    const [row] = await rows<{ status: string; version: number }>(
      "SELECT status, version FROM events WHERE id = ?",
      event.id,
    );
    expect(row).toEqual({ status: "published", version: 2 });
  });

  it("routes that name no scope refuse every key with 403 insufficient-scope: posts, keys, orders, analytics, devices, /me", async () => {
    const { host, key } = await hostWithKey();
    const event = await createEvent(host.token);
    const attempts: [string, RequestInit?][] = [
      ["/api/v1/posts", { method: "POST", ...json({ text: "hello from a key" }) }],
      [KEYS_PATH, { method: "POST", ...json({ name: "x", scopes: ["events:read"] }) }],
      [KEYS_PATH],
      [`/api/v1/events/${event.id}/orders`, { method: "POST", ...json({ quantity: 1 }) }],
      [`/api/v1/events/${event.id}/analytics`],
      [`/api/v1/events/${event.id}/devices`],
      [`/api/v1/events/${event.id}/devices`, { method: "POST", ...json({ name: "g", role: "steward" }) }],
      ["/api/v1/me/tickets"],
      ["/api/v1/me/host", { method: "POST" }],
      ["/api/v1/me/payouts"],
    ];
    for (const [path, init] of attempts) {
      await expectCode(await withKey(key.key, path, init), 403, "insufficient-scope");
    }
    expect(await countRows("posts", "author_id = ?", host.id)).toBe(0);
    expect(await countRows("orders", "event_id = ?", event.id)).toBe(0);
    expect(await countRows("gate_devices", "event_id = ?", event.id)).toBe(0);
  });

  it("pages and public reads treat a key as anonymous: it never reaches the host's dashboard", async () => {
    const { key } = await hostWithKey();
    const res = await withKey(key.key, "/host", { headers: { Accept: "text/html" } });
    // The sign-in page (or a redirect to it), not the host's events.
    expect([200, 302, 303, 401]).toContain(res.status);
    const text = await res.text();
    expect(text).not.toContain("Rooftop Jazz");
  });

  it("a key of a host who lost the role cannot create events (403), though it still authenticates", async () => {
    const { host, key } = await hostWithKey(["events:write", "events:read"]);
    await grantRoles(host.id, ["attendee"]);
    await expectCode(
      await withKey(key.key, "/api/v1/events", { method: "POST", ...json(eventBody()) }),
      403,
      "forbidden",
    );
    await expectCode(await withKey(key.key, "/api/v1/me/events"), 403, "forbidden");
    expect(await countRows("events", "host_id = ?", host.id)).toBe(0);
  });
});

describe("the access log", () => {
  it("names the key's host on every key request, let through or refused, and never logs the key", async () => {
    const { host, key } = await hostWithKey(["events:read"]);
    const logs = captureLogs();
    expect((await call("/api/v1/me/events", { headers: bearer(host.token) })).status).toBe(200);
    expect((await withKey(key.key, "/api/v1/me/events")).status).toBe(200);
    expect((await withKey(key.key, KEYS_PATH)).status).toBe(403);
    const users = logs.entries("request").map((e) => e.user);
    expect(users).toHaveLength(3);
    expect(users[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(users).toEqual([users[0], users[0], users[0]]);
    expect(logs.text()).not.toContain(key.key.slice(8));
  });
});

describe("bad keys are 401, never anonymous", () => {
  it("unknown, revoked and malformed keys are refused on public routes too", async () => {
    const { host, key } = await hostWithKey();
    await call(`${KEYS_PATH}/${key.id}`, { method: "DELETE", headers: bearer(host.token) });
    const unknown = `gh_live_${"A".repeat(43)}`;
    const malformed = ["gh_live_", "gh_live_short", `gh_live_${"A".repeat(44)}`, `gh_live_${"A".repeat(42)}!`];
    for (const value of [key.key, unknown, ...malformed]) {
      // GET /api/v1/events is public: a bad key there is still an error, not an anonymous read.
      const res = await withKey(value, "/api/v1/events");
      expect(res.status, value).toBe(401);
      expect(codeOf(await problemOf(res))).toBe("unauthorized");
    }
  });

  it("a key of an erased account is refused like a revoked one", async () => {
    const { host, key } = await hostWithKey();
    expect((await withKey(key.key, "/api/v1/me/events")).status).toBe(200);
    await env.DB.prepare("UPDATE users SET erased_at = ? WHERE id = ?").bind(Date.now(), host.id).run();
    await expectCode(await withKey(key.key, "/api/v1/me/events"), 401, "unauthorized");
  });

  it("a key never reaches JWT verification: a key-shaped bearer is not a user token, nor the other way", async () => {
    const { host } = await hostWithKey();
    // A session token still works alongside (the chain tries the key authenticator first, by prefix).
    expect((await call("/api/v1/me/events", { headers: bearer(host.token) })).status).toBe(200);
    const res = await call("/api/v1/me/events", { headers: bearer(`gh_live_${host.token}`) });
    expect(res.status).toBe(401);
  });
});
