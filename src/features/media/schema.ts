/** zod schemas for media: upload options, responses, the signed byte URL's query. */
import { z } from "@hono/zod-openapi";

export const PURPOSES = ["avatar", "event_cover", "post", "document"] as const;
export type Purpose = (typeof PURPOSES)[number];
export const VISIBILITIES = ["private", "public"] as const;
export type Visibility = (typeof VISIBILITIES)[number];

/** Purposes whose images are meant to be seen by anyone; documents (registration papers) never are. */
export const PUBLIC_PURPOSES: ReadonlySet<Purpose> = new Set(["avatar", "event_cover", "post"]);

/**
 * Upload options: multipart fields, or query parameters for a raw image body. Owner, size, type and
 * dimensions are not accepted from the client: they come from the session and the bytes.
 */
export const UploadOptions = z
  .object({
    purpose: z.enum(PURPOSES).default("post"),
    visibility: z.enum(VISIBILITIES).default("private"),
  })
  .refine((o) => o.visibility === "private" || PUBLIC_PURPOSES.has(o.purpose), {
    path: ["visibility"],
    message: "this purpose is always private",
  });
export type UploadOptions = z.infer<typeof UploadOptions>;

export const UploadQuery = z.object({
  purpose: z.enum(PURPOSES).optional(),
  visibility: z.enum(VISIBILITIES).optional(),
});

export const MediaIdParam = z.object({ id: z.string().min(1).max(64) });

export const MediaUrlSchema = z
  .object({
    url: z.url().openapi({ example: "https://api.gatehouse.events/media/Q2x…?exp=1795503633&kid=2026-11&sig=9f…" }),
    expiresAt: z.string().openapi({ example: "2026-11-20T10:05:00.000Z" }),
  })
  .openapi("MediaUrl");

export const MediaUploadSchema = MediaUrlSchema.extend({
  id: z.string(),
  contentType: z.enum(["image/jpeg", "image/png", "image/webp", "image/gif"]),
  width: z.number().int(),
  height: z.number().int(),
  bytes: z.number().int().openapi({ description: "size after metadata stripping" }),
  purpose: z.enum(PURPOSES),
  visibility: z.enum(VISIBILITIES),
}).openapi("MediaUpload");

/** Left loose on purpose: a missing or malformed signature is a 403, not a validation error. */
export const SignedQuery = z.object({
  exp: z.string().optional(),
  kid: z.string().optional(),
  sig: z.string().optional(),
});
