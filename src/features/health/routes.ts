/** GET /health: 200 when every dependency answers, 503 naming the failed checks otherwise. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { checkHealth } from "./service";

const check = z.enum(["ok", "fail"]);
const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    checks: z.object({ d1: check, durableObjects: check, r2: check, queues: check }),
  })
  .openapi("Health");

const route = createRoute({
  method: "get",
  path: "/health",
  tags: ["Operations"],
  summary: "Dependency health",
  responses: {
    200: { description: "Every check passed", content: { "application/json": { schema: HealthSchema } } },
    503: { description: "At least one check failed", content: { "application/json": { schema: HealthSchema } } },
  },
});

export const healthRoutes = new OpenAPIHono<AppEnv>().openapi(route, async (c) => {
  const { healthy, checks } = await checkHealth(c.env);
  c.header("Cache-Control", "no-store");
  if (healthy) return c.json({ status: "ok" as const, checks }, 200);
  return c.json({ status: "degraded" as const, checks }, 503);
});
