import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { sweepExpiredIdempotencyKeys } from "../../queues/scheduled";
import { getConfig } from "../../src/config";
import type { AppEnv, Principal } from "../../src/context";
import { idempotency } from "../../src/http/idempotency";
import { domainErrorResponse, problem } from "../../src/http/problem";
import { DomainError } from "../../src/lib/errors";
import { freezeClock, setClock } from "../support/clock";

/** A Hono app built here, Hono-style: a counter handler behind the idempotency middleware. */
function buildApp(options: { delayMs?: number; failFirst?: boolean } = {}) {
  const runs: unknown[] = [];
  let failures = options.failFirst ? 1 : 0;
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    c.set("requestId", "req-test-0001");
    c.set("config", getConfig(c.env));
    const user = c.req.header("X-Test-User");
    c.set("principal", user ? ({ kind: "user", id: user, roles: [], via: "bearer" } satisfies Principal) : null);
    await next();
  });
  app.onError((error, c) =>
    error instanceof DomainError ? domainErrorResponse(c, error) : problem(c, "internal", "boom"),
  );
  app.post("/orders", idempotency(), async (c) => {
    const body = await c.req.json();
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    if (failures > 0) {
      failures -= 1;
      throw new Error("transient");
    }
    runs.push(body);
    if (body.soldOut) throw new DomainError("conflict", "sold out");
    return c.json({ orderId: `order-${runs.length}`, quantity: body.quantity }, 201, {
      Location: `/orders/${runs.length}`,
    });
  });
  const post = (key: string | null, body: unknown, user = "u1") =>
    app.request(
      "/orders",
      {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          "X-Test-User": user,
          ...(key !== null ? { "Idempotency-Key": key } : {}),
        },
        body: JSON.stringify(body),
      },
      env,
    );
  return { app, runs, post };
}

const key = () => `k-${crypto.randomUUID()}`;

