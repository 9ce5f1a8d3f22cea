/**
 * Made-up `Authorization: Device …` tokens: refused at the cost of nothing once their address is
 * blocked (no RateLimiter object brought into being, no D1 query), malformed ones refused at once,
 * and `scanner` keyed on the authenticated device only. Requests go through the Worker's exported
 * handler with a D1 binding that records every statement, so the D1 work is counted, not inferred.
 */
import {
  createExecutionContext,
  listDurableObjectIds,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DEVICE_TOKEN_PREFIX } from "../../../src/features/gate/devices";
import worker from "../../../src/index";
import { randomToken } from "../../../src/lib/crypto";
import { ipKey } from "../../../src/lib/ip";
import { freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { objectRows, recordingEnv } from "../../support/db";
import { deviceAuth, gateEvent, issueTickets, qrToken, registerDevice, type ScanLogRow } from "./helpers";

// GCRA refills `scanner-auth` one unit every 2 s and `scanner` one every 50 ms: a still clock keeps
// a loaded machine from earning a request its pass (setTimeout stays real).
beforeEach(() => {
  freezeClock(Date.now());
});

/** A scan (of `qr`, or of an unreadable code), or a GET of another device route, as `token`'s holder at `ip`. */
async function send(
  target: Env,
  ip: string,
  token: string,
  { path = "/api/v1/scan", qr = "x.y.z" }: { path?: string; qr?: string } = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(
      `https://gatehouse.test${path}`,
      path === "/api/v1/scan"
        ? {
            method: "POST",
            headers: { ...deviceAuth(token), "Content-Type": "application/json", "CF-Connecting-IP": ip },
            body: JSON.stringify({ token: qr, nonce: crypto.randomUUID() }),
          }
        : { headers: { ...deviceAuth(token), "CF-Connecting-IP": ip } },
    ),
    target,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** A token of exactly the minted shape that no device holds. */
const madeUp = () => DEVICE_TOKEN_PREFIX + randomToken(32);

async function limiterObjects(): Promise<string[]> {
  return (await listDurableObjectIds(env.RATE_LIMITER)).map((id) => id.toString()).sort();
}

const objectId = (name: string) => env.RATE_LIMITER.idFromName(name).toString();

describe("made-up device tokens", () => {
  it("a malformed device token is refused 401 without a limiter object or a D1 query", async () => {
    const { env: target, queries } = recordingEnv();
    const ip = freshIp();
    const minted = madeUp();
    const malformed = [
      `gdt_${crypto.randomUUID()}`, // the prefix, but not 43 base64url characters
      minted.slice(0, -1), // one character short
      `${minted}A`, // one character long
      `${minted.slice(0, -1)}B`, // the last character carries bits a 32-byte token cannot have
      `${minted.slice(0, 20)}+${minted.slice(21)}`, // base64, not base64url
      minted.slice(DEVICE_TOKEN_PREFIX.length).padEnd(47, "A"), // no prefix
      `${minted}${"A".repeat(4000)}`,
    ];
    const before = await limiterObjects();
    for (const token of malformed) {
      const res = await send(target, ip, token);
      expect(res.status).toBe(401);
      expect((await problemOf(res)).type).toMatch(/\/unauthorized$/);
      expect(res.headers.get("RateLimit-Policy")).toBeNull();
    }
    expect(queries).toEqual([]);
    expect(await limiterObjects()).toEqual(before);
  });

  it("30 a minute from one address are looked up (401); then the address is blocked and further ones cost no object and no D1 query (429)", async () => {
    const { env: target, queries } = recordingEnv();
    const ip = freshIp();
    const before = await limiterObjects();

    for (let i = 0; i < 30; i++) {
      const res = await send(target, ip, madeUp());
      expect(res.status).toBe(401);
      expect((await problemOf(res)).type).toMatch(/\/unauthorized$/);
    }
    // One device lookup each, and the only limiter object they brought into being is their address's.
    expect(queries).toHaveLength(30);
    expect(queries.every((sql) => sql.includes("FROM gate_devices WHERE token_hash = ?"))).toBe(true);
    expect(await limiterObjects()).toEqual([...before, objectId(ipKey(ip))].sort());
    // What the address's object stored: the scanner-auth budget, spent (GCRA: 30 units, 60 s ahead).
    const rows = await runInDurableObject(env.RATE_LIMITER.getByName(ipKey(ip)), (_instance, state) =>
      state.storage.sql.exec<{ policy: string; tat: number }>("SELECT policy, tat FROM gcra").toArray(),
    );
    expect(rows).toEqual([{ policy: "scanner-auth", tat: Date.now() + 60_000 }]);

    // The 31st is refused before its lookup; the block is then answered from this isolate's memory.
    const blocked = await limiterObjects();
    for (let i = 0; i < 20; i++) {
      const res = await send(target, ip, madeUp());
      expect(res.status).toBe(429);
      expect(res.headers.get("Retry-After")).toBe("2");
      expect(await problemOf(res)).toMatchObject({
        type: "https://gatehouse.events/problems/rate-limited",
        policy: "scanner-auth",
      });
    }
    expect(queries).toHaveLength(30);
    expect(await limiterObjects()).toEqual(blocked);
    // Every path a device may call is covered, not only /scan.
    expect((await send(target, ip, madeUp(), { path: "/api/v1/scanner/keys" })).status).toBe(429);
    expect(queries).toHaveLength(30);
    expect(await limiterObjects()).toEqual(blocked);
  });

  it("another address is not blocked by the first one's made-up tokens", async () => {
    const { env: target, queries } = recordingEnv();
    const first = freshIp();
    for (let i = 0; i < 31; i++) await send(target, first, madeUp());
    expect((await send(target, first, madeUp())).status).toBe(429);
    const seen = queries.length;
    const res = await send(target, freshIp(), madeUp());
    expect(res.status).toBe(401);
    expect(queries).toHaveLength(seen + 1);
  });
});

describe("a registered device", () => {
  it("still scans, limited per device by scanner: keyed on its id (no object for its token), 20 a second", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const qr = await qrToken(ticket.id, ticket.holder.token);
    const { env: target } = recordingEnv();
    const ip = freshIp();
    const before = await limiterObjects();

    const scanOnce = () => send(target, ip, device.token, { qr });
    const first = await scanOnce();
    expect(first.status).toBe(200);
    expect(((await first.json()) as { result: string }).result).toBe("admitted");
    expect(first.headers.get("RateLimit-Policy")).toBe('"scanner";q=20;w=1');
    expect(first.headers.get("RateLimit")).toBe('"scanner";r=19;t=1');
    const statuses = [first.status];
    for (let i = 1; i < 21; i++) statuses.push((await scanOnce()).status);
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses[20]).toBe(429);

    const refused = await scanOnce();
    expect(await problemOf(refused)).toMatchObject({ status: 429, policy: "scanner" });
    // The device's own object, plus its address's (the lookup asked whether the address was blocked).
    expect(await limiterObjects()).toEqual(
      [...before, objectId(`device:${device.deviceId}`), objectId(ipKey(ip))].sort(),
    );
    // Only the 20 allowed scans reached the event's object: the first admitted, the rest repeats.
    const scans = await objectRows<ScanLogRow>(event.id, "SELECT * FROM gate_scans ORDER BY id");
    expect(scans).toHaveLength(20);
    expect(scans.every((s) => s.device_id === device.deviceId && s.ticket_id === ticket.id)).toBe(true);
  });

  it("keeps scanning from an address its neighbours' made-up tokens blocked", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const { env: target, queries } = recordingEnv();
    const ip = freshIp();
    // Known to this isolate before the flood (its first request looked it up).
    expect((await send(target, ip, device.token)).status).toBe(200);
    for (let i = 0; i < 31; i++) await send(target, ip, madeUp());
    expect((await send(target, ip, madeUp())).status).toBe(429);
    const seen = queries.length;
    const res = await send(target, ip, device.token);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: string }).result).toBe("invalid");
    expect(res.headers.get("RateLimit-Policy")).toBe('"scanner";q=20;w=1');
    expect(queries).toHaveLength(seen);
  });
});

describe("a device's first scans reaching a cold isolate at once", () => {
  it("30 concurrent scans from 30 addresses with one unremembered token share one D1 lookup and one block check", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token, "steward", "Cold gate");
    const { env: target, queries } = recordingEnv();
    const ips = Array.from({ length: 30 }, () => freshIp());
    const answers = await Promise.all(ips.map((ip) => send(target, ip, device.token)));
    // Every scan is authenticated; the device's own scanner budget (20 a second, still clock) then
    // admits 20 and refuses 10.
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(20);
    expect(statuses.filter((status) => status === 429)).toHaveLength(10);
    expect(queries.filter((sql) => sql.includes("FROM gate_devices WHERE token_hash = ?"))).toHaveLength(1);
    const objects = new Set(await limiterObjects());
    expect(ips.filter((ip) => objects.has(objectId(ipKey(ip))))).toHaveLength(1);
  });
});
