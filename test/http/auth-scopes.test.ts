/**
 * Scoped principals (API keys) in the auth hook: held back from `principal`, so a route meets one only
 * by naming a scope it holds (requireAuth's `scope`, acceptScope); a route that demands a principal
 * without naming a scope refuses it with 403 insufficient-scope, and a route that merely reads the
 * principal sees an anonymous request.
 */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv, Principal } from "../../src/context";
import { acceptScope, authenticate, requireAuth } from "../../src/http/auth";
import { domainErrorResponse } from "../../src/http/problem";
import { DomainError } from "../../src/lib/errors";

/** `Bearer scoped-<scope>,<scope>…` acts as host h1 with those scopes; `Bearer user` as a session. */
function buildApp() {
  const app = new Hono<AppEnv>();
  app.onError((error, c) =>
    error instanceof DomainError ? domainErrorResponse(c, error) : c.text(String(error), 500),
  );
  app.use(
    authenticate([
      async (c) => {
        const value = c.req.header("Authorization")?.replace(/^Bearer /, "");
        if (value === "user") return { kind: "user", id: "h1", roles: ["host"], via: "bearer" } satisfies Principal;
        if (!value?.startsWith("scoped-")) return undefined;
        const scopes = value.slice(7).split(",").filter(Boolean);
        return { kind: "user", id: "h1", roles: ["host"], via: "api-key", scopes, claims: { apiKeyId: "k1" } };
      },
    ]),
  );
  app.get("/plain", requireAuth({ kind: "user" }), (c) => c.json(c.get("principal")));
  app.get("/reads", requireAuth({ kind: "user", scope: "events:read" }), (c) => c.json(c.get("principal")));
  app.get("/public", (c) => c.json({ principal: c.get("principal") }));
  app.get("/public-scoped", acceptScope("events:read"), (c) => c.json({ principal: c.get("principal") }));
  return app;
}

const get = (path: string, token?: string) =>
  buildApp().request(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {}, env);

const code = async (res: Response) => ((await res.json()) as { type: string }).type.split("/").pop();

describe("scoped principals", () => {
  it("a route naming no scope refuses a key (403 insufficient-scope) and serves a session", async () => {
    const refused = await get("/plain", "scoped-events:read");
    expect(refused.status).toBe(403);
    expect(await code(refused)).toBe("insufficient-scope");
    expect((await get("/plain", "user")).status).toBe(200);
  });

  it("a route naming a scope serves a key that holds it, with the scope it acts under, and refuses one without", async () => {
    const ok = await get("/reads", "scoped-orders:read,events:read");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      id: "h1",
      via: "api-key",
      claims: { apiKeyId: "k1", scope: "events:read" },
    });
    const refused = await get("/reads", "scoped-events:write");
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ scope: "events:read" });
    // A session has no scope restriction.
    expect((await get("/reads", "user")).status).toBe(200);
  });

  it("a route that only reads the principal sees a key as anonymous; acceptScope lets it act within its scope", async () => {
    expect(await (await get("/public", "scoped-events:read")).json()).toEqual({ principal: null });
    expect(await (await get("/public-scoped", "scoped-events:read")).json()).toMatchObject({
      principal: { id: "h1", via: "api-key" },
    });
    const refused = await get("/public-scoped", "scoped-orders:read");
    expect(refused.status).toBe(403);
    expect(await code(refused)).toBe("insufficient-scope");
    // Without any credential, acceptScope changes nothing.
    expect(await (await get("/public-scoped")).json()).toEqual({ principal: null });
  });
});
