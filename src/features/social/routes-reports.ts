/**
 * HTTP for moderation: a signed-in user reports a post, comment or user; admins list the queue and
 * resolve a report. The rules live in reports.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { createReport, listReports, type ReportDeps, resolveReport } from "./reports";
import {
  AdminReportListQuery,
  AdminReportListSchema,
  AdminReportSchema,
  ReportBody,
  ReportSchema,
  ResolveBody,
} from "./schema-reports";

const adminOnly = () => [requireAuth({ kind: "user", roles: ["admin"] })];

function deps(c: AppContext): ReportDeps {
  return {
    db: c.env.DB,
    config: c.get("config"),
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
  };
}

function callerId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

const reportRoute = createRoute({
  method: "post",
  path: "/api/v1/reports",
  tags: ["Social"],
  summary: "Report a post, comment or user to the moderators",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "reports", key: (c) => `user:${c.get("principal")?.id}` }),
  ],
  request: body(ReportBody),
  responses: {
    201: json(ReportSchema, "Reported"),
    200: json(ReportSchema, "You already reported this and your report is still open: that report"),
    ...problems(
      ["validation-failed", "a bad field, or reporting yourself"],
      "unauthorized",
      ["not-found", "no such post, comment or user (or it was removed)"],
      "rate-limited",
    ),
  },
});

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/admin/reports",
  tags: ["Admin"],
  summary: "Reports, oldest first (open ones unless `status` says otherwise)",
  security: [{ bearer: [] }],
  middleware: adminOnly(),
  request: { query: AdminReportListQuery },
  responses: {
    200: json(AdminReportListSchema, "A page of reports"),
    ...problems("validation-failed", "unauthorized", ["forbidden", "not an admin"]),
  },
});

const resolveRoute = createRoute({
  method: "post",
  path: "/api/v1/admin/reports/{id}/resolve",
  tags: ["Admin"],
  summary: "Dismiss a report, or remove what it is about (every open report on the same subject is resolved)",
  security: [{ bearer: [] }],
  middleware: adminOnly(),
  request: { params: z.object({ id: z.string().min(1).max(64) }), ...body(ResolveBody) },
  responses: {
    200: json(AdminReportSchema, "The report as resolved"),
    ...problems("validation-failed", "unauthorized", ["forbidden", "not an admin"], "not-found", [
      "invalid-transition",
      "already resolved the other way",
    ]),
  },
});

export const reportRoutes = new OpenAPIHono<AppEnv>()
  .openapi(reportRoute, async (c) => {
    const { report, created } = await createReport(deps(c), callerId(c), c.req.valid("json"));
    return created ? c.json(report, 201) : c.json(report, 200);
  })
  .openapi(listRoute, async (c) => c.json(await listReports(c.env.DB, c.req.valid("query")), 200))
  .openapi(resolveRoute, async (c) =>
    c.json(await resolveReport(deps(c), callerId(c), c.req.valid("param").id, c.req.valid("json")), 200),
  );
