/**
 * Notifications: the writers (./notification-writers.ts, re-exported here) and the signed-in user's
 * list, unread count and "mark read".
 */
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { invalidCursorError } from "../../lib/errors";
import { openNameOptional } from "../auth";
import type { NotificationKind } from "./notification-writers";
import { avatarUrl, type ProfileDeps } from "./profiles";
import type { Notification, NotificationListQuery } from "./schema-notifications";

export * from "./notification-writers";

// ---------------------------------------------------------------------------------------------------
// Reading: the signed-in user's list, unread count and "mark read".
//
// The list is grouped: one item per group_key, shown as the group's latest notification, with the number
// of different people in it ("Ana and 12 others liked your post"). Items come newest group first, and
// the cursor is the last item's id (a group's latest id), so a page is a keyset over groups. An item is
// unread while any notification of its group is; the unread count counts such items, so the badge and
// the list agree. Notifications from someone the user blocks or who blocks them are left out (a block
// deletes them too, but a read never relies on that), and so are those about removed posts or comments,
// except the `removed` notice itself.
// ---------------------------------------------------------------------------------------------------

/** The user's notifications the list may show (?1 = the user), for a query over `notifications n`. */
const VISIBLE = `n.user_id = ?1
  AND (n.actor_id IS NULL OR NOT EXISTS (SELECT 1 FROM blocks b
    WHERE (b.blocker_id = ?1 AND b.blocked_id = n.actor_id) OR (b.blocker_id = n.actor_id AND b.blocked_id = ?1)))
  AND (n.kind = 'removed' OR (
    (n.post_id IS NULL OR EXISTS (SELECT 1 FROM posts p WHERE p.id = n.post_id AND p.removed_at IS NULL))
    AND (n.comment_id IS NULL OR EXISTS (SELECT 1 FROM comments c WHERE c.id = n.comment_id AND c.removed_at IS NULL))))`;

interface GroupRow {
  id: number;
  actors: number;
  unread: number;
  kind: NotificationKind;
  actor_id: string | null;
  post_id: string | null;
  comment_id: string | null;
  order_id: string | null;
  created_at: number;
  actor_name: string | null;
  actor_handle: string | null;
  actor_avatar: string | null;
}

/** What a group says after its people ("Ana and 2 others" + this), or the whole sentence without one. */
function predicate(row: Pick<GroupRow, "kind" | "post_id" | "comment_id">): string {
  switch (row.kind) {
    case "like":
      return "liked your post";
    case "repost":
      return "reposted your post";
    case "comment":
      return "commented on your post";
    case "reply":
      return "replied to your comment";
    case "comment_like":
      return "liked your comment";
    case "follow":
      return "started following you";
    case "mention":
      return row.comment_id ? "mentioned you in a comment" : "mentioned you in a post";
    case "order":
      return "Your order is confirmed";
    case "refund":
      return "Your refund is complete";
    case "tip":
      return "You received a tip";
    case "removed":
      if (row.comment_id) return "Your comment was removed after a report";
      return row.post_id
        ? "Your post was removed after a report"
        : "Your posts and comments were removed after a report";
  }
}

/** The ready sentence of a group: "Ana liked your post", "Ana and 1 other …", "Ana and 12 others …". */
export function summaryOf(
  row: Pick<GroupRow, "kind" | "post_id" | "comment_id" | "actor_id" | "actor_name" | "actors">,
): string {
  if (!row.actor_id) return predicate(row);
  const name = row.actor_name ?? "Someone";
  const others = Math.max(0, row.actors - 1);
  const who = others === 0 ? name : `${name} and ${others} ${others === 1 ? "other" : "others"}`;
  return `${who} ${predicate(row)}`;
}

const MAX_ID = Number.MAX_SAFE_INTEGER;

function readCursor(raw: string | undefined): number {
  if (raw === undefined) return MAX_ID;
  const text = decodeCursor(raw);
  const id = text !== null && /^[0-9]{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(id)) throw invalidCursorError();
  return id;
}

export async function listNotifications(
  deps: ProfileDeps,
  userId: string,
  query: NotificationListQuery,
): Promise<{ items: Notification[]; nextCursor: string | null }> {
  const { results } = await deps.db
    .prepare(
      `WITH grouped AS (
         SELECT n.group_key, max(n.id) AS last_id, count(DISTINCT n.actor_id) AS actors,
                max(n.read_at IS NULL) AS unread
         FROM notifications n WHERE ${VISIBLE}
         GROUP BY n.group_key HAVING max(n.id) < ?2
         ORDER BY last_id DESC LIMIT ?3)
       SELECT g.last_id AS id, g.actors, g.unread, n.kind, n.actor_id, n.post_id, n.comment_id, n.order_id,
              n.created_at, u.name AS actor_name, pr.handle AS actor_handle, pr.avatar_media_id AS actor_avatar
       FROM grouped g JOIN notifications n ON n.id = g.last_id
       LEFT JOIN users u ON u.id = n.actor_id
       LEFT JOIN profiles pr ON pr.user_id = n.actor_id
       ORDER BY g.last_id DESC`,
    )
    .bind(userId, readCursor(query.cursor), query.limit + 1)
    .all<GroupRow>();
  const page = results.slice(0, query.limit);
  const items = await Promise.all(page.map((row) => toItem(deps, row)));
  const last = page[page.length - 1];
  return { items, nextCursor: results.length > query.limit && last ? encodeCursor(String(last.id)) : null };
}

async function toItem(deps: ProfileDeps, row: GroupRow): Promise<Notification> {
  return {
    id: row.id,
    kind: row.kind,
    actor: row.actor_id
      ? {
          id: row.actor_id,
          name: openNameOptional(deps.pii, row.actor_name) ?? "",
          handle: row.actor_handle,
          avatarUrl: await avatarUrl(deps, row.actor_avatar),
        }
      : null,
    actorCount: row.actors,
    summary: summaryOf({ ...row, actor_name: openNameOptional(deps.pii, row.actor_name) }),
    subject: {
      ...(row.post_id ? { postId: row.post_id } : {}),
      ...(row.comment_id ? { commentId: row.comment_id } : {}),
      ...(row.order_id ? { orderId: row.order_id } : {}),
    },
    read: row.unread === 0,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** Items of the list that are unread: groups with at least one unread notification the list shows. */
export async function unreadCount(db: D1Database, userId: string): Promise<number> {
  const row = await db
    .prepare(`SELECT count(DISTINCT n.group_key) AS count FROM notifications n WHERE ${VISIBLE} AND n.read_at IS NULL`)
    .bind(userId)
    .first<{ count: number }>();
  return row?.count ?? 0;
}

/** Marks read, in one UPDATE, every unread notification of the user with an id up to `upTo` (all without it). */
export async function markRead(db: D1Database, userId: string, upTo: number | undefined, now: number): Promise<void> {
  await db
    .prepare(
      `UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND read_at IS NULL${upTo === undefined ? "" : " AND id <= ?3"}`,
    )
    .bind(userId, now, ...(upTo === undefined ? [] : [upTo]))
    .run();
}
