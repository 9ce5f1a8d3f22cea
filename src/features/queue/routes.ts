/**
 * HTTP for the waiting room (API "Hot on-sales"): POST /api/v1/events/:id/queue joins the event's queue,
 * or polls one's place in it; once in, the answer carries the pass the order then shows as
 * `Queue-Pass`.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { joinQueue, type QueueDeps } from "./service";

const QueueAnswerSchema = z
  .object({
    state: z.enum(["waiting", "admitted"]),
    position: z.number().int().openapi({ description: "Your place in the line: 1 is next; 0 once admitted." }),
    aheadOfYou: z.number().int(),
    estimatedWaitSeconds: z.number().int(),
    pollAfterSeconds: z
      .number()
      .int()
      .openapi({ description: "Ask again (the same request) after this many seconds; 0 once admitted." }),
    pass: z.string().optional().openapi({
      description: "Admitted: send it as the `Queue-Pass` header of your order. Bound to you and the event.",
    }),
    passExpiresAt: z.string().optional(),
  })
  .openapi("QueueAnswer");

const joinQueueRoute = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/queue",
  tags: ["Orders"],
  summary: "Join the event's waiting room, or ask for your place in it",
  description:
    "Idempotent: joining again keeps your number. Passes are issued first come first served at the event's `queue.admitPerSecond`; an admitted buyer's pass lasts 10 minutes from admission, after which joining again queues them anew. With the queue off the answer is `admitted` at once.",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: {
    200: json(QueueAnswerSchema, "Your place, or your pass"),
    ...problems("not-found", ["not-on-sale", "cancelled, or sales closed"], "event-started", [
      "unavailable",
      "the queue is overloaded or did not answer in time: retry after Retry-After",
    ]),
  },
});

function deps(c: AppContext): QueueDeps {
  return { db: c.env.DB, waitingRoom: c.env.WAITING_ROOM, jwtKeys: c.get("config").jwtKeys };
}

export const queueRoutes = new OpenAPIHono<AppEnv>().openapi(joinQueueRoute, async (c) => {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return c.json(await joinQueue(deps(c), principal.id, c.req.valid("param").id), 200);
});
