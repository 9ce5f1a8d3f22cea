/** HTTP for operators (admin role only): dead letters from every source, listed and replayed. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { clientIp } from "../../lib/ip";
import type { PaymentsQueue } from "../payments";
import { DeadLetterListQuery, DeadLetterListSchema, DeadLetterSchema } from "./schema";
import * as admin from "./service";

const tags = ["Admin"];
const adminOnly = () => [requireAuth({ kind: "user", roles: ["admin"] })];

function deps(c: AppContext): admin.AdminDeps {
  return {
    db: c.env.DB,
    config: c.get("config"),
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
    emailQueue: c.env.EMAIL_QUEUE,
    webhookQueue: c.env.WEBHOOK_QUEUE as PaymentsQueue,
  };
}

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/admin/dead-letters",
  tags,
  summary: "Dead letters, newest first (email deliveries and other messages that gave up)",
  security: [{ bearer: [] }],
  middleware: adminOnly(),
  request: { query: DeadLetterListQuery },
  responses: {
    200: json(DeadLetterListSchema, "A page of dead letters"),
    ...problems("validation-failed", "unauthorized", ["forbidden", "not an admin"]),
  },
});

const replayRoute = createRoute({
  method: "post",
  path: "/api/v1/admin/dead-letters/{id}/replay",
  tags,
  summary: "Put a dead letter's item back into its pipeline (once)",
  security: [{ bearer: [] }],
  middleware: adminOnly(),
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: {
    202: json(DeadLetterSchema, "Re-queued; the dead letter now carries replayedAt"),
    ...problems(
      "unauthorized",
      ["forbidden", "not an admin"],
      "not-found",
      "already-replayed",
      ["not-replayable", "an email that carried a code or token link, or was purged"],
      ["not-implemented", "no replay for this source yet"],
    ),
  },
});

export const adminRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => c.json(await admin.listDeadLetters(c.env.DB, c.req.valid("query")), 200))
  .openapi(replayRoute, async (c) => {
    const adminId = c.get("principal")?.id ?? "";
    return c.json(await admin.replayDeadLetter(deps(c), adminId, c.req.valid("param").id), 202);
  });
