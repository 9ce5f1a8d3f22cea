/**
 * HTTP for posts, comments, likes, bookmarks and reposts (the contract's "Social" section), including
 * GET /api/v1/users/:id/posts and GET /api/v1/me/bookmarks. Rules live in posts.ts, comments.ts and
 * reactions.ts; this file is routes and OpenAPI only. A change to a post's likes, reposts or comments
 * tells its live-count object after the answer is built (afterResponse), never delaying it.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { planRateLimit } from "../../http/rate-limit/plan";
import { DomainError } from "../../lib/errors";
import { createComment, deleteComment, listComments, toComment } from "./comments";
import { postChanged } from "./live";
import { type Actor, createPost, deletePost, getPost, myBookmarks, userPosts } from "./posts";
import { PostSchema, postMediaUrls, toPost, viewerId } from "./present";
import { type PostReaction, setCommentLike, setPostReaction } from "./reactions";
import {
  CommentLikeSchema,
  CommentPageSchema,
  CommentSchema,
  CreateCommentBody,
  CreatePostBody,
  IdParam,
  ListQuery,
  PostPageSchema,
  ReactionSchema,
} from "./schema-posts";

const tags = ["Social"];
const security = [{ bearer: [] }];

function actor(c: AppContext): Actor {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return { id: principal.id, roles: principal.roles };
}

/** Tells the post's live-count object, once the answer is out. */
function announce(c: AppContext, postId: string): void {
  c.get("defer")(() => postChanged(c.env, postId));
}

const perUser = (c: AppContext) => `user:${c.get("principal")?.id}`;

/**
 * Money's entitlement, imported when a post is made: money depends on payments, which depends on
 * social, so a static import here would be an import cycle.
 */
const proUser = async (c: AppContext, userId: string) => (await import("../money")).isPro(c.env.DB, userId);

const createPostRoute = createRoute({
  method: "post",
  path: "/api/v1/posts",
  tags,
  summary:
    "Post text (≤ 2,000 characters) with up to 4 of your images and an optional event (Idempotency-Key honoured)",
  description:
    "Text is stored NFC-normalised with control characters (except line breaks) removed and trimmed; it may be " +
    "empty only with media. Images must be your own uploads of purpose post, avatar or event_cover (any " +
    "visibility: attaching one publishes it); documents never. `@handle` mentions notify those users.",
  security,
  // Pro creators post twice as often (config/plans.ts): their posts count under `posts-pro`.
  middleware: [
    requireAuth({ kind: "user" }),
    planRateLimit({ policy: "posts", pro: "posts-pro", key: perUser, isPro: proUser }),
    idempotency(),
  ] as const,
  request: body(CreatePostBody),
  responses: {
    201: json(PostSchema, "The stored post"),
    ...problems(
      ["validation-failed", "text empty or over 2,000 characters, more than 4 images, the same image twice"],
      "unauthorized",
      ["invalid-media", "not your image, a document, or no such media"],
      ["invalid-event", "no such published event"],
      "rate-limited",
    ),
  },
});

const getPostRoute = createRoute({
  method: "get",
  path: "/api/v1/posts/{id}",
  tags,
  summary: "One post",
  request: { params: IdParam },
  responses: {
    200: json(PostSchema, "The post"),
    ...problems(["not-found", "also when removed, or when its author and you block each other"]),
  },
});

const deletePostRoute = createRoute({
  method: "delete",
  path: "/api/v1/posts/{id}",
  tags,
  summary: "Delete a post (author or admin): its comments, likes, bookmarks, reposts and notifications go with it",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted" },
    ...problems("unauthorized", ["forbidden", "not your post"], "not-found"),
  },
});

const userPostsRoute = createRoute({
  method: "get",
  path: "/api/v1/users/{id}/posts",
  tags,
  summary: "A user's posts, newest first",
  request: { params: IdParam, query: ListQuery },
  responses: {
    200: json(PostPageSchema, "A page of posts; pass nextCursor as cursor for the next"),
    ...problems(["validation-failed", "limit or cursor"], ["not-found", "no such user, or a block either way"]),
  },
});

const bookmarksRoute = createRoute({
  method: "get",
  path: "/api/v1/me/bookmarks",
  tags,
  summary: "Your bookmarked posts, newest bookmark first",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { query: ListQuery },
  responses: {
    200: json(PostPageSchema, "A page of posts"),
    ...problems(["validation-failed", "limit or cursor"], "unauthorized"),
  },
});

function reactionRoute(method: "put" | "delete", reaction: PostReaction) {
  return createRoute({
    method,
    path: `/api/v1/posts/{id}/${reaction}`,
    tags,
    summary: `${method === "put" ? "Add" : "Remove"} your ${reaction} (idempotent)`,
    security,
    middleware: [requireAuth({ kind: "user" })] as const,
    request: { params: IdParam },
    responses: {
      200: json(ReactionSchema, "Whether your row is there now, and the post's counts"),
      ...problems("unauthorized", "not-found"),
    },
  });
}

