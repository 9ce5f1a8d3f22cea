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
