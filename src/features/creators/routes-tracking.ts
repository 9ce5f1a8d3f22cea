/**
 * HTTP for profile tracking (the contract's "Creators" section): POST /api/v1/track/visit from the
 * profile page, and GET /l/:linkId?t=… that records a click and redirects (302) to the link. Rules
 * live in tracking.ts.
 *
 * Refusals never count: a missing, forged or expired token is 401 for a visit and the branded 404
 * for a click (the contract's only error there; the reason goes to the log, not to the client), as is
 * a link that is not active on a public profile or not the token's creator's. Limits: 50 a minute
 * per address (`track`, refusals included) and 10,000 an hour per creator (`creator-track`). Past
 * the creator's budget a visit is 429; a click still takes the visitor to the link, uncounted (a
 * fan must not be stranded because a creator went viral) and logged.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { body, problems } from "../../http/openapi";
import { byIp, rateLimit, rateLimitedResponse, setRateHeaders } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { log } from "../../lib/log";
import { consumeRates, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { notFoundPage } from "../../web/errors";
import {
  isPublicProfile,
  recordTrackEvent,
  referrerHost,
  type TrackEvent,
  trackableLink,
  utcDay,
  verifyTrackingToken,
  visitorHash,
  visitorTraits,
} from "./tracking";

const perAddress = rateLimit({ policy: "track", key: byIp });

/** Spends one unit of the creator's hourly budget; true when allowed (or the limiter is down: open). */
async function creatorBudget(c: AppContext, userId: string, answer429: boolean): Promise<Response | true | false> {
  const policy = c.get("config").ratePolicies["creator-track"];
  try {
    const [decision] = await consumeRates(c.env.RATE_LIMITER, `creator:${userId}`, [policy]);
    if (!decision) return true;
    if (decision.allowed) {
      setRateHeaders(c, policy, decision);
      return true;
    }
    return answer429 ? rateLimitedResponse(c, policy, decision) : false;
  } catch (error) {
    if (!(error instanceof RateLimiterUnavailable)) throw error;
    log("error", "rate limiter unavailable", { requestId: c.get("requestId"), policy: policy.name, failMode: "open" });
    return true;
  }
}

/** The event for this request, bot detection and pseudonym included; the address is used, not kept. */
async function eventFor(
  c: AppContext,
  userId: string,
  kind: TrackEvent["kind"],
  linkId: string | null,
  referrer: string | null,
  now: number,
): Promise<TrackEvent> {
  const ua = c.req.header("User-Agent") ?? "";
  const cf = c.req.raw.cf as
    | { country?: unknown; verifiedBot?: unknown; botManagement?: { verifiedBot?: unknown } }
    | undefined;
  const verified =
    cf?.verifiedBot === true || cf?.botManagement?.verifiedBot === true || c.req.header("Cf-Verified-Bot") === "true";
  const traits = visitorTraits(ua, verified);
  const country = typeof cf?.country === "string" && /^[A-Z]{2}$/.test(cf.country) ? cf.country : null;
  const day = utcDay(now);
  return {
    userId,
    kind,
    linkId,
    visitorHash: await visitorHash(c.get("config").hashPepper, day, clientIp(c.req.raw.headers) ?? "unknown", ua),
    device: traits.device,
    country,
    referrerHost: referrerHost(referrer),
    bot: traits.bot,
    at: now,
  };
}

const VisitBody = z
  .object({
    token: z.string().max(400).openapi({ description: "The profile's `trackingToken`" }),
    referrer: z.string().max(4096).optional().openapi({ description: "document.referrer; only its host is kept" }),
  })
  .strict()
  .openapi("TrackVisit");

const visitRoute = createRoute({
  method: "post",
  path: "/api/v1/track/visit",
  tags: ["Creators"],
  summary: "Count a visit of a public profile (the page's tracking token)",
  middleware: [perAddress] as const,
  request: body(VisitBody),
  responses: {
    202: { description: "Counted (bots are recorded as bots and left out of the analytics)" },
    ...problems(
      "validation-failed",
      ["unauthorized", "missing, forged or expired token, or the profile is not public"],
      ["rate-limited", "50 a minute per address, 10,000 an hour per creator"],
    ),
  },
});

export const trackingRoutes = new OpenAPIHono<AppEnv>().openapi(visitRoute, async (c) => {
  const { token, referrer } = c.req.valid("json");
  const now = Date.now();
  const checked = await verifyTrackingToken(c.get("config").hashPepper, token, now);
  const refused = new DomainError("unauthorized", "The tracking token is missing, invalid or expired.");
  if (!checked.ok) {
    log("info", "track visit refused", { requestId: c.get("requestId"), reason: checked.reason });
    throw refused;
  }
  if (!(await isPublicProfile(c.env.DB, checked.userId))) {
    log("info", "track visit refused", { requestId: c.get("requestId"), reason: "not-public" });
    throw refused;
  }
  const budget = await creatorBudget(c, checked.userId, true);
  if (budget instanceof Response) return budget;
  await recordTrackEvent(c.env.DB, await eventFor(c, checked.userId, "visit", null, referrer ?? null, now));
  return c.body(null, 202);
});

trackingRoutes.get("/l/:linkId", perAddress, async (c) => {
  const now = Date.now();
  c.header("Cache-Control", "no-store");
  const checked = await verifyTrackingToken(c.get("config").hashPepper, c.req.query("t"), now);
  const link = checked.ok ? await trackableLink(c.env.DB, c.req.param("linkId")) : null;
  if (!checked.ok || !link || link.userId !== checked.userId) {
    log("info", "track click refused", {
      requestId: c.get("requestId"),
      reason: checked.ok ? "no-such-public-link" : checked.reason,
    });
    return notFoundPage(c);
  }
  if (await creatorBudget(c, link.userId, false)) {
    await recordTrackEvent(c.env.DB, await eventFor(c, link.userId, "click", c.req.param("linkId"), null, now));
  } else {
    log("warn", "track click over the creator's budget: not counted", { requestId: c.get("requestId") });
  }
  // The profile's address is not passed on to the link's site.
  c.header("Referrer-Policy", "no-referrer");
  return c.redirect(link.url, 302);
});
