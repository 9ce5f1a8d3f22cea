/** GET /health: 200 when every dependency answers, 503 naming the failed checks otherwise. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { checkHealth } from "./service";

const check = z.enum(["ok", "fail"]);
const HealthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    checks: z.object({
      d1: check,
      durableObjects: check,
      r2: check,
      queues: check,
      billing: z.enum(["ok", "fail", "skipped"]).openapi({
        description:
          "Last Pro subscription reconciliation: fail when older than 2 hours (or never ran); skipped when billing is not configured",
      }),
    }),
    billing: z
      .object({ lastReconciliationSecondsAgo: z.number().int().nullable() })
      .optional()
      .openapi({ description: "Present when billing is configured" }),
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
  const { healthy, ...report } = await checkHealth(c.env);
  c.header("Cache-Control", "no-store");
  if (healthy) return c.json({ status: "ok" as const, ...report }, 200);
  return c.json({ status: "degraded" as const, ...report }, 503);
});