describe("Idempotency-Key", () => {
  it("replays the stored status, body and Location with Idempotent-Replayed: true; the handler runs once", async () => {
    const { runs, post } = buildApp();
    const k = key();
    const first = await post(k, { quantity: 2 });
    expect(first.status).toBe(201);
    expect(first.headers.get("Idempotent-Replayed")).toBeNull();
    const firstBody = await first.json();

    const again = await post(k, { quantity: 2 });
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.headers.get("Location")).toBe("/orders/1");
    expect(again.headers.get("Content-Type")).toContain("application/json");
    expect(await again.json()).toEqual(firstBody);
    expect(runs).toHaveLength(1);
  });

  it("same key with a different body: 422 idempotency-key-reused, nothing runs", async () => {
    const { runs, post } = buildApp();
    const k = key();
    await post(k, { quantity: 2 });
    const res = await post(k, { quantity: 3 });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { type: string }).type).toMatch(/idempotency-key-reused$/);
    expect(runs).toHaveLength(1);
  });

  it("same key while the first is still running: 409 idempotency-key-in-flight", async () => {
    const { runs, post } = buildApp({ delayMs: 150 });
    const k = key();
    const [a, b] = await Promise.all([
      post(k, { quantity: 1 }),
      new Promise((r) => setTimeout(r, 30)).then(() => post(k, { quantity: 1 })),
    ]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    const conflict = a.status === 409 ? a : b;
    expect(((await conflict.json()) as { type: string }).type).toMatch(/idempotency-key-in-flight$/);
    expect(runs).toHaveLength(1);
  });

  it("50 concurrent retries of one key run the handler exactly once", async () => {
    const { runs, post } = buildApp({ delayMs: 20 });
    const k = key();
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(k, { quantity: 1 })));
    const statuses = responses.map((r) => r.status);
    expect(runs).toHaveLength(1);
    expect(statuses.filter((s) => s === 201)).toHaveLength(
      1 + responses.filter((r) => r.headers.get("Idempotent-Replayed")).length,
    );
    expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = ?")
      .bind(k)
      .first<{ n: number }>();
    expect(rows?.n).toBe(1);
  });

  it("is scoped to the caller: another user's identical key is a separate request", async () => {
    const { runs, post } = buildApp();
    const k = key();
    await post(k, { quantity: 1 }, "alice");
    const bob = await post(k, { quantity: 1 }, "bob");
    expect(bob.status).toBe(201);
    expect(bob.headers.get("Idempotent-Replayed")).toBeNull();
    expect(runs).toHaveLength(2);
  });

  it("replays domain errors too (a retried sold-out stays sold-out)", async () => {
    const { runs, post } = buildApp();
    const k = key();
    expect((await post(k, { soldOut: true })).status).toBe(409);
    const again = await post(k, { soldOut: true });
    expect(again.status).toBe(409);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(runs).toHaveLength(1);
  });

  it("does not store a 5xx: the client's retry runs again", async () => {
    const { runs, post } = buildApp({ failFirst: true });
    const k = key();
    expect((await post(k, { quantity: 1 })).status).toBe(500);
    const retry = await post(k, { quantity: 1 });
    expect(retry.status).toBe(201);
    expect(retry.headers.get("Idempotent-Replayed")).toBeNull();
    expect(runs).toHaveLength(1);
  });

  it("without the header the middleware is transparent", async () => {
    const { runs, post } = buildApp();
    await post(null, { quantity: 1 });
    await post(null, { quantity: 1 });
    expect(runs).toHaveLength(2);
  });

  it.each([[""], ["a".repeat(256)], ["has space"], ["tab\there"]])(
    "rejects the malformed key %j with 400",
    async (bad) => {
      const { runs, post } = buildApp();
      const res = await post(bad, { quantity: 1 });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { type: string }).type).toMatch(/idempotency-key-invalid$/);
      expect(runs).toHaveLength(0);
    },
  );

  it("accepts a 255-character key", async () => {
    const { post } = buildApp();
    expect((await post(`${"a".repeat(250)}${Math.random().toString(36).slice(2, 7)}`, { quantity: 1 })).status).toBe(
      201,
    );
  });

  it("keys expire after 24 h: the same key then starts a new request, and the sweep deletes old rows", async () => {
    const start = Date.UTC(2032, 0, 1);
    freezeClock(start);
    const { runs, post } = buildApp();
    const k = key();
    await post(k, { quantity: 1 });
    setClock(start + 24 * 3600 * 1000 - 1);
    expect((await post(k, { quantity: 1 })).headers.get("Idempotent-Replayed")).toBe("true");
    setClock(start + 24 * 3600 * 1000);
    expect((await post(k, { quantity: 5 })).status).toBe(201);
    expect(runs).toHaveLength(2);

    const stale = key();
    setClock(start);
    await post(stale, { quantity: 1 });
    const deleted = await sweepExpiredIdempotencyKeys(env.DB, start + 24 * 3600 * 1000);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT key FROM idempotency_keys WHERE key IN (?, ?)").bind(k, stale).all();
    expect(left.results.map((r) => r.key)).toEqual([k]);
  });

  it("a request that died while running can be retried once its lock lapses", async () => {
    const start = Date.UTC(2033, 0, 1);
    freezeClock(start);
    const { runs, post } = buildApp();
    const k = key();
    // A claimed row with no stored response, as an isolate crash would leave it.
    const body = JSON.stringify({ quantity: 1 });
    const { sha256Hex } = await import("../../src/lib/crypto");
    const fingerprint = await sha256Hex(`POST /orders\n${body}`);
    await env.DB.prepare(
      "INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, expires_at, created_at) VALUES ('user:u1', ?, ?, 'running', ?, ?, ?)",
    )
      .bind(k, fingerprint, start + 60_000, start + 86_400_000, start)
      .run();
    expect((await post(k, { quantity: 1 })).status).toBe(409);
    setClock(start + 60_000);
    expect((await post(k, { quantity: 1 })).status).toBe(201);
    expect(runs).toHaveLength(1);
  });
});
