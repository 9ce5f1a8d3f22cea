/**
 * HTTP for a creator's own analytics: GET /api/v1/me/analytics?from=&to= (UTC days, inclusive;
 * the last 30 days by default, at most LIMITS.creatorAnalyticsMaxDays). Rules live in analytics.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { creatorAnalytics, daysBetween } from "./analytics";
import { utcDay } from "./tracking";

const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .refine(
    (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
    {
      message: "not a date",
    },
  );

const Count = z.number().int();

export const CreatorAnalyticsSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    visits: Count,
    uniqueVisitors: Count.openapi({
      description: "Sum of each day's unique visitors (no cross-day identifier exists)",
    }),
    clicks: Count,
    ctr: z.number().openapi({ description: "clicks / visits" }),
    byDay: z.array(z.object({ day: z.string(), visits: Count, uniqueVisitors: Count, clicks: Count })),
    byLink: z.array(z.object({ linkId: z.string(), title: z.string().nullable(), clicks: Count })),
    byDevice: z.array(z.object({ device: z.string(), visits: Count })),
    byCountry: z.array(z.object({ country: z.string().nullable(), visits: Count })),
    byReferrer: z.array(z.object({ host: z.string().nullable(), visits: Count })),
    bots: Count.openapi({ description: "Bot visits and clicks, left out of every other number" }),
    generatedAt: z.string(),
    stale: z
      .boolean()
      .openapi({ description: "true: the last good answer, served because the read failed or was slow" }),
  })
  .openapi("CreatorAnalytics");

const analyticsRoute = createRoute({
  method: "get",
  path: "/api/v1/me/analytics",
  tags: ["Creators"],
  summary: "Your profile's visits, unique visitors, clicks and breakdowns, from the daily rollups",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { query: z.object({ from: Day.optional(), to: Day.optional() }) },
  responses: {
    200: json(CreatorAnalyticsSchema, "The analytics (stale: true when served from the last good answer)"),
    ...problems(
      ["validation-failed", "a date that is not YYYY-MM-DD, from after to, or more than 366 days"],
      "unauthorized",
      ["unavailable", "the read failed or took over 5 s, and no earlier answer is kept"],
    ),
  },
});

/** The range asked for, defaulting to the 30 days ending today (UTC). */
export function analyticsRange(query: { from?: string | undefined; to?: string | undefined }, now: number) {
  const to = query.to ?? utcDay(now);
  const from = query.from ?? utcDay(Date.parse(`${to}T00:00:00Z`) - 29 * 24 * 60 * 60 * 1000);
  if (from > to || daysBetween(from, to).length > LIMITS.creatorAnalyticsMaxDays) {
    throw new DomainError("validation-failed", `Ask for 1 to ${LIMITS.creatorAnalyticsMaxDays} days, from ≤ to.`, {
      errors: [{ path: "from", message: "from after to, or the range is too long" }],
    });
  }
  return { from, to };
}

function userId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

export const analyticsRoutes = new OpenAPIHono<AppEnv>().openapi(analyticsRoute, async (c) => {
  c.header("Cache-Control", "private, no-store");
  const { from, to } = analyticsRange(c.req.valid("query"), Date.now());
  return c.json(await creatorAnalytics(c.env.DB, userId(c), from, to), 200);
});
