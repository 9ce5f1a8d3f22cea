/**
 * Scanner devices: registered by the event's host only, token shown once and stored hashed,
 * revoked at once, limited per device (not per address), and made-up tokens bounded per address.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { DEVICE_TOKEN_PREFIX } from "../../../src/features/gate/devices";
import { randomToken, sha256Hex } from "../../../src/lib/crypto";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { auditForUser, bearer } from "../auth/helpers";
import { hostWithToken } from "../events/helpers";
import {
  deviceAuth,
  gateEvent,
  type Issued,
  inventory,
  issueTickets,
  qrToken,
  registerDevice,
  scan,
  scanBody,
} from "./helpers";

const devicesPath = (eventId: string) => `/api/v1/events/${eventId}/devices`;

describe("device registration", () => {
  it("the host registers a device: 201 with a 256-bit token shown once, stored only as its SHA-256, audited", async () => {
    const { host, event } = await gateEvent();
    const created = await registerDevice(event.id, host.token, "supervisor", "Main entrance");
    expect(created).toMatchObject({ eventId: event.id, name: "Main entrance", role: "supervisor" });
    expect(created.token).toMatch(/^gdt_[A-Za-z0-9_-]{43}$/);

    const row = await env.DB.prepare("SELECT * FROM gate_devices WHERE id = ?")
      .bind(created.deviceId)
      .first<Record<string, unknown>>();
    expect(row).toMatchObject({ event_id: event.id, role: "supervisor", created_by: host.id, revoked_at: null });
    expect(row?.token_hash).toBe(await sha256Hex(created.token));
    expect(JSON.stringify(row)).not.toContain(created.token.slice(4));

    const list = await call(devicesPath(event.id), { headers: bearer(host.token) });
    const items = ((await list.json()) as { items: Record<string, unknown>[] }).items;
    expect(items).toEqual([
      expect.objectContaining({ deviceId: created.deviceId, name: "Main entrance", revokedAt: null }),
    ]);
    expect(JSON.stringify(items)).not.toContain("token");
    expect((await auditForUser(host.id, "gate.device-register")).map((a) => JSON.parse(a.detail))).toEqual([
      { eventId: event.id, deviceId: created.deviceId, role: "supervisor" },
    ]);
  });

  it("only the event's host: another host gets 403, an anonymous caller 401, a bad role or extra field 400", async () => {
    const { event } = await gateEvent();
    const stranger = await hostWithToken();
    const post = (headers: Record<string, string>, body: unknown) =>
      call(devicesPath(event.id), {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    expect((await post(bearer(stranger.token), { name: "x", role: "steward" })).status).toBe(403);
    expect((await post({}, { name: "x", role: "steward" })).status).toBe(401);
    const { host, event: own } = await gateEvent();
    const badRole = await call(devicesPath(own.id), {
      method: "POST",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x", role: "admin" }),
    });
    expect(badRole.status).toBe(400);
    const extra = await call(devicesPath(own.id), {
      method: "POST",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ name: "x", role: "steward", eventId: event.id }),
    });
    expect(extra.status).toBe(400);
    expect(
      await env.DB.prepare("SELECT COUNT(*) AS n FROM gate_devices WHERE event_id = ?").bind(own.id).first(),
    ).toEqual({ n: 0 });
    expect(
      await env.DB.prepare("SELECT COUNT(*) AS n FROM gate_devices WHERE event_id = ?").bind(event.id).first(),
    ).toEqual({ n: 0 });
  });

  it("at most LIMITS.gateDevicesPerEvent active devices per event: one more is 409 limit-exceeded", async () => {
    const { host, event } = await gateEvent();
    const now = Date.now();
    const rows = Array.from({ length: LIMITS.gateDevicesPerEvent - 1 }, (_, i) =>
      env.DB.prepare(
        "INSERT INTO gate_devices (id, event_id, name, role, token_hash, created_by, created_at) VALUES (?, ?, ?, 'steward', ?, ?, ?)",
      ).bind(`bulk-${event.id}-${i}`, event.id, `Bulk ${i}`, `hash-${event.id}-${i}`, host.id, now),
    );
    for (let i = 0; i < rows.length; i += 100) await env.DB.batch(rows.slice(i, i + 100));
    await registerDevice(event.id, host.token);
    const over = await call(devicesPath(event.id), {
      method: "POST",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ name: "one too many", role: "steward" }),
    });
    expect(over.status).toBe(409);
    expect((await problemOf(over)).type).toMatch(/\/limit-exceeded$/);
  });
});

describe("device revocation", () => {
  it("a revoked device is refused with 401 on its very next request; the revocation is audited", async () => {
    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 2);
    const device = await registerDevice(event.id, host.token);
    const [a, b] = tickets as [(typeof tickets)[0], (typeof tickets)[0]];
    expect((await scanBody(await scan(device.token, await qrToken(a.id, a.holder.token)))).result).toBe("admitted");

    const revoked = await call(`${devicesPath(event.id)}/${device.deviceId}`, {
      method: "DELETE",
      headers: bearer(host.token),
    });
    expect(revoked.status).toBe(204);
    const refused = await scan(device.token, await qrToken(b.id, b.holder.token));
    expect(refused.status).toBe(401);
    expect((await problemOf(refused)).type).toMatch(/\/unauthorized$/);
    const manifest = await call(`/api/v1/events/${event.id}/manifest`, { headers: deviceAuth(device.token) });
    expect(manifest.status).toBe(401);

    const row = await env.DB.prepare("SELECT revoked_at, revoked_by FROM gate_devices WHERE id = ?")
      .bind(device.deviceId)
      .first();
    expect(row).toEqual({ revoked_at: expect.any(Number), revoked_by: host.id });
    expect(await auditForUser(host.id, "gate.device-revoke")).toHaveLength(1);
    // Revoking again changes nothing; an unknown device, or another event's, is 404.
    expect(
      (await call(`${devicesPath(event.id)}/${device.deviceId}`, { method: "DELETE", headers: bearer(host.token) }))
        .status,
    ).toBe(204);
    expect(await auditForUser(host.id, "gate.device-revoke")).toHaveLength(1);
    expect(
      (await call(`${devicesPath(event.id)}/nope`, { method: "DELETE", headers: bearer(host.token) })).status,
    ).toBe(404);
    const { host: otherHost, event: other } = await gateEvent();
    const foreign = await registerDevice(other.id, otherHost.token);
    expect(
      (await call(`${devicesPath(event.id)}/${foreign.deviceId}`, { method: "DELETE", headers: bearer(host.token) }))
        .status,
    ).toBe(404);
    expect(
      (await call(`${devicesPath(other.id)}/${foreign.deviceId}`, { method: "DELETE", headers: bearer(host.token) }))
        .status,
    ).toBe(403);
  });
});

describe("concurrent revocations", () => {
  it("ten revocations of one device at once record it once: one revoked_at, one audit entry", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    // Every revocation reads the same millisecond, as concurrent ones in production can.
    freezeClock();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        call(`${devicesPath(event.id)}/${device.deviceId}`, { method: "DELETE", headers: bearer(host.token) }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(204));
    const row = await env.DB.prepare("SELECT revoked_at, revoked_by FROM gate_devices WHERE id = ?")
      .bind(device.deviceId)
      .first();
    expect(row).toEqual({ revoked_at: expect.any(Number), revoked_by: host.id });
    expect(await auditForUser(host.id, "gate.device-revoke")).toHaveLength(1);
  });
});

describe("device credentials remembered by the Worker", () => {
  it("a device known from the isolate's memory scans without D1: its token → device mapping is not read again", async () => {
    const { host, event } = await gateEvent();
    const [a, b] = (await issueTickets(event.id, 2)) as [Issued, Issued];
    const device = await registerDevice(event.id, host.token);
    expect((await scanBody(await scan(device.token, await qrToken(a.id, a.holder.token)))).result).toBe("admitted");
    // D1 no longer finds the token: only the remembered mapping can let the next scan in.
    await env.DB.prepare("UPDATE gate_devices SET token_hash = 'moved' WHERE id = ?").bind(device.deviceId).run();
    expect((await scanBody(await scan(device.token, await qrToken(b.id, b.holder.token)))).result).toBe("admitted");
  });

  it("a revocation in the event's object refuses a remembered device on every route at once (revoked through another isolate)", async () => {
    const { host, event } = await gateEvent();
    const [a, b] = (await issueTickets(event.id, 2)) as [Issued, Issued];
    const device = await registerDevice(event.id, host.token, "supervisor");
    const headers = deviceAuth(device.token);
    expect((await scanBody(await scan(device.token, await qrToken(a.id, a.holder.token)))).result).toBe("admitted");
    const qr = await qrToken(b.id, b.holder.token);

    // What another isolate's DELETE does first: the object records the revocation. This isolate
    // still remembers the device, and D1 has not been updated yet.
    await inventory(event.id).revokeDevice({ deviceId: device.deviceId });
    const refused = await scan(device.token, qr);
    expect(refused.status).toBe(401);
    expect((await problemOf(refused)).type).toMatch(/\/unauthorized$/);
    expect((await call(`/api/v1/events/${event.id}/manifest`, { headers })).status).toBe(401);
    expect((await call(`/api/v1/events/${event.id}/gate/stats`, { headers })).status).toBe(401);
    expect(
      (await call(`/api/v1/events/${event.id}/live`, { headers: { ...headers, Upgrade: "websocket" } })).status,
    ).toBe(401);
    const upload = await call(`/api/v1/events/${event.id}/scans`, {
      method: "POST",
      headers: { ...headers, "Content-Type": "application/json" },
      body: JSON.stringify({ scans: [{ token: qr, nonce: "offline-0001", scannedAt: new Date().toISOString() }] }),
    });
    expect(upload.status).toBe(401);
    // Nothing the refused calls sent was applied: the second ticket is still unused.
    const ticket = await env.DB.prepare("SELECT status FROM tickets WHERE id = ?").bind(b.id).first();
    expect(ticket).toEqual({ status: "active" });

    // The keys route does not reach the object: it confirms a remembered device in D1.
    expect((await call("/api/v1/scanner/keys", { headers })).status).toBe(200);
    await env.DB.prepare("UPDATE gate_devices SET revoked_at = ? WHERE id = ?").bind(Date.now(), device.deviceId).run();
    expect((await call("/api/v1/scanner/keys", { headers })).status).toBe(401);
  });

  it("the host's revocation reaches the object even when D1 already has it (a retry after a failed first attempt)", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    await env.DB.prepare("UPDATE gate_devices SET revoked_at = ? WHERE id = ?").bind(Date.now(), device.deviceId).run();
    expect(await inventory(event.id).deviceRevoked({ deviceId: device.deviceId })).toBe(false);
    const res = await call(`${devicesPath(event.id)}/${device.deviceId}`, {
      method: "DELETE",
      headers: bearer(host.token),
    });
    expect(res.status).toBe(204);
    expect(await inventory(event.id).deviceRevoked({ deviceId: device.deviceId })).toBe(true);
  });
});

describe("device limits", () => {
  it("scans are limited per device, not per address: two devices behind one address each get their own 20/s", async () => {
    const { host, event } = await gateEvent();
    const first = await registerDevice(event.id, host.token);
    const second = await registerDevice(event.id, host.token);
    const ip = freshIp();
    const send = (token: string) =>
      call("/api/v1/scan", {
        method: "POST",
        ip,
        headers: { ...deviceAuth(token), "Content-Type": "application/json" },
        body: JSON.stringify({ token: "x.y.z", nonce: crypto.randomUUID() }),
      });
    // The limit applies once the device is authenticated, after its D1 lookup: on a still clock
    // (setTimeout stays real) a loaded machine cannot spread the burst over enough time to refill it.
    freezeClock(Date.now());
    try {
      // 30 at once from one device: the limiter lets its 20/s burst through and refuses the rest…
      const started = performance.now();
      const burst = await Promise.all(Array.from({ length: 30 }, () => send(first.token).then((r) => r.status)));
      // GCRA gives a unit back every 50 ms of the limiter's own clock; a starved machine can stretch
      // the burst over a few of them, so the bound counts them (a quiet run admits exactly 20).
      const refills = Math.ceil((performance.now() - started) / 50);
      const admitted = burst.filter((s) => s === 200).length;
      expect(admitted).toBeGreaterThanOrEqual(20);
      expect(admitted).toBeLessThanOrEqual(Math.min(29, 20 + refills));
      expect(burst.filter((s) => s === 429)).toHaveLength(30 - admitted);
      // …while another device at the same address is not affected.
      const other = await send(second.token);
      expect(other.status).toBe(200);
      expect(other.headers.get("RateLimit-Policy")).toBe('"scanner";q=20;w=1');
    } finally {
      vi.useRealTimers();
    }
  });

  it("made-up device tokens of the minted shape from one address are bounded: 30 a minute answer 401, then 429", async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) {
      const res = await call("/api/v1/scan", {
        method: "POST",
        ip,
        headers: { ...deviceAuth(DEVICE_TOKEN_PREFIX + randomToken(32)), "Content-Type": "application/json" },
        body: JSON.stringify({ token: "x.y.z", nonce: crypto.randomUUID() }),
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses[30]).toBe(429);
  });

  it("a device acts only on its own event: another event's manifest and scans upload are 404", async () => {
    const { host, event } = await gateEvent();
    const { event: other } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    expect((await call(`/api/v1/events/${other.id}/manifest`, { headers: deviceAuth(device.token) })).status).toBe(404);
    const upload = await call(`/api/v1/events/${other.id}/scans`, {
      method: "POST",
      headers: { ...deviceAuth(device.token), "Content-Type": "application/json" },
      body: JSON.stringify({ scans: [{ token: "x.y.z", nonce: "nonce-0001", scannedAt: new Date().toISOString() }] }),
    });
    expect(upload.status).toBe(404);
  });
});

describe("GET /api/v1/events/:id/gate/stats", () => {
  it("the host and supervisor devices see it; stewards (403), other hosts (403) and another event's devices (404) do not", async () => {
    const { host, event } = await gateEvent();
    const { host: otherHost, event: other } = await gateEvent();
    const supervisor = await registerDevice(event.id, host.token, "supervisor");
    const steward = await registerDevice(event.id, host.token, "steward");
    const foreign = await registerDevice(other.id, otherHost.token, "supervisor");
    const stats = (headers: Record<string, string>) => call(`/api/v1/events/${event.id}/gate/stats`, { headers });

    const own = await stats(bearer(host.token));
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({
      checkedIn: 0,
      conflicts: 0,
      scans: 0,
      byResult: { admitted: 0, invalid: 0 },
    });
    expect((await stats(deviceAuth(supervisor.token))).status).toBe(200);
    expect((await stats(deviceAuth(steward.token))).status).toBe(403);
    expect((await stats(bearer(otherHost.token))).status).toBe(403);
    expect((await stats(deviceAuth(foreign.token))).status).toBe(404);
  });
});

describe("OpenAPI", () => {
  it("documents the gate routes and the Device security scheme", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    for (const path of [
      "/api/v1/events/{id}/devices",
      "/api/v1/events/{id}/devices/{deviceId}",
      "/api/v1/scan",
      "/api/v1/scanner/keys",
      "/api/v1/events/{id}/manifest",
      "/api/v1/events/{id}/scans",
      "/api/v1/events/{id}/live",
      "/api/v1/tickets/{id}/qr",
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.paths["/api/v1/scan"]?.post?.security).toEqual([{ device: [] }]);
    expect(doc.components.securitySchemes.device).toMatchObject({
      type: "apiKey",
      in: "header",
      name: "Authorization",
    });
  });
});
