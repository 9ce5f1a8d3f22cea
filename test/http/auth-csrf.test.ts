import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Principal } from "../../src/context";
import { type Authenticator, requireAuth } from "../../src/http/auth";
import { issueCsrfToken } from "../../src/http/csrf";
import { DomainError } from "../../src/lib/errors";
import { freshIp, problemOf } from "../helpers";

/** A stand-in scheme: `Bearer good-<id>` or cookie `sid=<id>`; anything else under Bearer is bad. */
const testBearer: Authenticator = async (c) => {
  const header = c.req.header("Authorization");
  if (!header?.startsWith("Bearer ")) return undefined;
  const token = header.slice(7);
  if (!token.startsWith("good-")) throw new DomainError("unauthorized", "Invalid token.");
  return { kind: "user", id: token.slice(5), roles: ["attendee"], via: "bearer" } satisfies Principal;
};
const testCookie: Authenticator = async (c) => {
  const sid = /(?:^|;\s*)sid=([^;]+)/.exec(c.req.header("Cookie") ?? "")?.[1];
  return sid ? { kind: "user", id: sid, roles: ["host"], via: "cookie" } : undefined;
};

function buildApp() {
  const app = createApp({ authenticators: [testBearer, testCookie] });
  app.get("/api/v1/whoami", requireAuth(), (c) => c.json(c.get("principal")));
  app.post("/api/v1/things", requireAuth(), (c) => c.json({ ok: true }, 201));
  app.post("/api/v1/host-only", requireAuth({ roles: ["admin"] }), (c) => c.json({ ok: true }));
  return app;
}

const send = (path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", freshIp());
  return buildApp().request(`https://gatehouse.test${path}`, { ...init, headers }, env);
};

describe("auth hook", () => {
  it("resolves the principal from the first scheme that recognises the request", async () => {
    const res = await send("/api/v1/whoami", { headers: { Authorization: "Bearer good-u7" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ kind: "user", id: "u7", via: "bearer" });
  });

  it("anonymous on a protected route: 401 unauthorized", async () => {
    const res = await send("/api/v1/whoami");
    expect(res.status).toBe(401);
    expect((await problemOf(res)).type).toMatch(/\/unauthorized$/);
  });

  it("a bad credential is 401, never downgraded to anonymous", async () => {
    const res = await send("/api/v1/whoami", { headers: { Authorization: "Bearer forged" } });
    expect(res.status).toBe(401);
  });

  it("a missing role is 403 forbidden", async () => {
    const res = await send("/api/v1/host-only", { method: "POST", headers: { Authorization: "Bearer good-u1" } });
    expect(res.status).toBe(403);
    expect((await problemOf(res)).type).toMatch(/\/forbidden$/);
  });
});

// Signed with the test COOKIE_SECRET (vitest.config.ts) before the table below is built.
const token = await issueCsrfToken("test-cookie-0123456789abcdef0123456789abcdef");

describe("CSRF for cookie-authenticated requests", () => {
  const cookie = `sid=u1; __Host-csrf=${token}`;

  it("a cookie and header that match but were not signed by us are refused", async () => {
    const forged = "attacker-chosen.value";
    const res = await send("/api/v1/things", {
      method: "POST",
      headers: { Cookie: `sid=u1; __Host-csrf=${forged}`, Origin: "https://gatehouse.test", "X-CSRF-Token": forged },
    });
    expect(res.status).toBe(403);
  });

  it("same-origin cookie POST with the double-submit token passes", async () => {
    const res = await send("/api/v1/things", {
      method: "POST",
      headers: { Cookie: cookie, Origin: "https://gatehouse.test", "X-CSRF-Token": token },
    });
    expect(res.status).toBe(201);
  });

  it("an allowlisted front-end origin passes", async () => {
    const res = await send("/api/v1/things", {
      method: "POST",
      headers: { Cookie: cookie, Origin: "https://app.gatehouse.test", "X-CSRF-Token": token },
    });
    expect(res.status).toBe(201);
  });

  it("Sec-Fetch-Site: same-origin stands in for a missing Origin", async () => {
    const res = await send("/api/v1/things", {
      method: "POST",
      headers: { Cookie: cookie, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": token },
    });
    expect(res.status).toBe(201);
  });

  it.each([
    ["cross-site Origin", { Origin: "https://evil.example", "X-CSRF-Token": token }],
    ["no Origin and cross-site fetch metadata", { "Sec-Fetch-Site": "cross-site", "X-CSRF-Token": token }],
    ["no Origin, no fetch metadata", { "X-CSRF-Token": token }],
    ["missing token header", { Origin: "https://gatehouse.test" }],
    ["wrong token", { Origin: "https://gatehouse.test", "X-CSRF-Token": `${token.slice(0, -1)}X` }],
  ])("refuses a cookie POST with %s: 403 csrf-failed", async (_name, headers) => {
    const res = await send("/api/v1/things", { method: "POST", headers: { Cookie: cookie, ...headers } });
    expect(res.status).toBe(403);
    expect((await problemOf(res)).type).toMatch(/\/csrf-failed$/);
  });

  it("the same cross-site POST with a bearer token is not CSRF-able and passes", async () => {
    const res = await send("/api/v1/things", {
      method: "POST",
      headers: { Authorization: "Bearer good-u1", Origin: "https://evil.example" },
    });
    expect(res.status).toBe(201);
  });

  it("safe methods are not checked", async () => {
    const res = await send("/api/v1/whoami", { headers: { Cookie: cookie, Origin: "https://evil.example" } });
    expect(res.status).toBe(200);
  });
});
