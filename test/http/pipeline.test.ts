import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { call } from "../helpers";
import { captureLogs } from "../support/logs";

afterEach(() => vi.restoreAllMocks());

describe("request id", () => {
  it("keeps a well-formed incoming X-Request-Id", async () => {
    const res = await call("/health", { headers: { "X-Request-Id": "client-abc-12345" } });
    expect(res.headers.get("X-Request-Id")).toBe("client-abc-12345");
  });

  it("replaces a malformed one, preferring cf-ray", async () => {
    const bad = await call("/health", {
      headers: { "X-Request-Id": "bad id with spaces", "cf-ray": "8a1b2c3d4e5f6789-AMS" },
    });
    expect(bad.headers.get("X-Request-Id")).toBe("8a1b2c3d4e5f6789-AMS");
    const short = await call("/health", { headers: { "X-Request-Id": "x" } });
    expect(short.headers.get("X-Request-Id")).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("is on every response, errors included, and unique per request", async () => {
    const ids = new Set<string>();
    for (const path of ["/health", "/nope", "/openapi.json", "/api/v1"]) {
      const id = (await call(path)).headers.get("X-Request-Id");
      expect(id).toBeTruthy();
      ids.add(id as string);
    }
    expect(ids.size).toBe(4);
  });
});

describe("security headers", () => {
  it.each(["/health", "/nope", "/api/v1", "/openapi.json"])("are on %s", async (path) => {
    const res = await call(path);
    expect(res.headers.get("Content-Security-Policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get("Strict-Transport-Security")).toBe("max-age=31536000; includeSubDomains");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
    expect(res.headers.get("Cross-Origin-Opener-Policy")).toBe("same-origin");
    expect(res.headers.get("Cross-Origin-Resource-Policy")).toBe("same-origin");
    expect(res.headers.get("X-Powered-By")).toBeNull();
  });

  it("/docs gets its own page CSP, still forbidding framing", async () => {
    const res = await call("/docs");
    expect(res.status).toBe(200);
    const csp = res.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("frame-ancestors 'none'");
    const scriptSrc = csp.split(";").find((d) => d.trim().startsWith("script-src")) ?? "";
    expect(scriptSrc).toMatch(/'nonce-[A-Za-z0-9+/_=-]+'/);
    expect(scriptSrc).not.toContain("'unsafe-inline'");
    expect(await res.text()).toContain("/openapi.json");
  });
});

describe("CORS", () => {
  it("echoes an allowlisted origin with credentials, never *", async () => {
    const res = await call("/api/v1", { headers: { Origin: "https://app.gatehouse.test" } });
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("https://app.gatehouse.test");
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBe("true");
    expect(res.headers.get("Access-Control-Expose-Headers")).toContain("X-Request-Id");
  });

  it("answers a preflight from an allowlisted origin", async () => {
    const res = await call("/api/v1", {
      method: "OPTIONS",
      headers: {
        Origin: "https://app.gatehouse.test",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Idempotency-Key, Content-Type",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe("https://app.gatehouse.test");
    expect(res.headers.get("Access-Control-Allow-Headers")).toContain("Idempotency-Key");
  });

  it("gives an unknown origin no CORS headers", async () => {
    const res = await call("/api/v1", { headers: { Origin: "https://evil.example" } });
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
  });
});

describe("access log", () => {
  it("writes one JSON line per request with the route pattern, not the raw path or secrets", async () => {
    const logs = captureLogs();
    const app = createApp();
    app.get("/api/v1/things/:id", (c) => c.json({ id: c.req.param("id") }));
    await app.request(
      "/api/v1/things/secret-id-123?token=abc",
      { headers: { Authorization: "Basic sk_live_abc", Cookie: "session=xyz", "CF-Connecting-IP": "192.0.2.7" } },
      env,
    );
    const requestLines = logs.lines.filter((l) => l.entry.msg === "request");
    expect(requestLines.map((l) => l.stream)).toEqual(["log"]);
    const entry = requestLines[0]?.entry ?? {};
    expect(entry).toMatchObject({ level: "info", method: "GET", route: "/api/v1/things/:id", status: 200, user: null });
    expect(typeof entry.ms).toBe("number");
    expect(entry.requestId).toMatch(/\S{8,}/);
    const raw = requestLines[0]?.raw ?? "";
    for (const secret of ["secret-id-123", "sk_live_abc", "xyz", "abc", "192.0.2.7"]) expect(raw).not.toContain(secret);
  });

  it("hashes the user id and warns when a request is slow", async () => {
    const logs = captureLogs();
    const { accessLog } = await import("../../src/http/access-log");
    const { Hono } = await import("hono");
    const app = new Hono<import("../../src/context").AppEnv>();
    app.use(async (c, next) => {
      c.set("requestId", "req-12345678");
      c.set("config", (await import("../../src/config")).getConfig(env));
      await next();
    });
    app.use(accessLog({ slowMs: -1 }));
    app.use(async (c, next) => {
      c.set("principal", { kind: "user", id: "user-42", roles: [], via: "bearer" });
      await next();
    });
    app.get("/x", (c) => c.text("ok"));
    await app.request("/x", {}, env);
    const [entry] = logs.lines.filter((l) => l.stream === "warn" && l.entry.msg === "request").map((l) => l.entry);
    expect(entry?.level).toBe("warn");
    expect(entry?.slow).toBe(true);
    expect(entry?.user).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(entry)).not.toContain("user-42");
  });

  it("the user hash is the keyed hash of kind:id, the same on every request, and follows a pepper change", async () => {
    const logs = captureLogs();
    const { accessLog } = await import("../../src/http/access-log");
    const { getConfig } = await import("../../src/config");
    const { hmacHex } = await import("../../src/lib/crypto");
    const { Hono } = await import("hono");
    const app = new Hono<import("../../src/context").AppEnv>();
    app.use(async (c, next) => {
      c.set("requestId", "req-12345678");
      c.set("config", getConfig(c.env));
      await next();
    });
    app.use(accessLog());
    app.use(async (c, next) => {
      c.set("principal", { kind: "device", id: "gate-7", roles: [], via: "device" });
      await next();
    });
    app.get("/x", (c) => c.text("ok"));
    const other = { ...env, HASH_PEPPER: "another-pepper-0123456789abcdef0123456789" };
    for (const bindings of [env, env, other, env]) await app.request("/x", {}, bindings);
    const users = logs.entries("request").map((e) => e.user as string);
    const expected = async (pepper: string) => (await hmacHex(pepper, "device:gate-7")).slice(0, 16);
    const mine = await expected(getConfig(env).hashPepper);
    expect(users).toEqual([mine, mine, await expected(getConfig(other).hashPepper), mine]);
    expect(users[2]).not.toBe(mine);
  });
});
