/**
 * HTTP for the signed-in user's notifications: the grouped list, the unread count (the badge) and
 * "mark read up to". The rules live in notifications.ts.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { listNotifications, markRead, unreadCount } from "./notifications";
import type { ProfileDeps } from "./profiles";
import { MarkReadBody, NotificationListQuery, NotificationListSchema, UnreadCountSchema } from "./schema-notifications";

const tags = ["Social"];
const signedIn = () => ({ security: [{ bearer: [] }], middleware: [requireAuth({ kind: "user" })] });

function deps(c: AppContext): ProfileDeps {
  const config = c.get("config");
  return {
    db: c.env.DB,
    pii: config.pii,
    mediaSigningKeys: config.mediaSigningKeys,
    origin: config.publicUrl ?? new URL(c.req.url).origin,
  };
}

function callerId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
}

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/me/notifications",
  tags,
  summary: 'Your notifications, grouped ("Ana and 12 others liked your post"), newest first',
  ...signedIn(),
  request: { query: NotificationListQuery },
  responses: {
    200: json(NotificationListSchema, "A page of notification groups"),
    ...problems("validation-failed", "unauthorized"),
  },
});

const unreadRoute = createRoute({
  method: "get",
  path: "/api/v1/me/notifications/unread-count",
  tags,
  summary: "How many items of your notification list are unread",
  ...signedIn(),
  responses: {
    200: json(UnreadCountSchema, "The unread count"),
    ...problems("unauthorized"),
  },
});

const readRoute = createRoute({
  method: "post",
  path: "/api/v1/me/notifications/read",
  tags,
  summary: "Mark your notifications read, up to an id (all of them without one)",
  ...signedIn(),
  request: { body: { required: false, content: { "application/json": { schema: MarkReadBody } } } },
  responses: {
    204: { description: "Marked read" },
    ...problems("validation-failed", "unauthorized"),
  },
});

export const notificationRoutes = new OpenAPIHono<AppEnv>()
  .openapi(listRoute, async (c) => c.json(await listNotifications(deps(c), callerId(c), c.req.valid("query")), 200))
  .openapi(unreadRoute, async (c) => c.json({ count: await unreadCount(c.env.DB, callerId(c)) }, 200))
  .openapi(readRoute, async (c) => {
    const body = (c.req.valid("json") ?? {}) as MarkReadBody;
    await markRead(c.env.DB, callerId(c), body.upTo, Date.now());
    return c.body(null, 204);
  });
