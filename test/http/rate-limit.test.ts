import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { deviceAuth, gateEvent, registerDevice } from "../features/gate/helpers";
import { call, freshIp, problemOf } from "../helpers";
import { freezeClock, setClock } from "../support/clock";
import { captureLogs } from "../support/logs";

// The clock stands still in every test here (setTimeout stays real): GCRA gives a unit back every
// window/limit (0.6 s for `api`), so on a loaded machine a loop of 100 requests would otherwise earn
// the 101st its pass.
beforeEach(() => {
  freezeClock(Date.now());
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("api rate policy (100 / min per address)", () => {
  it("allows 100 requests, answers the 101st with 429, Retry-After and the draft-10 headers", async () => {
    const ip = freshIp();
    const started = Date.now();
    for (let i = 1; i <= 100; i++) {
      const res = await call("/api/v1", { ip });
      expect(res.status).toBe(200);
      expect(res.headers.get("RateLimit-Policy")).toBe('"api";q=100;w=60');
      // GCRA: one unit per 0.6 s, so the quota is whole again 0.6 s × used units after the first
      // request (less whatever time the loop has taken so far: a loaded machine may take seconds).
      const [remaining, reset] = (res.headers.get("RateLimit") ?? "").match(/^"api";r=(\d+);t=(\d+)$/)?.slice(1) ?? [];
      expect(Number(remaining)).toBe(100 - i);
      const full = i * 600;
      expect(Number(reset)).toBeLessThanOrEqual(Math.ceil(full / 1000));
      expect(Number(reset)).toBeGreaterThanOrEqual(Math.ceil((full - (Date.now() - started)) / 1000) - 1);
    }
    const res = await call("/api/v1", { ip });
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(res.headers.get("RateLimit")).toBe('"api";r=0;t=60');
    expect(res.headers.get("RateLimit-Policy")).toBe('"api";q=100;w=60');
    expect(res.headers.get("X-Request-Id")).toBeTruthy();
    const body = await problemOf(res);
    expect(body).toMatchObject({
      type: "https://gatehouse.events/problems/rate-limited",
      status: 429,
      policy: "api",
      retryAfter: 1,
    });
  });

  it("gives the quota back as the window passes", async () => {
    freezeClock(Date.UTC(2031, 5, 1));
    const ip = freshIp();
    for (let i = 0; i < 100; i++) await call("/api/v1", { ip });
    expect((await call("/api/v1", { ip })).status).toBe(429);
    setClock(Date.UTC(2031, 5, 1) + 60_000);
    const statuses = [];
    for (let i = 0; i < 101; i++) statuses.push((await call("/api/v1", { ip })).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses[100]).toBe(429);
  });

  it("keeps addresses apart, and groups an IPv6 /64 into one key", async () => {
    const a = freshIp();
    for (let i = 0; i < 100; i++) await call("/api/v1", { ip: a });
    expect((await call("/api/v1", { ip: a })).status).toBe(429);
    expect((await call("/api/v1", { ip: freshIp() })).status).toBe(200);

    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`;
    for (let i = 0; i < 100; i++) await call("/api/v1", { ip: `${prefix}::${(i + 1).toString(16)}` });
    expect((await call("/api/v1", { ip: `${prefix}:ffff:ffff:ffff:ffff` })).status).toBe(429);
    expect((await call("/api/v1", { ip: `${prefix.replace(/:1$/, ":2")}::1` })).status).toBe(200);
  });

  it("ignores X-Forwarded-For: a spoofed header does not buy a fresh budget", async () => {
    const ip = freshIp();
    for (let i = 0; i < 100; i++) {
      await call("/api/v1", { ip, headers: { "X-Forwarded-For": `203.0.113.${i}` } });
    }
    const res = await call("/api/v1", { ip, headers: { "X-Forwarded-For": "203.0.113.250" } });
    expect(res.status).toBe(429);
  });

  it("200 concurrent requests from one address: exactly 100 pass", async () => {
    const ip = freshIp();
    const statuses = await Promise.all(
      Array.from({ length: 200 }, () => call("/api/v1", { ip }).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(100);
    expect(statuses.filter((s) => s === 429)).toHaveLength(100);
  });

  it("does not limit routes outside /api", async () => {
    const ip = freshIp();
    for (let i = 0; i < 105; i++) {
      const res = await call("/openapi.json", { ip });
      expect(res.headers.get("RateLimit")).toBeNull();
    }
  });

  it("limits scanner devices per device, not per address, and spends none of the address's api budget", async () => {
    const { host, event } = await gateEvent();
    const first = await registerDevice(event.id, host.token);
    const second = await registerDevice(event.id, host.token);
    const ip = freshIp();
    const statuses = [];
    for (let i = 0; i < 21; i++) {
      statuses.push((await call("/api/v1/scanner/keys", { ip, headers: deviceAuth(first.token) })).status);
    }
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses[20]).toBe(429);
    const other = await call("/api/v1/scanner/keys", { ip, headers: deviceAuth(second.token) });
    expect(other.status).toBe(200);
    expect(other.headers.get("RateLimit-Policy")).toBe('"scanner";q=20;w=1');
    expect(other.headers.get("RateLimit")).toBe('"scanner";r=19;t=1');
    // The address's own budget is whole: the devices' 22 requests were not counted against it.
    const plain = await call("/api/v1", { ip });
    expect(plain.headers.get("RateLimit")).toBe('"api";r=99;t=1');
  });

  it("a made-up device token gets no scanner budget: refused 401 before any per-device limit", async () => {
    const res = await call("/api/v1", { headers: { Authorization: `Device ${crypto.randomUUID()}` } });
    expect(res.status).toBe(401);
    expect((await problemOf(res)).type).toMatch(/\/unauthorized$/);
    expect(res.headers.get("RateLimit-Policy")).toBeNull();
  });
});

describe("RATE_LIMITS override", () => {
  it("replaces a policy's limit and window, as the README's Configuration section documents", async () => {
    const app = createApp();
    const overridden = { ...env, RATE_LIMITS: '{"api":{"limit":3,"windowSeconds":10}}' };
    const ip = freshIp();
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const res = await app.request("/api/v1", { headers: { "CF-Connecting-IP": ip } }, overridden);
      statuses.push(res.status);
      if (i === 0) expect(res.headers.get("RateLimit-Policy")).toBe('"api";q=3;w=10');
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it("a malformed override fails closed with 503 and names the variable in the log", async () => {
    const logs = captureLogs();
    const app = createApp();
    const res = await app.request("/api/v1", {}, { ...env, RATE_LIMITS: '{"api":{"limit":-1}}' });
    expect(res.status).toBe(503);
    expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/unavailable");
    expect(logs.raw("error").join("\n")).toContain('"keys":["RATE_LIMITS"]');
  });
});

describe("when the RateLimiter object cannot be reached", () => {
  const broken = {
    getByName() {
      throw new Error("object unreachable");
    },
  };

  it("fails open for public reads (policy api)", async () => {
    const app = createApp();
    const res = await app.request(
      "/api/v1",
      { headers: { "CF-Connecting-IP": freshIp() } },
      { ...env, RATE_LIMITER: broken },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("RateLimit")).toBeNull();
  });

  it("fails closed (503 + Retry-After) for policies that guard auth and payments", async () => {
    const { rateLimit, byIp } = await import("../../src/http/rate-limit");
    const app = createApp();
    app.post("/api/v1/test-login", rateLimit({ policy: "auth-login", key: byIp }), (c) => c.json({ ok: true }));
    const res = await app.request(
      "/api/v1/test-login",
      { method: "POST", headers: { "CF-Connecting-IP": freshIp() } },
      { ...env, RATE_LIMITS: '{"api":{"limit":1000,"windowSeconds":60}}', RATE_LIMITER: broken },
    );
    // The api policy fails open first; auth-login then fails closed.
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("5");
    expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/unavailable");
  });
});

describe("one shape per limiter refusal, whichever layer refuses", () => {
  const broken = {
    getByName() {
      throw new Error("object unreachable");
    },
  };

  it("a closed policy's 503 from the middleware reads like sign-in's: retryAfter in the body matches Retry-After", async () => {
    const { rateLimit, byIp } = await import("../../src/http/rate-limit");
    const app = createApp();
    app.post("/api/v1/test-login", rateLimit({ policy: "auth-login", key: byIp }), (c) => c.json({ ok: true }));
    const bindings = { ...env, RATE_LIMITS: '{"api":{"limit":1000,"windowSeconds":60}}', RATE_LIMITER: broken };
    const headers = { "CF-Connecting-IP": freshIp(), "Content-Type": "application/json" };
    const middleware = await app.request("/api/v1/test-login", { method: "POST", headers }, bindings);
    const signIn = await app.request(
      "/api/v1/auth/login",
      { method: "POST", headers, body: JSON.stringify({ email: "nobody@example.com", password: "a-long-passphrase" }) },
      bindings,
    );
    const shapes = [];
    for (const res of [middleware, signIn]) {
      expect(res.status).toBe(503);
      const body = await problemOf(res);
      expect(body).toMatchObject({ type: "https://gatehouse.events/problems/unavailable", status: 503, retryAfter: 5 });
      expect(res.headers.get("Retry-After")).toBe(String(body.retryAfter));
      shapes.push(Object.keys(body).sort());
    }
    expect(shapes[0]).toEqual(shapes[1]);
  });
});

describe("rate-limit headers on error responses", () => {
  it("a route that answers a problem still carries RateLimit-Policy and RateLimit", async () => {
    const res = await call("/api/v1/events/no-such-event");
    expect(res.status).toBe(404);
    expect(res.headers.get("RateLimit-Policy")).toBe('"api";q=100;w=60');
    expect(res.headers.get("RateLimit")).toMatch(/^"api";r=99;t=1$/);
    expect(res.headers.get("Content-Type")).toBe("application/problem+json");
  });
});

describe("ordering's per-address budget (orders-ip) rides with api", () => {
  it("one limiter call per order request takes both; the 11th order attempt from one address in a minute is 429 orders-ip", async () => {
    const { hostWithToken, createEvent, buyers } = await import("../features/events/helpers");
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 50, perUserLimit: 1 });
    const people = await buyers(11);
    const objects: string[] = [];
    const limiter = {
      getByName(name: string) {
        objects.push(name);
        return env.RATE_LIMITER.getByName(name);
      },
    };
    const app = createApp();
    const ip = freshIp();
    const statuses: number[] = [];
    let firstHeaders: Headers | null = null;
    for (const person of people) {
      objects.length = 0;
      const res = await app.request(
        `/api/v1/events/${event.id}/orders`,
        {
          method: "POST",
          headers: {
            "CF-Connecting-IP": ip,
            Authorization: `Bearer ${person.token}`,
            "Content-Type": "application/json",
          },
          body: JSON.stringify({ quantity: 1 }),
        },
        { ...env, RATE_LIMITER: limiter },
      );
      statuses.push(res.status);
      firstHeaders ??= res.headers;
      if (res.status === 201) {
        // The address's object once (api + orders-ip), the buyer's shard once (orders-user).
        expect(objects.filter((o) => o.startsWith("ip:"))).toHaveLength(1);
        expect(objects.filter((o) => o.startsWith("shard:user:"))).toHaveLength(1);
      }
    }
    expect(statuses).toEqual([...Array(10).fill(201), 429]);
    // The refused order changed nothing: ten tickets, none for the eleventh buyer.
    const { checkedStats, objectTickets } = await import("../features/events/helpers");
    expect(await checkedStats(event.id)).toMatchObject({ sold: 10, held: 0 });
    expect((await objectTickets(event.id)).map((t) => t.user_id)).not.toContain(people[10]?.id);
    expect(firstHeaders?.get("RateLimit-Policy")).toBe(
      '"api";q=100;w=60, "orders-ip";q=10;w=60, "orders-user";q=5;w=60',
    );
  });
});
