/** zod schemas of the posts, comments and reactions routes (the contract's "Social" section). */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { POST_MEDIA_MAX } from "./posts";
import { AuthorSchema, PostCountsSchema, PostSchema } from "./present";

export const IdParam = z.object({ id: z.string().min(1).max(64) });

/**
 * The raw text may be longer than the limit: control characters are stripped and the text is
 * normalised before the 2,000 characters are counted (posts.ts), so the schema only bounds the work.
 */
const RawText = z.string().max(8_000);

export const CreatePostBody = z
  .object({
    text: RawText.openapi({
      description: "Plain text, at most 2,000 characters after normalisation; may be empty with media",
    }),
    mediaIds: z
      .array(z.string().min(1).max(64))
      .max(POST_MEDIA_MAX)
      .optional()
      .openapi({ description: "Your own image uploads (purpose post, avatar or event_cover), in order" }),
    eventId: z.string().min(1).max(64).optional().openapi({ description: "A published event" }),
  })
  .strict()
  .openapi("CreatePost");

export const CreateCommentBody = z
  .object({
    text: RawText.openapi({ description: "Plain text, 1 to 2,000 characters after normalisation" }),
    parentId: z.string().min(1).max(64).optional().openapi({ description: "A top-level comment of the same post" }),
  })
  .strict()
  .openapi("CreateComment");

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});

export const PostPageSchema = z
  .object({ items: z.array(PostSchema), nextCursor: z.string().nullable() })
  .openapi("PostPage");

export const ReactionSchema = z.object({ active: z.boolean(), counts: PostCountsSchema }).openapi("PostReaction");

export const CommentSchema = z
  .object({
    id: z.string(),
    postId: z.string(),
    parentId: z.string().nullable(),
    author: AuthorSchema,
    text: z.string().openapi({ description: "Plain text: render it escaped, never as HTML" }),
    likeCount: z.number().int(),
    createdAt: z.string(),
  })
  .openapi("Comment");

export const CommentPageSchema = z
  .object({ items: z.array(CommentSchema), nextCursor: z.string().nullable() })
  .openapi("CommentPage");

export const CommentLikeSchema = z.object({ active: z.boolean(), likeCount: z.number().int() }).openapi("CommentLike");
