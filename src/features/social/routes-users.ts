/**
 * HTTP for profiles and the graph: edit one's profile, read anyone's with their stats, follow and
 * block (PUT to do, DELETE to undo; both idempotent), followers and following lists. The rules live
 * in profiles.ts and graph.ts.
 */

import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { updateAccountInBook } from "../auth";
import * as graph from "./graph";
import * as profiles from "./profiles";
import {
  BlockStateSchema,
  FollowStateSchema,
  ProfileBody,
  ProfileSchema,
  PublicUserSchema,
  StatsSchema,
  UserIdParam,
  UserListQuery,
  UserListSchema,
} from "./schema-users";

const tags = ["Social"];
const NOT_FOUND_BLOCKED = ["not-found", "also when either of you blocks the other"] as const;

function deps(c: AppContext): profiles.ProfileDeps {
  const config = c.get("config");
  return {
    db: c.env.DB,
    pii: config.pii,
    mediaSigningKeys: config.mediaSigningKeys,
    origin: config.publicUrl ?? new URL(c.req.url).origin,
  };
}

/** The signed-in user's id, or null for anyone else (anonymous, a scanner device). */
function viewerId(c: AppContext): string | null {
  const principal = c.get("principal");
  return principal?.kind === "user" ? principal.id : null;
}

function callerId(c: AppContext): string {
  const id = viewerId(c);
  if (!id) throw new DomainError("unauthorized", "Sign in to continue.");
  return id;
}

const updateProfileRoute = createRoute({
  method: "put",
  path: "/api/v1/me/profile",
  tags,
  summary: "Edit your name, bio and avatar (fields left out stay as they are)",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: body(ProfileBody),
  responses: {
    200: json(ProfileSchema, "Your profile as stored"),
    ...problems(
      ["validation-failed", "a bad field, or an avatar that is not one of your avatar uploads"],
      "unauthorized",
    ),
  },
});

const getUserRoute = createRoute({
  method: "get",
  path: "/api/v1/users/{id}",
  tags,
  summary: "A user's public profile and stats",
  request: { params: UserIdParam },
  responses: {
    200: json(PublicUserSchema, "The user"),
    ...problems(NOT_FOUND_BLOCKED),
  },
});

const statsRoute = createRoute({
  method: "get",
  path: "/api/v1/users/{id}/stats",
  tags,
  summary: "A user's posts, followers, following and hosted events (and, for yourself, tickets held)",
  request: { params: UserIdParam },
  responses: {
    200: json(StatsSchema, "The stats"),
    ...problems(NOT_FOUND_BLOCKED),
  },
});

function followRoute<M extends "put" | "delete">(method: M) {
  return createRoute({
    method,
    path: "/api/v1/users/{id}/follow",
    tags,
    summary: method === "put" ? "Follow a user (idempotent)" : "Unfollow a user (idempotent)",
    security: [{ bearer: [] }],
    middleware: [requireAuth({ kind: "user" })],
    request: { params: UserIdParam },
    responses: {
      200: json(FollowStateSchema, "Whether you follow them now, and their followers"),
      ...problems("cannot-follow-self", NOT_FOUND_BLOCKED, "unauthorized"),
    },
  });
}

function blockRoute<M extends "put" | "delete">(method: M) {
  return createRoute({
    method,
    path: "/api/v1/users/{id}/block",
    tags,
    summary:
      method === "put"
        ? "Block a user: ends follows both ways and the notifications between you (idempotent)"
        : "Unblock a user (idempotent)",
    security: [{ bearer: [] }],
    middleware: [requireAuth({ kind: "user" })],
    request: { params: UserIdParam },
    responses: {
      200: json(BlockStateSchema, "Whether you block them now"),
      ...problems("cannot-block-self", "not-found", "unauthorized"),
    },
  });
}

function listRoute(direction: graph.Direction) {
  return createRoute({
    method: "get",
    path: `/api/v1/users/{id}/${direction}`,
    tags,
    summary: direction === "followers" ? "Who follows a user, newest first" : "Whom a user follows, newest first",
    request: { params: UserIdParam, query: UserListQuery },
    responses: {
      200: json(UserListSchema, "A page of users; users blocked either way are left out"),
      ...problems(["validation-failed", "limit or cursor"], NOT_FOUND_BLOCKED),
    },
  });
}

export const userRoutes = new OpenAPIHono<AppEnv>()
  .openapi(updateProfileRoute, async (c) => {
    const body = c.req.valid("json");
    const updated = await profiles.updateProfile(deps(c), callerId(c), body);
    // The name orders are confirmed under comes from the session book: it hears of the change after D1.
    const name = body.name;
    if (name !== undefined) c.var.defer(() => updateAccountInBook(c.env.RATE_LIMITER, callerId(c), { name }));
    return c.json(updated, 200);
  })
  .openapi(getUserRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    return c.json(await profiles.publicUser(deps(c), viewerId(c), c.req.valid("param").id), 200);
  })
  .openapi(statsRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    return c.json(await profiles.userStats(c.env.DB, viewerId(c), c.req.valid("param").id), 200);
  })
  .openapi(followRoute("put"), async (c) => {
    return c.json(await graph.follow(c.env.DB, callerId(c), c.req.valid("param").id), 200);
  })
  .openapi(followRoute("delete"), async (c) => {
    return c.json(await graph.unfollow(c.env.DB, callerId(c), c.req.valid("param").id), 200);
  })
  .openapi(blockRoute("put"), async (c) => {
    return c.json(await graph.block(c.env.DB, callerId(c), c.req.valid("param").id), 200);
  })
  .openapi(blockRoute("delete"), async (c) => {
    return c.json(await graph.unblock(c.env.DB, callerId(c), c.req.valid("param").id), 200);
  })
  .openapi(listRoute("followers"), async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await graph.listGraph(deps(c), viewerId(c), id, "followers", c.req.valid("query")), 200);
  })
  .openapi(listRoute("following"), async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await graph.listGraph(deps(c), viewerId(c), id, "following", c.req.valid("query")), 200);
  });
