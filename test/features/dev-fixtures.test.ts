import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { getConfig } from "../../src/config";
import type { AppEnv } from "../../src/context";
import { devRoutes } from "../../src/features/dev/routes";
import { call, devCall, json, problemOf } from "../helpers";

interface Fixture {
  eventId: string;
  tokens: string[];
}

interface Check {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  d1Tickets: number;
  distinctTicketIds: number;
  distinctSerials: number;
  overLimitUsers: number;
  pushes: number;
  oversold: number;
  pending: number;
}

const DAY = 24 * 3600 * 1000;

function postJson(path: string, body: unknown) {
  return devCall(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function fixture(users: number, capacity: number): Promise<Fixture> {
  const res = await postJson("/dev/fixtures/on-sale", { users, capacity });
  expect(res.status).toBe(201);
  return json<Fixture>(res);
}

/** The claims of an access token (the payload is not secret; the signature is checked by the API). */
function claimsOf(token: string): { sub: string; sid: string; epoch: number } {
  const payload = token.split(".")[1] ?? "";
  return JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/")));
}

function claim(eventId: string, token: string) {
  return call(`/api/v1/events/${eventId}/orders`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ quantity: 1 }),
  });
}

const createInit = (users: number, capacity: number): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ users, capacity }),
});

const userCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM users").first<{ n: number }>())?.n;

const check = async (eventId: string) => json<Check>(await devCall(`/dev/fixtures/on-sale/${eventId}/check`));