const createCommentRoute = createRoute({
  method: "post",
  path: "/api/v1/posts/{id}/comments",
  tags,
  summary: "Comment on a post, or reply to one of its top-level comments (Idempotency-Key honoured)",
  security,
  middleware: [requireAuth({ kind: "user" }), rateLimit({ policy: "comments", key: perUser }), idempotency()] as const,
  request: { params: IdParam, ...body(CreateCommentBody) },
  responses: {
    201: json(CommentSchema, "The stored comment"),
    ...problems(
      ["validation-failed", "text empty or over 2,000 characters"],
      "unauthorized",
      "not-found",
      ["invalid-parent", "a reply, a comment of another post, or no such comment"],
      "rate-limited",
    ),
  },
});

const listCommentsRoute = createRoute({
  method: "get",
  path: "/api/v1/posts/{id}/comments",
  tags,
  summary: "A post's comments and replies, oldest first (a reply's parentId names its comment)",
  request: { params: IdParam, query: ListQuery },
  responses: {
    200: json(CommentPageSchema, "A page of comments"),
    ...problems(["validation-failed", "limit or cursor"], "not-found"),
  },
});

const deleteCommentRoute = createRoute({
  method: "delete",
  path: "/api/v1/comments/{id}",
  tags,
  summary: "Delete a comment (its author, the post's author or an admin): replies and likes go with it",
  security,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted" },
    ...problems("unauthorized", ["forbidden", "not yours, nor on your post"], "not-found"),
  },
});

function commentLikeRoute(method: "put" | "delete") {
  return createRoute({
    method,
    path: "/api/v1/comments/{id}/like",
    tags,
    summary: `${method === "put" ? "Like" : "Unlike"} a comment (idempotent)`,
    security,
    middleware: [requireAuth({ kind: "user" })] as const,
    request: { params: IdParam },
    responses: {
      200: json(CommentLikeSchema, "Whether you like it now, and its like count"),
      ...problems("unauthorized", "not-found"),
    },
  });
}

export const postRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createPostRoute, async (c) => {
    const row = await createPost(c.env.DB, actor(c), c.req.valid("json"));
    return c.json(await toPost(row, postMediaUrls(c), c.get("config").pii), 201);
  })
  .openapi(getPostRoute, async (c) => {
    const row = await getPost(c.env.DB, viewerId(c), c.req.valid("param").id);
    return c.json(await toPost(row, postMediaUrls(c), c.get("config").pii), 200);
  })
  .openapi(deletePostRoute, async (c) => {
    await deletePost(c.env.DB, actor(c), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(userPostsRoute, async (c) => {
    const page = await userPosts(c.env.DB, viewerId(c), c.req.valid("param").id, c.req.valid("query"));
    const url = postMediaUrls(c);
    return c.json(
      {
        items: await Promise.all(page.items.map((row) => toPost(row, url, c.get("config").pii))),
        nextCursor: page.nextCursor,
      },
      200,
    );
  })
  .openapi(bookmarksRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    const page = await myBookmarks(c.env.DB, actor(c).id, c.req.valid("query"));
    const url = postMediaUrls(c);
    return c.json(
      {
        items: await Promise.all(page.items.map((row) => toPost(row, url, c.get("config").pii))),
        nextCursor: page.nextCursor,
      },
      200,
    );
  })
  .openapi(createCommentRoute, async (c) => {
    const postId = c.req.valid("param").id;
    const row = await createComment(c.env.DB, actor(c), postId, c.req.valid("json"));
    announce(c, postId);
    return c.json(await toComment(row, postMediaUrls(c), c.get("config").pii), 201);
  })
  .openapi(listCommentsRoute, async (c) => {
    const page = await listComments(c.env.DB, viewerId(c), c.req.valid("param").id, c.req.valid("query"));
    const url = postMediaUrls(c);
    return c.json(
      {
        items: await Promise.all(page.items.map((row) => toComment(row, url, c.get("config").pii))),
        nextCursor: page.nextCursor,
      },
      200,
    );
  })
  .openapi(deleteCommentRoute, async (c) => {
    announce(c, await deleteComment(c.env.DB, actor(c), c.req.valid("param").id));
    return c.body(null, 204);
  });

for (const reaction of ["like", "bookmark", "repost"] as const) {
  for (const method of ["put", "delete"] as const) {
    postRoutes.openapi(reactionRoute(method, reaction), async (c) => {
      const postId = c.req.valid("param").id;
      const result = await setPostReaction(c.env.DB, actor(c).id, postId, reaction, method === "put");
      // Bookmarks are private: the live counts show likes, comments and reposts.
      if (reaction !== "bookmark") announce(c, postId);
      return c.json(result, 200);
    });
  }
}

for (const method of ["put", "delete"] as const) {
  postRoutes.openapi(commentLikeRoute(method), async (c) => {
    const { active, likeCount } = await setCommentLike(
      c.env.DB,
      actor(c).id,
      c.req.valid("param").id,
      method === "put",
    );
    return c.json({ active, likeCount }, 200);
  });
}
