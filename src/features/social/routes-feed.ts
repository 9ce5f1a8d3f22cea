/** HTTP for the home feed (feed.ts): GET /api/v1/feed, for the signed-in user. */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { homeFeed } from "./feed";
import { viewerId } from "./present";
import { FeedPageSchema, FeedQuery } from "./schema-feed";

const feedRoute = createRoute({
  method: "get",
  path: "/api/v1/feed",
  tags: ["Social"],
  summary: "Posts and reposts by the people you follow and by you, newest first (cursor pagination)",
  description:
    "Blocked users are left out either way, as author or as reposter, and so are removed posts. Pages are " +
    "cached for up to 5 minutes and refreshed at once when something they show changes (X-Cache: HIT | MISS).",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { query: FeedQuery },
  responses: { 200: json(FeedPageSchema, "A page of the feed"), ...problems("validation-failed", "unauthorized") },
});

export const feedRoutes = new OpenAPIHono<AppEnv>().openapi(feedRoute, async (c) => {
  const viewer = viewerId(c);
  if (!viewer) throw new DomainError("unauthorized", "Sign in to continue.");
  return c.json(await homeFeed(c, viewer, c.req.valid("query")), 200);
});
