/**
 * zod schemas of the notification routes (/me/notifications…): they validate requests and generate
 * the OpenAPI document. An item is a group (a post's likes, a user's new followers…) shown as its
 * latest notification, with how many people it gathers and a sentence ready to display.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { NOTIFICATION_KINDS } from "../../db/schema-social";

export { NOTIFICATION_KINDS };

const ActorSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    handle: z.string().nullable(),
    avatarUrl: z.string().nullable().openapi({ description: "Signed; valid for at least an hour" }),
  })
  .openapi("NotificationActor");

export const NotificationSchema = z
  .object({
    id: z.number().int().openapi({
      description: "The group's latest notification id: POST /me/notifications/read { upTo: id } marks it read",
    }),
    kind: z.enum(NOTIFICATION_KINDS),
    actor: ActorSchema.nullable().openapi({
      description: "Who did it last (null for our own order, refund and moderation notices)",
    }),
    actorCount: z.number().int().openapi({ description: "How many different people the group gathers" }),
    summary: z.string().openapi({ example: "Ana and 12 others liked your post" }),
    subject: z.object({
      postId: z.string().optional(),
      commentId: z.string().optional(),
      orderId: z.string().optional(),
    }),
    read: z.boolean().openapi({ description: "False while any notification of the group is unread" }),
    createdAt: z.iso.datetime().openapi({ description: "When the group's latest notification was made" }),
  })
  .openapi("Notification");
export type Notification = z.infer<typeof NotificationSchema>;

export const NotificationListSchema = z
  .object({ items: z.array(NotificationSchema), nextCursor: z.string().nullable() })
  .openapi("NotificationList");

export const NotificationListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});
export type NotificationListQuery = z.infer<typeof NotificationListQuery>;

export const UnreadCountSchema = z
  .object({
    count: z.number().int().openapi({ description: "Unread items of the list: groups with an unread notification" }),
  })
  .openapi("UnreadCount");

export const MarkReadBody = z
  .object({
    upTo: z
      .number()
      .int()
      .min(0)
      .optional()
      .openapi({ description: "Marks read every notification with an id up to this one; all of them when absent" }),
  })
  .strict()
  .openapi("MarkNotificationsRead");
export type MarkReadBody = z.infer<typeof MarkReadBody>;
