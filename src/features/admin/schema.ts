/** Admin schemas: dead letters as operators see them, and the list query. */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";

export const DeadLetterSchema = z
  .object({
    id: z.string(),
    source: z.string().openapi({ example: "email" }),
    refId: z.string().openapi({ description: "The failed item in its source (email: the outbox id)" }),
    reason: z.string().openapi({ example: "permanent: resend 422 validation_error: Invalid `to` field." }),
    payload: z.record(z.string(), z.unknown()),
    createdAt: z.iso.datetime(),
    replayedAt: z.iso.datetime().nullable(),
  })
  .openapi("DeadLetter");

export const DeadLetterListSchema = z
  .object({ items: z.array(DeadLetterSchema), nextCursor: z.string().nullable() })
  .openapi("DeadLetterList");

export const DeadLetterListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(50),
  cursor: z.string().max(200).optional(),
  source: z.enum(["email", "stripe-webhook", "track-event"]).optional(),
  /** open: not replayed yet; replayed; all (default). */
  state: z.enum(["open", "replayed", "all"]).default("all"),
});

export type DeadLetter = z.infer<typeof DeadLetterSchema>;
export type DeadLetterListInput = z.infer<typeof DeadLetterListQuery>;
