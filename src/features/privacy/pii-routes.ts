/** HTTP for operators (admin role only): the PII job's progress, and a run of it on demand. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { runPiiJob } from "./pii-job";

const PiiJobReportSchema = z
  .object({
    kid: z.string().openapi({ description: "The key new values are sealed with (the first of PII_KEYS)" }),
    done: z.boolean().openapi({ description: "Every personal column is sealed under that key" }),
    columns: z.array(
      z.object({
        column: z.string().openapi({ example: "users.email" }),
        resealed: z.number().int(),
        failed: z
          .number()
          .int()
          .openapi({ description: "Values that would not open (a retired key): left as they are" }),
        remaining: z.number().int().openapi({ description: "Values not yet under the current key" }),
      }),
    ),
  })
  .openapi("PiiJobReport");

const security = [{ bearer: [] }];
const adminOnly = () => [requireAuth({ kind: "user", roles: ["admin"] })];
const errors = problems("unauthorized", ["forbidden", "not an admin"]);

const progressRoute = createRoute({
  method: "get",
  path: "/api/v1/admin/pii",
  tags: ["Admin"],
  summary: "Progress of the PII job (encryption of older rows, re-encryption after a key rotation)",
  security,
  middleware: adminOnly(),
  responses: { 200: json(PiiJobReportSchema, "What is left per column"), ...errors },
});

const resealRoute = createRoute({
  method: "post",
  path: "/api/v1/admin/pii/reseal",
  tags: ["Admin"],
  summary: "Run one bounded chunk of the PII job now (the five-minute cron runs it too)",
  security,
  middleware: adminOnly(),
  responses: { 200: json(PiiJobReportSchema, "What this run did and what is left"), ...errors },
});

export const piiAdminRoutes = new OpenAPIHono<AppEnv>()
  .openapi(progressRoute, async (c) => c.json(await runPiiJob(c.env.DB, c.get("config").pii, { maxBatches: 0 }), 200))
  .openapi(resealRoute, async (c) => c.json(await runPiiJob(c.env.DB, c.get("config").pii), 200));
