/**
 * Notification writers: statements the features that cause a notification put in their own
 * `db.batch([...])`, so the notification commits (or not) with the like, follow or comment itself.
 *
 * Every rule lives in the SQL, not in code that reads first: an `INSERT … SELECT … WHERE` inserts
 * nothing when the recipient is the actor or when either blocks the other, and `ON CONFLICT(dedupe_key)
 * DO NOTHING` makes a repeated action (a second like, a retried webhook) a no-op. (SQLite needs the
 * WHERE in that SELECT: without it, `ON CONFLICT` would parse as a join constraint.)
 *
 * Keys:
 * - dedupe_key — one row per (kind, subject, actor) for like, repost, follow and comment_like; per
 *   comment for comment and reply; per (subject, recipient) for mentions; per order for order and
 *   refund, per tip for tip (its id in order_id); per subject for removed. Undoing an action deletes by the same key (notificationRetract).
 * - group_key — what the list folds into one item ("Ana and 12 others liked your post"): per post for
 *   like, repost and comment, per comment for comment_like, per parent comment for reply, one per
 *   recipient for follow; mention, order, refund and removed stand alone (the key is the row's own).
 */
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { invalidCursorError } from "../../lib/errors";
import { openNameOptional } from "../auth";
import { avatarUrl, type ProfileDeps } from "./profiles";
import type { Notification, NotificationListQuery } from "./schema-notifications";

export type NotificationKind =
  | "like"
  | "comment"
  | "reply"
  | "comment_like"
  | "follow"
  | "repost"
  | "mention"
  | "order"
  | "refund"
  | "tip"
  | "removed";

export interface NewNotification {
  recipientId: string;
  actorId: string | null;
  kind: NotificationKind;
  postId?: string | null;
  commentId?: string | null;
  orderId?: string | null;
  at: number;
}

/** Mentions in a text: at most this many distinct handles notify. */
export const MAX_MENTIONS = 10;

interface Keys {
  groupKey: string;
  dedupeKey: string;
}

function subjectOf(n: Omit<NewNotification, "at">): string {
  return n.commentId ?? n.postId ?? n.orderId ?? n.recipientId;
}

/** The group and dedupe keys of one notification (a reply's group is finished in SQL: its parent's id). */
function keysOf(n: Omit<NewNotification, "at">): Keys {
  const actor = n.actorId ?? "";
  switch (n.kind) {
    case "like":
    case "repost":
      return { groupKey: `${n.kind}:${n.postId}`, dedupeKey: `${n.kind}:${n.postId}:${actor}` };
    case "comment_like":
      return { groupKey: `comment_like:${n.commentId}`, dedupeKey: `comment_like:${n.commentId}:${actor}` };
    case "follow":
      return { groupKey: `follow:${n.recipientId}`, dedupeKey: `follow:${n.recipientId}:${actor}` };
    case "comment":
      return { groupKey: `comment:${n.postId}`, dedupeKey: `comment:${n.commentId}` };
    case "reply":
      // The group is the parent comment's; resolved in SQL from comments.parent_id (placeholder here).
      return { groupKey: `reply:${n.commentId}`, dedupeKey: `reply:${n.commentId}` };
    case "mention":
      return {
        groupKey: `mention:${subjectOf(n)}:${n.recipientId}`,
        dedupeKey: `mention:${subjectOf(n)}:${n.recipientId}`,
      };
    case "order":
    case "refund":
    case "tip":
      return { groupKey: `${n.kind}:${n.orderId}`, dedupeKey: `${n.kind}:${n.orderId}` };
    case "removed":
      return { groupKey: `removed:${subjectOf(n)}`, dedupeKey: `removed:${subjectOf(n)}` };
  }
}

/** Neither of ?1 (recipient) and ?2 (actor) blocks the other; true when there is no actor. */
const NOT_BLOCKED = `NOT EXISTS (SELECT 1 FROM blocks b
  WHERE (b.blocker_id = ?1 AND b.blocked_id = ?2) OR (b.blocker_id = ?2 AND b.blocked_id = ?1))`;

/**
 * One statement to put in the caller's db.batch: inserts nothing when recipient == actor, when either
 * blocks the other, or when the same (kind, subject, actor) is already notified (dedupe_key).
 */
export function notificationInsert(db: D1Database, n: NewNotification): D1PreparedStatement {
  return conditionalInsert(db, n);
}

/** SQL that must also hold for the insert, with its own `?` bindings (numbered after the insert's nine). */
export interface InsertCondition {
  sql: string;
  bindings: unknown[];
}

