/**
 * Development-only routes, answered 404 in production (as if they did not exist):
 * - GET /dev/mailbox?to=… — what the dev email transport "sent", newest first;
 * - GET /dev/ping — a minimal Worker → Durable Object RPC round trip, the benchmark baseline.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../context";
import { problem } from "../../http/problem";
import { listMailbox } from "./service";

export const devRoutes = new Hono<AppEnv>()
  .use("*", async (c, next) => {
    if (c.get("config").isProduction) return problem(c, "not-found", "No such resource.");
    await next();
  })
  .get("/mailbox", async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json({ items: await listMailbox(c.env.DB, c.req.query("to")) });
  })
  .get("/ping", async (c) => c.json({ pong: await c.env.RATE_LIMITER.getByName("bench:ping").ping() }));
