/**
 * Managing API keys (the contract's "Integrations"): a host creates a key, sees it once, lists keys
 * without it, revokes one at once; only signed-in hosts, never a key; bounded by name, scopes and the
 * per-host cap.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { LIMITS } from "../../../src/config/limits";
import { API_KEY_SCOPES } from "../../../src/db/schema-integrations";
import { sha256Hex } from "../../../src/lib/crypto";
import { call, freshIp, problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { auditForUser, bearer, createUser, login, mailbox } from "../auth/helpers";
import { hostWithToken } from "../events/helpers";
import { type CreatedKey, createKey, hostWithKey, KEYS_PATH, postKey, withKey } from "./helpers";

describe("creating a key", () => {
  it("answers 201 with the key once; only its SHA-256 and a short prefix are stored; audited", async () => {
    const host = await hostWithToken();
    const res = await postKey(host.token, { name: "  CRM sync  ", scopes: ["orders:read", "events:read"] });
    expect(res.status).toBe(201);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const created = (await res.json()) as CreatedKey;
    expect(created).toEqual({
      id: expect.any(String),
      name: "CRM sync",
      scopes: ["orders:read", "events:read"],
      prefix: created.key.slice(0, 12),
      key: expect.stringMatching(/^gh_live_[A-Za-z0-9_-]{43}$/),
      createdAt: expect.any(String),
    });
    expect(created.prefix).toMatch(/^gh_live_.{4}$/);

    const [row] = await rows<Record<string, unknown>>("SELECT * FROM api_keys WHERE id = ?", created.id);
    expect(row).toMatchObject({
      host_id: host.id,
      name: "CRM sync",
      prefix: created.prefix,
      key_hash: await sha256Hex(created.key),
      scopes: JSON.stringify(["orders:read", "events:read"]),
      last_used_at: null,
      revoked_at: null,
    });
    // No column holds the key or its secret part, in any case.
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(created.key);
    expect(stored).not.toContain(created.key.slice(12));
    expect(stored.toLowerCase()).not.toContain(created.key.slice(12, 30).toLowerCase());

    expect((await auditForUser(host.id, "api-key.create")).map((a) => JSON.parse(a.detail))).toEqual([
      { apiKeyId: created.id, prefix: created.prefix, scopes: ["orders:read", "events:read"] },
    ]);

    // The host hears of it (a key outlives a password reset): its name, prefix and scopes, never the key.
    const notices = (await mailbox(host.email)).filter((m) => m.template === "api-key-created");
    expect(notices).toHaveLength(1);
    expect(notices[0]?.text).toContain("CRM sync");
    expect(notices[0]?.text).toContain(created.prefix);
    expect(notices[0]?.text).toContain("orders:read, events:read");
    expect(notices[0]?.text).not.toContain(created.key.slice(12));
  });

  it("two keys are different, each with 256 random bits", async () => {
    const host = await hostWithToken();
    const [a, b] = [await createKey(host.token), await createKey(host.token)];
    expect(a?.key).not.toBe(b?.key);
    expect(a?.id).not.toBe(b?.id);
  });

  it("validation: name 1 to 100 characters, scopes a non-empty subset without duplicates; nothing stored", async () => {
    const host = await hostWithToken();
    const bad = [
      { name: "", scopes: ["events:read"] },
      { name: "   ", scopes: ["events:read"] },
      { name: "x".repeat(101), scopes: ["events:read"] },
      { name: "ok", scopes: [] },
      { name: "ok", scopes: ["events:read", "events:read"] },
      { name: "ok", scopes: ["events:delete"] },
      { name: "ok", scopes: "events:read" },
      { name: "ok" },
      { scopes: ["events:read"] },
      { name: "ok", scopes: ["events:read"], hostId: "someone-else" },
    ];
    for (const body of bad) {
      const res = await postKey(host.token, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(codeOf(await problemOf(res))).toBe("validation-failed");
    }
    expect(await countRows("api_keys", "host_id = ?", host.id)).toBe(0);
    // The boundaries themselves are fine: 1 and 100 characters, every scope once.
    for (const name of ["x", "y".repeat(100)]) {
      expect((await postKey(host.token, { name, scopes: [...API_KEY_SCOPES] })).status).toBe(201);
    }
  });

  it(`at most ${LIMITS.apiKeysPerHost} live keys per host: the next is 409 limit-exceeded; a revoked key frees a place`, async () => {
    const host = await hostWithToken();
    const keys: CreatedKey[] = [];
    for (let i = 0; i < LIMITS.apiKeysPerHost; i++) keys.push(await createKey(host.token, ["events:read"], `k${i}`));
    const over = await postKey(host.token, { name: "one more", scopes: ["events:read"] });
    expect(over.status).toBe(409);
    expect(codeOf(await problemOf(over))).toBe("limit-exceeded");
    expect(await countRows("api_keys", "host_id = ?", host.id)).toBe(LIMITS.apiKeysPerHost);

    const revoke = await call(`${KEYS_PATH}/${keys[0]?.id}`, { method: "DELETE", headers: bearer(host.token) });
    expect(revoke.status).toBe(204);
    expect((await postKey(host.token, { name: "replacement", scopes: ["events:read"] })).status).toBe(201);
    expect(await countRows("api_keys", "host_id = ? AND revoked_at IS NULL", host.id)).toBe(LIMITS.apiKeysPerHost);
  });

  it("concurrent creations never overshoot the cap: exactly the cap is created, the rest 409", async () => {
    const host = await hostWithToken();
    const app = createApp();
    // The host's dashboard-write budget raised, so every request reaches the insert.
    const raised = { ...env, RATE_LIMITS: JSON.stringify({ "dashboard-write": { limit: 1000, windowSeconds: 60 } }) };
    const answers = await Promise.all(
      Array.from({ length: 2 * LIMITS.apiKeysPerHost }, (_, i) =>
        app.request(
          KEYS_PATH,
          {
            method: "POST",
            headers: { ...bearer(host.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
            body: JSON.stringify({ name: `k${i}`, scopes: ["events:read"] }),
          },
          raised,
        ),
      ),
    );
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(LIMITS.apiKeysPerHost);
    expect(statuses.filter((s) => s === 409)).toHaveLength(LIMITS.apiKeysPerHost);
    expect(await countRows("api_keys", "host_id = ?", host.id)).toBe(LIMITS.apiKeysPerHost);
    // One audit row per key created, none for the refused; one notice to the host per key, too.
    expect(await auditForUser(host.id, "api-key.create")).toHaveLength(LIMITS.apiKeysPerHost);
    expect((await mailbox(host.email)).filter((m) => m.template === "api-key-created")).toHaveLength(
      LIMITS.apiKeysPerHost,
    );
  });

  it("concurrent revocations of one key: all 204, revoked once, audited once", async () => {
    const { host, key } = await hostWithKey();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        call(`${KEYS_PATH}/${key.id}`, { method: "DELETE", headers: bearer(host.token) }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(204));
    expect(await auditForUser(host.id, "api-key.revoke")).toHaveLength(1);
    expect((await withKey(key.key, "/api/v1/me/events")).status).toBe(401);
  });

  it("only hosts: an attendee gets 403, an anonymous caller 401", async () => {
    const attendee = await createUser();
    const { accessToken } = await login(attendee.email);
    const res = await postKey(accessToken, { name: "x", scopes: ["events:read"] });
    expect(res.status).toBe(403);
    expect(codeOf(await problemOf(res))).toBe("forbidden");
    const anonymous = await call(KEYS_PATH, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x", scopes: ["events:read"] }),
    });
    expect(anonymous.status).toBe(401);
    expect(await countRows("api_keys", "host_id = ?", attendee.id)).toBe(0);
  });
});

describe("listing keys", () => {
  it("lists the host's keys newest first, revoked ones marked, never the key or its hash; paged by cursor", async () => {
    const host = await hostWithToken();
    const first = await createKey(host.token, ["events:read"], "first");
    const second = await createKey(host.token, ["orders:read"], "second");
    const third = await createKey(host.token, ["checkins:read"], "third");
    await call(`${KEYS_PATH}/${first.id}`, { method: "DELETE", headers: bearer(host.token) });
    const other = await hostWithKey();

    const page1 = await call(`${KEYS_PATH}?limit=2`, { headers: bearer(host.token) });
    expect(page1.status).toBe(200);
    const body1 = (await page1.json()) as { items: Record<string, unknown>[]; nextCursor: string | null };
    const page2 = await call(`${KEYS_PATH}?limit=2&cursor=${body1.nextCursor}`, { headers: bearer(host.token) });
    const body2 = (await page2.json()) as { items: Record<string, unknown>[]; nextCursor: string | null };
    const items = [...body1.items, ...body2.items];
    expect(body2.nextCursor).toBeNull();
    expect(items.map((i) => i.id)).toEqual([third.id, second.id, first.id]);
    expect(items[0]).toEqual({
      id: third.id,
      name: "third",
      scopes: ["checkins:read"],
      prefix: third.prefix,
      createdAt: third.createdAt,
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(items[2]?.revokedAt).toEqual(expect.any(String));
    const text = JSON.stringify(items);
    for (const k of [first, second, third]) expect(text).not.toContain(k.key);
    expect(text).not.toContain("keyHash");
    expect(text).not.toContain(other.key.id);

    const bad = await call(`${KEYS_PATH}?cursor=nonsense!`, { headers: bearer(host.token) });
    expect(bad.status).toBe(400);
  });
});

describe("revoking a key", () => {
  it("204, the very next request with it is 401, audited; another host's key is 404 and stays alive", async () => {
    const { host, key } = await hostWithKey(["events:read"]);
    expect((await withKey(key.key, "/api/v1/me/events")).status).toBe(200);

    const stranger = await hostWithToken();
    const foreign = await call(`${KEYS_PATH}/${key.id}`, { method: "DELETE", headers: bearer(stranger.token) });
    expect(foreign.status).toBe(404);
    expect(codeOf(await problemOf(foreign))).toBe("not-found");
    expect((await withKey(key.key, "/api/v1/me/events")).status).toBe(200);

    const res = await call(`${KEYS_PATH}/${key.id}`, { method: "DELETE", headers: bearer(host.token) });
    expect(res.status).toBe(204);
    const after = await withKey(key.key, "/api/v1/me/events");
    expect(after.status).toBe(401);
    expect(codeOf(await problemOf(after))).toBe("unauthorized");
    const [row] = await rows<{ revoked_at: number | null }>("SELECT revoked_at FROM api_keys WHERE id = ?", key.id);
    expect(row?.revoked_at).toEqual(expect.any(Number));
    expect((await auditForUser(host.id, "api-key.revoke")).map((a) => JSON.parse(a.detail))).toEqual([
      { apiKeyId: key.id },
    ]);

    // Again: nothing changes, no second audit row; an unknown id is 404.
    expect((await call(`${KEYS_PATH}/${key.id}`, { method: "DELETE", headers: bearer(host.token) })).status).toBe(204);
    expect(await auditForUser(host.id, "api-key.revoke")).toHaveLength(1);
    expect((await call(`${KEYS_PATH}/nope`, { method: "DELETE", headers: bearer(host.token) })).status).toBe(404);
  });
});

describe("a key cannot manage keys", () => {
  it("creating, listing and revoking with a key are 403 insufficient-scope, whatever its scopes", async () => {
    const { host, key } = await hostWithKey();
    const attempts = [
      withKey(key.key, KEYS_PATH, { method: "POST", body: JSON.stringify({ name: "x", scopes: ["events:read"] }) }),
      withKey(key.key, KEYS_PATH),
      withKey(key.key, `${KEYS_PATH}/${key.id}`, { method: "DELETE" }),
    ];
    for (const res of await Promise.all(attempts)) {
      expect(res.status).toBe(403);
      expect(codeOf(await problemOf(res))).toBe("insufficient-scope");
    }
    expect(await countRows("api_keys", "host_id = ?", host.id)).toBe(1);
    expect(await countRows("api_keys", "host_id = ? AND revoked_at IS NULL", host.id)).toBe(1);
  });
});
