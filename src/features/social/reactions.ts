/**
 * Likes, bookmarks and reposts of a post, and likes of a comment: PUT turns one on, DELETE off, both
 * idempotent and safe under any number of concurrent callers.
 *
 * Each change is one db.batch (atomic and sequential in D1): `INSERT … ON CONFLICT DO NOTHING` or a
 * plain DELETE (the primary key makes a second like a no-op), the notification it makes or takes back,
 * and a final SELECT of the counts and whether the caller's row is there. Counters are kept by the
 * triggers in the statement that changes the row, never read-modified-written here. The insert only
 * happens while the post is still visible to the caller (`INSERT … SELECT … WHERE EXISTS`), so a post
 * deleted meanwhile is a 404, not a foreign-key error.
 */
import { DomainError } from "../../lib/errors";
import { type NotificationKind, notificationInsert, notificationRetract } from "./notifications";
import { isForeignKeyError } from "./posts";
import { countsOf, POST_VISIBLE } from "./present";

export type PostReaction = "like" | "bookmark" | "repost";

const TABLE: Record<PostReaction, string> = { like: "post_likes", bookmark: "bookmarks", repost: "reposts" };
/** Who hears of it: the post's author for likes and reposts; a bookmark is private. */
const NOTIFY: Record<PostReaction, NotificationKind | null> = { like: "like", bookmark: null, repost: "repost" };

export interface PostCounts {
  likes: number;
  comments: number;
  reposts: number;
  bookmarks: number;
}

interface CountsRow {
  like_count: number;
  comment_count: number;
  repost_count: number;
  bookmark_count: number;
  active: number;
}

/** The author of a post `userId` may see (not removed, no block either way); 404 otherwise. */
async function visiblePostAuthor(db: D1Database, userId: string, postId: string): Promise<string> {
  const row = await db
    .prepare(`SELECT p.author_id FROM posts p WHERE p.id = ?2 AND ${POST_VISIBLE}`)
    .bind(userId, postId)
    .first<{ author_id: string }>();
  if (!row) throw new DomainError("not-found", "No such post.");
  return row.author_id;
}

async function batchOrNotFound(db: D1Database, statements: D1PreparedStatement[], what: string) {
  try {
    return await db.batch(statements);
  } catch (error) {
    if (isForeignKeyError(error)) throw new DomainError("not-found", `No such ${what}.`);
    throw error;
  }
}

export async function setPostReaction(
  db: D1Database,
  userId: string,
  postId: string,
  reaction: PostReaction,
  active: boolean,
  now = Date.now(),
): Promise<{ active: boolean; counts: PostCounts }> {
  const authorId = await visiblePostAuthor(db, userId, postId);
  const table = TABLE[reaction];
  const kind = NOTIFY[reaction];
  const change = active
    ? db
        .prepare(
          `INSERT INTO ${table} (post_id, user_id, created_at) SELECT ?2, ?1, ?3
           WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = ?2 AND ${POST_VISIBLE})
           ON CONFLICT DO NOTHING`,
        )
        .bind(userId, postId, now)
    : db.prepare(`DELETE FROM ${table} WHERE post_id = ? AND user_id = ?`).bind(postId, userId);
  const notification = kind
    ? active
      ? [notificationInsert(db, { recipientId: authorId, actorId: userId, kind, postId, at: now })]
      : [notificationRetract(db, { recipientId: authorId, actorId: userId, kind, postId })]
    : [];
  const read = db
    .prepare(
      `SELECT like_count, comment_count, repost_count, bookmark_count,
              EXISTS (SELECT 1 FROM ${table} WHERE post_id = ?1 AND user_id = ?2) AS active
       FROM posts WHERE id = ?1`,
    )
    .bind(postId, userId);
  const results = await batchOrNotFound(db, [change, ...notification, read], "post");
  const row = (results[results.length - 1] as D1Result<CountsRow>).results[0];
  if (!row) throw new DomainError("not-found", "No such post.");
  return { active: !!row.active, counts: countsOf(row) };
}

/** A comment `userId` may see: not removed, on a post they may see, by no one blocked either way. */
export const COMMENT_VISIBLE = `c.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM blocks cb
  WHERE (cb.blocker_id = ?1 AND cb.blocked_id = c.author_id) OR (cb.blocker_id = c.author_id AND cb.blocked_id = ?1))`;

export async function setCommentLike(
  db: D1Database,
  userId: string,
  commentId: string,
  active: boolean,
  now = Date.now(),
): Promise<{ active: boolean; likeCount: number; postId: string }> {
  const visible = `c.id = ?2 AND ${COMMENT_VISIBLE} AND EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id AND ${POST_VISIBLE})`;
  const comment = await db
    .prepare(`SELECT c.author_id, c.post_id FROM comments c WHERE ${visible}`)
    .bind(userId, commentId)
    .first<{ author_id: string; post_id: string }>();
  if (!comment) throw new DomainError("not-found", "No such comment.");
  const n = { recipientId: comment.author_id, actorId: userId, kind: "comment_like" as const, commentId };
  const statements = active
    ? [
        db
          .prepare(
            `INSERT INTO comment_likes (comment_id, user_id, created_at) SELECT ?2, ?1, ?3
             WHERE EXISTS (SELECT 1 FROM comments c WHERE ${visible}) ON CONFLICT DO NOTHING`,
          )
          .bind(userId, commentId, now),
        notificationInsert(db, { ...n, postId: comment.post_id, at: now }),
      ]
    : [
        db.prepare("DELETE FROM comment_likes WHERE comment_id = ? AND user_id = ?").bind(commentId, userId),
        notificationRetract(db, n),
      ];
  const read = db
    .prepare(
      `SELECT like_count, EXISTS (SELECT 1 FROM comment_likes WHERE comment_id = ?1 AND user_id = ?2) AS active
       FROM comments WHERE id = ?1`,
    )
    .bind(commentId, userId);
  const results = await batchOrNotFound(db, [...statements, read], "comment");
  const row = (results[results.length - 1] as D1Result<{ like_count: number; active: number }>).results[0];
  if (!row) throw new DomainError("not-found", "No such comment.");
  return { active: !!row.active, likeCount: row.like_count, postId: comment.post_id };
}