/** notificationInsert, inserting only if `onlyIf` holds too (e.g. "this batch's resolution committed"). */
export function conditionalInsert(db: D1Database, n: NewNotification, onlyIf?: InsertCondition): D1PreparedStatement {
  const { groupKey, dedupeKey } = keysOf(n);
  // A reply groups under the comment it answers: `reply:<parent id>`, or the comment's own id when it
  // has no parent (a caller calling a top-level comment a reply still gets a sensible group).
  const group =
    n.kind === "reply" ? `'reply:' || COALESCE((SELECT c.parent_id FROM comments c WHERE c.id = ?5), ?5)` : "?7";
  return db
    .prepare(
      `INSERT INTO notifications (user_id, actor_id, kind, post_id, comment_id, order_id, group_key, dedupe_key, created_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ${group}, ?8, ?9
       WHERE (?2 IS NULL OR (?2 <> ?1 AND ${NOT_BLOCKED}))${onlyIf ? ` AND (${onlyIf.sql})` : ""}
       ON CONFLICT(dedupe_key) DO NOTHING`,
    )
    .bind(
      n.recipientId,
      n.actorId,
      n.kind,
      n.postId ?? null,
      n.commentId ?? null,
      n.orderId ?? null,
      groupKey,
      dedupeKey,
      n.at,
      ...(onlyIf?.bindings ?? []),
    );
}

/** Statement removing the notification an undone action made (unlike, unfollow, unrepost, un-like of a comment). */
export function notificationRetract(db: D1Database, n: Omit<NewNotification, "at">): D1PreparedStatement {
  return db
    .prepare("DELETE FROM notifications WHERE dedupe_key = ? AND user_id = ?")
    .bind(keysOf(n).dedupeKey, n.recipientId);
}

const HANDLE_CHAR = "[a-z0-9_.]";
/** `@handle` not preceded by a handle character (so `ana@example.com` mentions no one) and not longer than 30. */
const MENTION = new RegExp(`(?<!${HANDLE_CHAR})@(${HANDLE_CHAR}{3,30})(?!${HANDLE_CHAR})`, "giu");

/**
 * The distinct handle keys (NFKC, lower-cased) a text mentions, in order of first appearance, at most
 * MAX_MENTIONS. A mention at the end of a sentence ("thanks @ana.") also tries the handle without its
 * trailing dots; both candidates count as one mention.
 */
export function mentionedHandles(text: string): string[][] {
  const found = new Map<string, string[]>();
  for (const match of text.normalize("NFKC").matchAll(MENTION)) {
    if (found.size >= MAX_MENTIONS) break;
    const handle = (match[1] ?? "").toLowerCase();
    const trimmed = handle.replace(/\.+$/, "");
    const key = trimmed.length >= 3 ? trimmed : handle;
    if (found.has(key)) continue;
    found.set(key, trimmed !== handle && trimmed.length >= 3 ? [trimmed, handle] : [handle]);
  }
  return [...found.values()];
}

export interface MentionSource {
  text: string;
  actorId: string;
  postId: string;
  commentId?: string | null;
  at: number;
}

/**
 * One statement notifying everyone a text mentions (`mention`, subject the comment when there is one,
 * else the post): one INSERT … SELECT over profiles whose handle_key is among the mentioned handles,
 * with the same self, block and dedupe rules as notificationInsert. A text without mentions gives a
 * statement that inserts nothing, so callers can always put it in their batch.
 */
export function mentionInserts(db: D1Database, m: MentionSource): D1PreparedStatement {
  const handles = mentionedHandles(m.text).flat();
  const subject = m.commentId ?? m.postId;
  return db
    .prepare(
      `INSERT INTO notifications (user_id, actor_id, kind, post_id, comment_id, order_id, group_key, dedupe_key, created_at)
       SELECT pr.user_id, ?1, 'mention', ?2, ?3, NULL,
              'mention:' || ?4 || ':' || pr.user_id, 'mention:' || ?4 || ':' || pr.user_id, ?5
       FROM profiles pr
       WHERE pr.handle_key IN (SELECT value FROM json_each(?6))
         AND pr.user_id <> ?1
         AND NOT EXISTS (SELECT 1 FROM blocks b
           WHERE (b.blocker_id = pr.user_id AND b.blocked_id = ?1) OR (b.blocker_id = ?1 AND b.blocked_id = pr.user_id))
       ON CONFLICT(dedupe_key) DO NOTHING`,
    )
    .bind(m.actorId, m.postId, m.commentId ?? null, subject, m.at, JSON.stringify(handles));
}

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
