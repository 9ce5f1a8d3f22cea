/**
 * HTTP for a post's live counts: the WebSocket upgrade, forwarded to the post's PostLive object
 * (./live.ts). Public, like the post itself; the per-address `api` policy bounds how fast one client
 * opens sockets, the object how many it may hold.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { openPostLive } from "./live";

const LivePostParam = z.object({ id: z.string().min(1).max(64) });

const liveRoute = createRoute({
  method: "get",
  path: "/api/v1/posts/{id}/live",
  tags: ["Social"],
  summary: "WebSocket: { likes, comments, reposts } on connect and after every change (a few a second at most)",
  security: [],
  request: { params: LivePostParam },
  responses: {
    101: { description: "Switching protocols: JSON messages { likes, comments, reposts }" },
    ...problems(
      ["not-found", "missing or removed post"],
      "upgrade-required",
      ["rate-limited", "too many sockets from this address on this post"],
      ["unavailable", "the post's live sockets are full"],
    ),
  },
});

export const postLiveRoutes = new OpenAPIHono<AppEnv>().openapi(liveRoute, async (c) => {
  if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
    throw new DomainError("upgrade-required", "Open this URL as a WebSocket.");
  }
  const res = await openPostLive(c.env.POST_LIVE, c.req.valid("param").id, clientIp(c.req.raw.headers));
  // The 101 response carries the socket; its type is outside the route's declared JSON responses.
  return res as never;
});