describe("POST /dev/fixtures/on-sale", () => {
  it("creates a published free event and password-less buyers, one session and one working token each", async () => {
    const { eventId, tokens } = await fixture(6, 4);
    expect(tokens).toHaveLength(6);
    expect(new Set(tokens).size).toBe(6);

    const event = await env.DB.prepare(
      "SELECT host_id, status, price, capacity, per_user_limit, starts_at FROM events WHERE id = ?",
    )
      .bind(eventId)
      .first<{
        host_id: string;
        status: string;
        price: number;
        capacity: number;
        per_user_limit: number;
        starts_at: number;
      }>();
    expect(event).toMatchObject({
      host_id: "demo-host",
      status: "published",
      price: 0,
      capacity: 4,
      per_user_limit: 1,
    });
    expect(event?.starts_at).toBeGreaterThan(Date.now() + 29 * DAY);
    // The host exists (the fixture seeds the demo data when it is missing).
    expect(await env.DB.prepare("SELECT id FROM users WHERE id = 'demo-host'").first()).not.toBeNull();

    const claims = tokens.map(claimsOf);
    expect(new Set(claims.map((c) => c.sub)).size).toBe(6);
    for (const c of claims) {
      const user = await env.DB.prepare("SELECT password_hash, roles FROM users WHERE id = ?")
        .bind(c.sub)
        .first<{ password_hash: string | null; roles: string }>();
      expect(user).toEqual({ password_hash: null, roles: '["attendee"]' });
      const sessions = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ?").bind(c.sub).all();
      expect(sessions.results).toEqual([{ id: c.sid }]);
    }

    const view = await json<{ availability: { remaining: number } }>(await call(`/api/v1/events/${eventId}`));
    expect(view.availability.remaining).toBe(4);

    // Four different buyers get a ticket each; the fifth finds it sold out; nobody gets two.
    const serials: number[] = [];
    for (const token of tokens.slice(0, 4)) {
      const res = await claim(eventId, token);
      expect(res.status).toBe(201);
      const body = await json<{ tickets: { serial: number }[] }>(res);
      expect(body.tickets).toHaveLength(1);
      serials.push(body.tickets[0]?.serial ?? 0);
    }
    expect(serials.sort()).toEqual([1, 2, 3, 4]);
    expect((await problemOf(await claim(eventId, tokens[4] as string))).type).toMatch(/\/sold-out$/);
    expect((await problemOf(await claim(eventId, tokens[0] as string))).type).toMatch(/\/already-registered$/);

    const checked = await check(eventId);
    expect(checked).toEqual({
      capacity: 4,
      sold: 4,
      held: 0,
      remaining: 0,
      d1Tickets: 4,
      distinctTicketIds: 4,
      distinctSerials: 4,
      overLimitUsers: 0,
      oversold: 0,
      pending: 0,
      pushes: expect.any(Number),
    });
    // The configuration's push, then one per window of claims: at least two, at most one per claim more.
    expect(checked.pushes).toBeGreaterThanOrEqual(2);
    expect(checked.pushes).toBeLessThanOrEqual(5);
  });

  it("writes users and sessions over several batches", async () => {
    const { tokens } = await fixture(130, 1);
    // One JSON parameter: D1 allows at most 100 bound variables per statement.
    const subs = JSON.stringify(tokens.map((t) => claimsOf(t).sub));
    const counted = await env.DB.batch([
      env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE id IN (SELECT value FROM json_each(?))").bind(subs),
      env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE user_id IN (SELECT value FROM json_each(?))").bind(subs),
    ]);
    expect(counted.map((r) => (r.results[0] as { n: number }).n)).toEqual([130, 130]);
  });

  it("check counts a user holding more tickets than the limit as oversold", async () => {
    const { eventId, tokens } = await fixture(2, 10);
    expect((await claim(eventId, tokens[0] as string)).status).toBe(201);
    const { sub } = claimsOf(tokens[0] as string);
    // A second active ticket for the same buyer, written behind the object's back.
    await env.DB.prepare(
      `INSERT INTO tickets (id, event_id, order_id, user_id, serial, status, created_at, projection_seq)
       VALUES ('forged-ticket', ?, 'forged-order', ?, 999, 'active', ?, 1)`,
    )
      .bind(eventId, sub, Date.now())
      .run();
    expect(await check(eventId)).toMatchObject({ sold: 1, d1Tickets: 2, overLimitUsers: 1, oversold: 1 });
  });

  it("answers 400 for a body that is not a valid fixture request", async () => {
    const bad = [
      { users: 0, capacity: 10 },
      { users: 50_001, capacity: 10 },
      { users: 10, capacity: 1_000_001 },
      { users: 1.5, capacity: 10 },
      { users: 10 },
      { users: 10, capacity: 10, extra: true },
    ];
    for (const body of bad) {
      const res = await postJson("/dev/fixtures/on-sale", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const problem = await problemOf(res);
      expect(problem.type).toMatch(/\/validation-failed$/);
      expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: expect.any(String) })]));
    }
    const malformed = await postJson("/dev/fixtures/on-sale", "{not json");
    expect(malformed.status).toBe(400);
    expect((await problemOf(malformed)).type).toMatch(/\/malformed-json$/);
  });

  it("check answers 404 for an unknown event", async () => {
    const res = await devCall("/dev/fixtures/on-sale/no-such-event/check");
    expect(res.status).toBe(404);
  });

  it("does not exist in production: the dev-route guard answers 404 for both routes", async () => {
    const { eventId } = await fixture(1, 1);
    const before = await userCount();
    // The guard decides on config.isProduction alone: a production config over the test bindings.
    const app = new Hono<AppEnv>()
      .use(async (c, next) => {
        c.set("config", { ...getConfig(env), isProduction: true, environment: "production" });
        await next();
      })
      .route("/dev", devRoutes);
    const create = await app.request("/dev/fixtures/on-sale", createInit(3, 3), env);
    expect(create.status).toBe(404);
    expect((await problemOf(create)).type).toMatch(/\/not-found$/);
    expect((await app.request(`/dev/fixtures/on-sale/${eventId}/check`, {}, env)).status).toBe(404);
    expect(await userCount()).toBe(before);
  });

  it("is not reachable through the production app either", async () => {
    const { eventId } = await fixture(1, 1);
    const before = await userCount();
    const production = { ...env, ENVIRONMENT: "production" };
    const app = createApp();
    // 404 from the guard once the production configuration loads; while the test bindings lack a
    // production secret the app fails closed with 503 first. Either way nothing is created.
    const configured = (await app.request("/health", {}, production)).status === 200;
    const expected = configured ? 404 : 503;
    expect((await app.request("/dev/fixtures/on-sale", createInit(3, 3), production)).status).toBe(expected);
    expect((await app.request(`/dev/fixtures/on-sale/${eventId}/check`, {}, production)).status).toBe(expected);
    expect(await userCount()).toBe(before);
  });
});

interface GateFixture {
  eventId: string;
  deviceTokens: string[];
  ticketTokens: string[];
}

const gateInit = (tickets: number, devices: number): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ tickets, devices }),
});

