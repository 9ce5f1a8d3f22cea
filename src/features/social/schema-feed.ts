/** Schemas of the home feed (GET /api/v1/feed). */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { AuthorSchema, PostSchema } from "./present";

export const FeedQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(300).optional(),
});

export const FeedItemSchema = z
  .object({
    kind: z.enum(["post", "repost"]),
    post: PostSchema,
    repostedBy: AuthorSchema.optional().openapi({ description: "Who reposted it (kind repost only)" }),
    at: z.string().openapi({ description: "When it was posted, or reposted" }),
  })
  .openapi("FeedItem");

export const FeedPageSchema = z
  .object({ items: z.array(FeedItemSchema), nextCursor: z.string().nullable() })
  .openapi("FeedPage");
