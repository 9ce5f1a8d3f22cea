/**
 * Development-only routes. They are mounted only in the app src/index.ts builds for a configuration
 * with DEV_ROUTES=1 (never in production), and even there answer only loopback hosts (./guard.ts);
 * any other request gets the not-found answer of a path that does not exist:
 * - GET /dev/mailbox?to=… — what the dev email transport "sent", newest first;
 * - GET /dev/ping — a minimal Worker → Durable Object RPC round trip, the benchmark baseline;
 * - POST /dev/seed — idempotent demo data (npm run dev calls it once the Worker answers);
 * - POST /dev/fixtures/on-sale — a free event plus many buyers with access tokens (npm run bench);
 * - GET /dev/fixtures/on-sale/:eventId/check — sold vs capacity in the object and in D1 (oversold);
 * - GET /dev/fixtures/on-sale/:eventId/queue — everyone its waiting room numbered, in number order;
 * - POST /dev/fixtures/gate — an event with check-in open, tickets with QR tokens, scanner devices;
 * - GET /dev/fixtures/gate/:eventId/check — the object's gate stats (scans by result, checked in);
 * - GET /dev/fixtures/backlog — emails not yet sent (the bench waits for 0 between scenarios).
 * - POST /dev/fixtures/inventory — a free event without buyers, for the object-only benchmark;
 * - POST /dev/bench/warm-shards — one call to every shared `user:` and `mailto:` limiter object, so
 *   npm run bench's on-sale measures them loaded, as a busy site keeps them;
 * - POST /dev/bench/inventory, POST /dev/bench/probe — inside the Worker, N RPCs with concurrency C
 *   to the event's EventInventory object (free claims) or to the BenchProbe (a bare write, or with
 *   `rows: "sale"` a sale's rows alone), timed alike (./bench.ts; npm run bench's `inventory` scenario).
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { shardObjects } from "../../lib/rate-limit-client";
import { InventoryRunInput, ProbeRunInput, runInventory, runProbe } from "./bench";
import {
  checkGate,
  checkOnSale,
  createGateFixture,
  createInventoryFixture,
  createOnSaleFixture,
  emailBacklog,
  InventoryFixtureInput,
  parseFixtureInput,
  parseGateInput,
  parseOnSaleInput,
} from "./fixtures";
import { devOnly } from "./guard";
import { seedDemo } from "./seed";
import { listMailbox } from "./service";
import { queueEntrants } from "./waiting-room";

export const devRoutes = new Hono<AppEnv>()
  // The app checks the same before it routes; this keeps the routes guarded wherever they are mounted.
  .use("*", devOnly())
  .get("/mailbox", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({ items: await listMailbox(c.env.DB, c.req.query("to")) });
  })
  .get("/ping", async (c) => c.json({ pong: await c.env.RATE_LIMITER.getByName("bench:ping").ping() }))
  .post("/seed", async (c) => c.json(await seedDemo(c.env, c.get("config"))))
  .post("/fixtures/on-sale", async (c) => {
    const input = await parseOnSaleInput(c.req);
    return c.json(await createOnSaleFixture(c.env, c.get("config"), input), 201);
  })
  .get("/fixtures/on-sale/:eventId/check", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await checkOnSale(c.env, c.req.param("eventId")));
  })
  .get("/fixtures/on-sale/:eventId/queue", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await queueEntrants(c.env, c.req.param("eventId")));
  })
  .post("/fixtures/gate", async (c) => {
    const input = await parseGateInput(c.req);
    c.header("Cache-Control", "no-store");
    return c.json(await createGateFixture(c.env, c.get("config"), input), 201);
  })
  .get("/fixtures/gate/:eventId/check", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await checkGate(c.env, c.req.param("eventId")));
  })
  .get("/fixtures/backlog", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await emailBacklog(c.env));
  })
  .post("/fixtures/inventory", async (c) => {
    const input = await parseFixtureInput(c.req, InventoryFixtureInput);
    return c.json(await createInventoryFixture(c.env, c.get("config"), input), 201);
  })
  .post("/bench/inventory", async (c) => {
    const input = await parseFixtureInput(c.req, InventoryRunInput);
    c.header("Cache-Control", "no-store");
    return c.json(await runInventory(c.env, input));
  })
  .post("/bench/warm-shards", async (c) => {
    // The benchmark's on-sale calls this just before measuring (bench/README.md): locally an object
    // idle for some seconds is evicted, and loading it again runs on the Worker's own thread.
    const objects = shardObjects();
    await Promise.all(objects.map((name) => c.env.RATE_LIMITER.getByName(name).ping()));
    c.header("Cache-Control", "no-store");
    return c.json({ warmed: objects });
  })
  .post("/bench/probe", async (c) => {
    const input = await parseFixtureInput(c.req, ProbeRunInput);
    c.header("Cache-Control", "no-store");
    return c.json(await runProbe(c.env, input));
  });
