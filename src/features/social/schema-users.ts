/**
 * zod schemas of the profile and graph routes (/me/profile, /users/:id…): they validate requests and
 * generate the OpenAPI document. A bio is checked after normalisation (text.ts), so the limit is on
 * what is stored and shown, not on what a client happened to send.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { normalizeText, textLength } from "./text";

/** A bio holds at most this many characters (code points, after normalisation). */
export const BIO_MAX_CHARS = 500;

/** A name: the registration rule (1–100 characters after trimming). */
const name = z.string().trim().min(1).max(100).openapi({ example: "Ada Lovelace" });

export const ProfileBody = z
  .object({
    name: name.optional(),
    bio: z
      .string()
      // Bounds the work normalisation does on an absurd body; the real limit follows.
      .max(BIO_MAX_CHARS * 4)
      .refine((bio) => textLength(normalizeText(bio)) <= BIO_MAX_CHARS, `at most ${BIO_MAX_CHARS} characters`)
      .optional()
      .openapi({ description: `Plain text, at most ${BIO_MAX_CHARS} characters; shown escaped, never as HTML` }),
    avatarMediaId: z
      .string()
      .min(1)
      .max(64)
      .nullable()
      .optional()
      .openapi({ description: "One of your uploads with purpose `avatar`; null removes the avatar" }),
  })
  .strict()
  .openapi("ProfileBody");
export type ProfileBody = z.infer<typeof ProfileBody>;

export const ProfileSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    bio: z.string(),
    avatarMediaId: z.string().nullable(),
    handle: z.string().nullable(),
  })
  .openapi("Profile");

export const StatsSchema = z
  .object({
    posts: z.number().int(),
    followers: z.number().int(),
    following: z.number().int(),
    eventsHosted: z.number().int().openapi({
      description: "Events the user published: those on sale or past, and those cancelled after publishing",
    }),
    ticketsHeld: z.number().int().optional().openapi({
      description: "Only for yourself: your tickets that admit (or admitted) you, neither void nor being refunded",
    }),
  })
  .openapi("UserStats");

export const PublicUserSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    bio: z.string(),
    avatarUrl: z.string().nullable().openapi({ description: "Signed image URL, valid for at least an hour" }),
    handle: z.string().nullable(),
    stats: StatsSchema,
  })
  .openapi("PublicUser");

export const UserIdParam = z.object({ id: z.string().min(1).max(64) });

export const FollowStateSchema = z
  .object({
    following: z.boolean().openapi({ description: "Whether you now follow the user" }),
    followers: z.number().int().openapi({ description: "The user's followers, counted with your change" }),
  })
  .openapi("FollowState");

export const BlockStateSchema = z.object({ blocked: z.boolean() }).openapi("BlockState");

export const UserListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});

export const UserListItemSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    handle: z.string().nullable(),
    avatarUrl: z.string().nullable(),
    followedAt: z.string().openapi({ format: "date-time" }),
  })
  .openapi("UserListItem");

export const UserListSchema = z
  .object({ items: z.array(UserListItemSchema), nextCursor: z.string().nullable() })
  .openapi("UserList");
