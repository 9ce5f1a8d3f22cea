/**
 * HTTP for handles: the availability check (answered in constant time, rate-limited per address),
 * claiming or changing one's handle, and onboarding (name, handle and avatar in one step). The rules
 * live in handles.ts and onboarding.ts.
 *
 * Claims count against `handle-claim` (3 an hour per user) only when they reach the registry: a
 * handle refused as invalid or reserved (422) and a claim of one's own current handle (200, nothing
 * changes) cost nothing; a claim that wins or loses (409) counts.
 */

import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit, setRateHeaders } from "../../http/rate-limit";
import { DomainError, rateLimitedError } from "../../lib/errors";
import { HANDLE_MAX_LENGTH, HANDLE_MIN_LENGTH } from "../../lib/handle";
import { log } from "../../lib/log";
import { consumeRates, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { updateAccountInBook } from "../auth";
import { checkAvailability, claimHandle } from "./handles";
import { onboard } from "./onboarding";

const tags = ["Creators"];

const handleField = z
  .string()
  .max(200)
  .openapi({
    example: "ada.lovelace",
    description: `${HANDLE_MIN_LENGTH}–${HANDLE_MAX_LENGTH} characters of a–z, 0–9, _ and . (no dot at either end, no two in a row); compared after NFKC and lowercasing`,
  });

export const AvailabilitySchema = z
  .object({
    handle: z.string().openapi({ description: "The handle as it would be stored (normalised)" }),
    available: z.boolean(),
    reason: z.enum(["invalid", "reserved", "taken"]).optional().openapi({
      description: "Why not: `taken` also covers a handle its owner gave up recently (still in its grace period)",
    }),
  })
  .openapi("HandleAvailability");

const ClaimBody = z.object({ handle: handleField }).strict().openapi("HandleClaim");
const ClaimSchema = z.object({ handle: z.string() }).openapi("HandleClaimed");

const OnboardingBody = z
  .object({
    name: z.string().trim().min(1).max(100).openapi({ example: "Ada Lovelace" }),
    handle: handleField,
    avatarMediaId: z
      .string()
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: "One of your uploads with purpose `avatar` (upload it first); absent keeps the avatar" }),
  })
  .strict()
  .openapi("OnboardingBody");

const OnboardedSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    bio: z.string(),
    avatarMediaId: z.string().nullable(),
    handle: z.string().nullable(),
  })
  .openapi("OnboardedProfile");

/**
 * Sends every answer of the route LIMITS.handleCheckPadMs (± handleCheckJitterMs, at random) after it
 * started, whatever happened inside: a lookup that finds the handle, one that does not, and a refusal
 * before any lookup all take the same time. The window opens at this middleware, before the route's
 * rate limit and its D1 read; the pipeline before it (request id, config, the `api` limit) does not
 * depend on the handle asked about. Work that overruns the window is sent as soon as it is done and
 * logged: never answering sooner is what matters.
 */
export function constantTime(): MiddlewareHandler<AppEnv> {
  return async function constantTime(c, next) {
    const started = Date.now();
    const jitter = ((crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) / 2 ** 32) * 2 - 1;
    const target = LIMITS.handleCheckPadMs + jitter * LIMITS.handleCheckJitterMs;
    try {
      await next();
    } finally {
      const elapsed = Date.now() - started;
      if (elapsed < target) await scheduler.wait(target - elapsed);
      else log("warn", "handle check overran its padding", { requestId: c.get("requestId"), elapsed, target });
    }
  };
}

function callerId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

/** Takes one `handle-claim` unit for the caller: 429 when spent; let through when the limiter is down. */
function takeClaim(c: AppContext, userId: string): () => Promise<void> {
  return async () => {
    const policy = c.get("config").ratePolicies["handle-claim"];
    let decision: Awaited<ReturnType<typeof consumeRates>>[number] | undefined;
    try {
      [decision] = await consumeRates(c.env.RATE_LIMITER, `user:${userId}`, [policy]);
    } catch (error) {
      if (!(error instanceof RateLimiterUnavailable)) throw error;
      // Open: uniqueness does not depend on the limiter, only churn does.
      log("error", "rate limiter unavailable", { requestId: c.get("requestId"), policy: policy.name, error });
      return;
    }
    if (!decision) return;
    setRateHeaders(c, policy, decision);
    if (!decision.allowed) throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many handle changes.");
  };
}

const checkRoute = createRoute({
  method: "get",
  path: "/api/v1/handles/{handle}",
  tags,
  summary: "Whether a handle is free (answered in 100 ms ± 10 ms whatever the answer, so timing tells nothing)",
  middleware: [constantTime(), rateLimit({ policy: "handle-check", key: byIp })] as const,
  request: { params: z.object({ handle: z.string().max(200) }) },
  responses: {
    200: json(AvailabilitySchema, "Available, or why not"),
    ...problems(["rate-limited", "policy handle-check, 30 a minute per address"]),
  },
});

const claimRoute = createRoute({
  method: "put",
  path: "/api/v1/me/handle",
  tags,
  summary: "Claim or change your handle; the old one redirects to the new one for 14 days, then is free",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: body(ClaimBody),
  responses: {
    200: json(ClaimSchema, "Your handle now (claiming your own current handle changes nothing)"),
    ...problems(
      ["invalid-handle", "with a reason: too-short, too-long, invalid-characters, dots or reserved"],
      ["handle-taken", "someone else holds it, or gave it up less than 14 days ago"],
      ["rate-limited", "policy handle-claim, 3 claims an hour that reach the registry"],
      "validation-failed",
      "unauthorized",
    ),
  },
});

const onboardingRoute = createRoute({
  method: "post",
  path: "/api/v1/me/onboarding",
  tags,
  summary: "Set your name, handle and avatar in one step: all of them, or (on any refusal) none",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: body(OnboardingBody),
  responses: {
    200: json(OnboardedSchema, "Your profile as stored"),
    ...problems(
      ["invalid-handle", "with a reason"],
      ["handle-taken", "nothing else changed either"],
      ["validation-failed", "a bad field, or an avatar that is not one of your avatar uploads"],
      ["rate-limited", "policy handle-claim"],
      "unauthorized",
    ),
  },
});

export const handleRoutes = new OpenAPIHono<AppEnv>()
  .openapi(checkRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await checkAvailability(c.env.DB, c.req.valid("param").handle, Date.now()), 200);
  })
  .openapi(claimRoute, async (c) => {
    const userId = callerId(c);
    return c.json(
      await claimHandle(c.env.DB, userId, c.req.valid("json").handle, Date.now(), takeClaim(c, userId)),
      200,
    );
  })
  .openapi(onboardingRoute, async (c) => {
    const userId = callerId(c);
    const input = c.req.valid("json");
    const profile = await onboard(c.env.DB, c.get("config").pii, userId, input, Date.now(), takeClaim(c, userId));
    // The name orders are confirmed under comes from the session book: it hears of the change after D1.
    c.var.defer(() => updateAccountInBook(c.env.RATE_LIMITER, userId, { name: input.name }));
    return c.json(profile, 200);
  });
