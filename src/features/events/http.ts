/**
 * The HTTP side every events route shares, and that the routes built on events (cancellation) reuse:
 * the dependencies for a request, the calling host, the host write policy and the lifecycle
 * transition route.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { AppContext } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { EventSchema } from "./schema";
import type { Caller, EventsDeps } from "./service";

export const tags = ["Events"];
export const IdParam = z.object({ id: z.string().min(1).max(64) });

export function eventsDeps(c: AppContext): EventsDeps {
  return {
    db: c.env.DB,
    inventory: c.env.EVENT_INVENTORY,
    defer: c.get("defer"),
    webhooks: c.env.OUTGOING_WEBHOOK_QUEUE,
  };
}

export function caller(c: AppContext): Caller {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.via === "api-key"
    ? { id: principal.id, roles: principal.roles, apiKey: true }
    : { id: principal.id, roles: principal.roles };
}

/** Host writes: a session, or an API key with `events:write` (acting on its host's events only). */
export const hostWrite = () => [
  requireAuth({ kind: "user", scope: "events:write" }),
  rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
];

export const transition = (action: "publish" | "cancel", summary: string) =>
  createRoute({
    method: "post",
    path: `/api/v1/events/{id}/${action}`,
    tags,
    summary,
    security: [{ bearer: [] }],
    middleware: hostWrite(),
    request: { params: IdParam },
    responses: {
      200: json(EventSchema, "The event"),
      ...problems(
        ["forbidden", "not the host"],
        ["insufficient-scope", "an API key without events:write"],
        "not-found",
        [
          "invalid-transition",
          action === "publish"
            ? "not a draft, or its start has come"
            : "already cancelled, or a published event that has ended",
        ],
        ...(action === "publish"
          ? [["payouts-not-ready", "paid tickets, host's payout account cannot take charges"] as const]
          : []),
      ),
    },
  });