function scanWith(deviceToken: string, token: string) {
  return call("/api/v1/scan", {
    method: "POST",
    headers: { Authorization: `Device ${deviceToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ token, nonce: crypto.randomUUID() }),
  });
}

const eventCount = async () => (await env.DB.prepare("SELECT COUNT(*) AS n FROM events").first<{ n: number }>())?.n;

describe("POST /dev/fixtures/gate", () => {
  it("creates an event with check-in open, one ticket per buyer, devices and working QR tokens", async () => {
    const res = await postJson("/dev/fixtures/gate", { tickets: 3, devices: 2 });
    expect(res.status).toBe(201);
    const { eventId, deviceTokens, ticketTokens } = await json<GateFixture>(res);
    expect(deviceTokens).toHaveLength(2);
    expect(ticketTokens).toHaveLength(3);
    expect(new Set(ticketTokens).size).toBe(3);

    const now = Date.now();
    const event = await env.DB.prepare(
      "SELECT status, price, capacity, starts_at, check_in_opens_at, check_in_closes_at FROM events WHERE id = ?",
    )
      .bind(eventId)
      .first<{
        status: string;
        price: number;
        capacity: number;
        starts_at: number;
        check_in_opens_at: number;
        check_in_closes_at: number;
      }>();
    expect(event).toMatchObject({ status: "published", price: 0, capacity: 3 });
    expect(event?.check_in_opens_at).toBeLessThan(now);
    expect(event?.starts_at).toBeGreaterThan(now);
    expect(event?.check_in_closes_at).toBeGreaterThan(now);
    const holders = await env.DB.prepare(
      "SELECT COUNT(*) AS tickets, COUNT(DISTINCT user_id) AS holders FROM tickets WHERE event_id = ? AND status = 'active'",
    )
      .bind(eventId)
      .first<{ tickets: number; holders: number }>();
    expect(holders).toEqual({ tickets: 3, holders: 3 });
    const devices = await env.DB.prepare("SELECT COUNT(*) AS n FROM gate_devices WHERE event_id = ?")
      .bind(eventId)
      .first<{ n: number }>();
    expect(devices?.n).toBe(2);

    const first = await json<{ result: string }>(await scanWith(deviceTokens[1] as string, ticketTokens[0] as string));
    expect(first.result).toBe("admitted");
    const again = await json<{ result: string }>(await scanWith(deviceTokens[0] as string, ticketTokens[0] as string));
    expect(again.result).toBe("already_redeemed");
    const other = await json<{ result: string }>(await scanWith(deviceTokens[0] as string, ticketTokens[2] as string));
    expect(other.result).toBe("admitted");

    const stats = await json<{ scans: number; byResult: Record<string, number> }>(
      await devCall(`/dev/fixtures/gate/${eventId}/check`),
    );
    expect(stats.scans).toBe(3);
    expect(stats.byResult).toMatchObject({ admitted: 2, already_redeemed: 1 });
  });

  it("answers 400 for a body that is not a valid fixture request, and check 404 for an unknown event", async () => {
    const bad = [
      { tickets: 0, devices: 1 },
      { tickets: 20_001, devices: 1 },
      { tickets: 1, devices: 0 },
      { tickets: 1, devices: 51 },
      { tickets: 1.5, devices: 1 },
      { tickets: 1 },
      { tickets: 1, devices: 1, extra: true },
    ];
    for (const body of bad) {
      const res = await postJson("/dev/fixtures/gate", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await problemOf(res)).type).toMatch(/\/validation-failed$/);
    }
    const malformed = await postJson("/dev/fixtures/gate", "{not json");
    expect(malformed.status).toBe(400);
    expect((await problemOf(malformed)).type).toMatch(/\/malformed-json$/);
    expect((await devCall("/dev/fixtures/gate/no-such-event/check")).status).toBe(404);
  });

  it("does not exist in production", async () => {
    const before = await eventCount();
    const guarded = new Hono<AppEnv>()
      .use(async (c, next) => {
        c.set("config", { ...getConfig(env), isProduction: true, environment: "production" });
        await next();
      })
      .route("/dev", devRoutes);
    const create = await guarded.request("/dev/fixtures/gate", gateInit(2, 1), env);
    expect(create.status).toBe(404);
    expect((await problemOf(create)).type).toMatch(/\/not-found$/);
    expect((await guarded.request("/dev/fixtures/gate/any/check", {}, env)).status).toBe(404);

    const production = { ...env, ENVIRONMENT: "production" };
    const app = createApp();
    // As above: 404 once the production configuration loads, 503 (fail closed) while it cannot.
    const configured = (await app.request("/health", {}, production)).status === 200;
    const expected = configured ? 404 : 503;
    expect((await app.request("/dev/fixtures/gate", gateInit(2, 1), production)).status).toBe(expected);
    expect((await app.request("/dev/fixtures/gate/any/check", {}, production)).status).toBe(expected);
    expect(await eventCount()).toBe(before);
  });
});
