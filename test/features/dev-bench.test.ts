/**
 * The `inventory` benchmark's development routes (src/features/dev/bench.ts): an event fixture, then
 * N RPCs with concurrency C to its EventInventory object (free claims, each a new buyer) or to the bare
 * BenchProbe write, each answering counts, timing and errors in one shape. They exist only where the
 * other /dev routes do: DEV_ROUTES=1, not production, a loopback host. In a file of its own: storage
 * is per test file, so the probe's row count is this file's.
 */
import { createExecutionContext, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config/limits";
import { PROBE_NAME } from "../../src/features/dev/bench";
import worker from "../../src/index";
import { placement } from "../../src/lib/rate-limit-client";
import { devCall, freshIp, json, problemOf } from "../helpers";

interface Run {
  target: string;
  calls: number;
  concurrency: number;
  ok: number;
  errors: number;
  errorsByCode: Record<string, number>;
  elapsedMs: number;
  callsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface InventoryRun extends Run {
  eventId: string;
  tickets: number;
  distinctSerials: number;
}

const RUN_KEYS = [
  "target",
  "calls",
  "concurrency",
  "ok",
  "errors",
  "errorsByCode",
  "elapsedMs",
  "callsPerSec",
  "p50Ms",
  "p99Ms",
  "maxMs",
];

function post(path: string, body: unknown) {
  return devCall(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function inventoryFixture(capacity: number): Promise<string> {
  const res = await post("/dev/fixtures/inventory", { capacity });
  expect(res.status).toBe(201);
  const body = await json<{ eventId: string }>(res);
  expect(Object.keys(body)).toEqual(["eventId"]);
  return body.eventId;
}

const probeRows = () => env.BENCH_PROBE.getByName(PROBE_NAME).count();

/** Timing figures that hang together: whole milliseconds, p50 ≤ p99 ≤ max ≤ the run, a rate to match. */
function expectTimings(run: Run): void {
  for (const ms of [run.p50Ms, run.p99Ms, run.maxMs, run.elapsedMs]) {
    expect(Number.isInteger(ms)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(0);
  }
  expect(run.p50Ms).toBeLessThanOrEqual(run.p99Ms);
  expect(run.p99Ms).toBeLessThanOrEqual(run.maxMs);
  expect(run.maxMs).toBeLessThanOrEqual(run.elapsedMs);
  expect(run.callsPerSec).toBe(run.elapsedMs > 0 ? (run.calls * 1000) / run.elapsedMs : 0);
}

describe("POST /dev/bench/probe", () => {
  it("makes `calls` bare writes to the one probe object, a row each, and answers the run's figures", async () => {
    const before = await probeRows();
    const res = await post("/dev/bench/probe", { calls: 40, concurrency: 8 });
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const run = await json<Run>(res);
    expect(Object.keys(run).sort()).toEqual([...RUN_KEYS].sort());
    expect(run).toMatchObject({ target: "probe", calls: 40, concurrency: 8, ok: 40, errors: 0, errorsByCode: {} });
    expectTimings(run);
    expect(await probeRows()).toBe(before + 40);
  });

  it("with `rows: sale` stores a sale's rows per call in the inventory's own tables: an order, a ticket numbered after the last, three outbox records", async () => {
    const probe = env.BENCH_PROBE.getByName(PROBE_NAME);
    const before = await probe.sales();
    const bare = await probeRows();
    const run = await json<Run>(await post("/dev/bench/probe", { calls: 30, concurrency: 6, rows: "sale" }));
    expect(run).toMatchObject({ target: "sale", calls: 30, concurrency: 6, ok: 30, errors: 0, errorsByCode: {} });
    expectTimings(run);
    expect(await probe.sales()).toEqual({
      orders: before.orders + 30,
      tickets: before.tickets + 30,
      outbox: before.outbox + 90,
      distinctSerials: before.distinctSerials + 30,
    });
    // The highest serial is the count: numbered 1, 2, 3, … as a sale numbers them.
    const [top] = await runInDurableObject(probe, (_instance, state) =>
      state.storage.sql.exec<{ top: number }>("SELECT MAX(serial) AS top FROM tickets").toArray(),
    );
    expect(top?.top).toBe(before.tickets + 30);
    expect(await probeRows()).toBe(bare);
  });

  it("never has more calls in flight than there are calls", async () => {
    const before = await probeRows();
    const run = await json<Run>(await post("/dev/bench/probe", { calls: 3, concurrency: 500 }));
    expect(run).toMatchObject({ calls: 3, ok: 3, errors: 0 });
    expect(await probeRows()).toBe(before + 3);
  });
});

describe("POST /dev/fixtures/inventory and /dev/bench/inventory", () => {
  it("creates a published free event with the capacity asked for and no buyers", async () => {
    const eventId = await inventoryFixture(7);
    const event = await env.DB.prepare("SELECT status, price, capacity, per_user_limit FROM events WHERE id = ?")
      .bind(eventId)
      .first();
    expect(event).toEqual({ status: "published", price: 0, capacity: 7, per_user_limit: 1 });
    expect(await env.EVENT_INVENTORY.getByName(eventId).stats()).toMatchObject({ capacity: 7, sold: 0, remaining: 7 });
  });

  it("claims concurrently until sold out: each claim a new buyer, never past the capacity, refusals counted by code", async () => {
    const eventId = await inventoryFixture(12);
    const res = await post("/dev/bench/inventory", { eventId, calls: 20, concurrency: 6 });
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const run = await json<InventoryRun>(res);
    expect(Object.keys(run).sort()).toEqual([...RUN_KEYS, "eventId", "tickets", "distinctSerials"].sort());
    expect(run).toMatchObject({
      target: "inventory",
      calls: 20,
      concurrency: 6,
      ok: 12,
      errors: 8,
      errorsByCode: { "sold-out": 8 },
      eventId,
      tickets: 12,
      distinctSerials: 12,
    });
    expectTimings(run);

    // The claims are real sales, the order path's: the object sold them, and its outbox carries them
    // (and a confirmation to each buyer) to D1.
    const check = await json<Record<string, number>>(await devCall(`/dev/fixtures/on-sale/${eventId}/check`));
    expect(check).toMatchObject({ capacity: 12, sold: 12, d1Tickets: 12, distinctSerials: 12, oversold: 0 });
    const buyers = await env.DB.prepare(
      "SELECT COUNT(DISTINCT user_id) AS n, COUNT(*) AS orders FROM orders WHERE event_id = ? AND status = 'confirmed'",
    )
      .bind(eventId)
      .first();
    expect(buyers).toEqual({ n: 12, orders: 12 });
    const emails = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM email_outbox WHERE id IN (SELECT 'order-confirmed:' || id FROM orders WHERE event_id = ?)",
    )
      .bind(eventId)
      .first<{ n: number }>();
    expect(emails?.n).toBe(12);
  });

  it("answers 404 for an unknown event and 400 for a body that is not a valid run", async () => {
    const missing = await post("/dev/bench/inventory", { eventId: "no-such-event", calls: 1, concurrency: 1 });
    expect(missing.status).toBe(404);
    const eventId = await inventoryFixture(1);
    const bad: [string, unknown][] = [
      ["/dev/bench/inventory", { eventId, calls: 0, concurrency: 1 }],
      ["/dev/bench/inventory", { eventId, calls: 100_001, concurrency: 1 }],
      ["/dev/bench/inventory", { eventId, calls: 1, concurrency: 501 }],
      ["/dev/bench/inventory", { calls: 1, concurrency: 1 }],
      ["/dev/bench/probe", { calls: 1.5, concurrency: 1 }],
      ["/dev/bench/probe", { calls: 1, concurrency: 0 }],
      ["/dev/bench/probe", { calls: 1, concurrency: 1, extra: true }],
      ["/dev/bench/probe", { calls: 1, concurrency: 1, rows: "claim" }],
      ["/dev/fixtures/inventory", { capacity: 0 }],
      ["/dev/fixtures/inventory", { capacity: 1_000_001 }],
    ];
    const rows = await probeRows();
    for (const [path, body] of bad) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect((await problemOf(res)).type).toMatch(/\/validation-failed$/);
    }
    const malformed = await post("/dev/bench/probe", "{not json");
    expect(malformed.status).toBe(400);
    expect((await problemOf(malformed)).type).toMatch(/\/malformed-json$/);
    // Nothing was written or sold by a refused request.
    expect(await probeRows()).toBe(rows);
    expect(await env.EVENT_INVENTORY.getByName(eventId).stats()).toMatchObject({ sold: 0 });
  });
});

describe("POST /dev/bench/warm-shards", () => {
  it("calls every shared user and mailto limiter object: the ones the order path and the email consumer use", async () => {
    const res = await post("/dev/bench/warm-shards", {});
    expect(res.status).toBe(200);
    const { warmed } = await json<{ warmed: string[] }>(res);
    expect(warmed).toHaveLength(2 * LIMITS.rateLimiterShards);
    expect(new Set(warmed).size).toBe(warmed.length);
    for (let i = 0; i < 200; i++) {
      expect(warmed).toContain(placement(`user:${crypto.randomUUID()}`, "sessions").object);
      expect(warmed).toContain(placement(`mailto:${crypto.randomUUID()}`, "email-recipient").object);
    }
  });
});

describe("where the bench routes exist", () => {
  const { DEV_ROUTES: _dev, ...base } = env;
  const cases: [string, string, object][] = [
    ["development without DEV_ROUTES", "http://localhost:8787", { ...base, ENVIRONMENT: "development" }],
    [
      "DEV_ROUTES=1 on a host that is not loopback",
      "https://staging.gatehouse.example",
      { ...base, ENVIRONMENT: "development", DEV_ROUTES: "1" },
    ],
    [
      "production with DEV_ROUTES=1, from localhost",
      "http://localhost:8787",
      { ...base, ENVIRONMENT: "production", PUBLIC_URL: "https://tickets.example", DEV_ROUTES: "1" },
    ],
  ];

  it.each(cases)("%s: 404 as for a path that does not exist, nothing written or sold", async (_, origin, bindings) => {
    const eventId = await inventoryFixture(5);
    const rows = await probeRows();
    const send = (path: string, body: unknown) =>
      worker.fetch(
        new Request(`${origin}${path}`, {
          method: "POST",
          headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
          body: JSON.stringify(body),
        }),
        bindings as Env,
        createExecutionContext(),
      );
    for (const [path, body] of [
      ["/dev/bench/probe", { calls: 5, concurrency: 5 }],
      ["/dev/bench/inventory", { eventId, calls: 5, concurrency: 5 }],
      ["/dev/fixtures/inventory", { capacity: 5 }],
      ["/dev/bench/warm-shards", {}],
    ] as const) {
      const res = await send(path, body);
      expect(res.status, path).toBe(404);
      expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/not-found");
    }
    expect(await probeRows()).toBe(rows);
    expect(await env.EVENT_INVENTORY.getByName(eventId).stats()).toMatchObject({ sold: 0 });
  });
});
