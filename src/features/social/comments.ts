/**
 * Comments on posts, with one level of replies: a reply answers a top-level comment of the same post
 * (a reply to a reply is 422 invalid-parent, so threads stay one level deep as the pages show them).
 *
 * A comment, its notifications (the post's author `comment`; for a reply, the parent's author
 * `reply`; everyone it mentions) and the read-back of the stored comment are one db.batch. The post's
 * comment_count is the triggers' (migration 0011). Deleting a comment lets ON DELETE CASCADE take its
 * replies, likes and notifications.
 */
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import { mentionInserts, notificationInsert } from "./notifications";
import { type Actor, checkedText, isForeignKeyError, type ListQuery, type Page, pageCursor, readCursor } from "./posts";
import { type Author, type MediaUrl, POST_VISIBLE, toAuthor } from "./present";
import { COMMENT_VISIBLE } from "./reactions";

/** Plain-text limit of a comment, in characters after normalisation (the post's limit). */
export const COMMENT_TEXT_MAX = 2_000;

export interface CommentRow {
  id: string;
  post_id: string;
  parent_id: string | null;
  author_id: string;
  text: string;
  like_count: number;
  created_at: number;
  author_name: string;
  author_handle: string | null;
  author_avatar_media_id: string | null;
}

export interface Comment {
  id: string;
  postId: string;
  parentId: string | null;
  author: Author;
  text: string;
  likeCount: number;
  createdAt: string;
}

const COMMENT_SELECT = `SELECT c.id, c.post_id, c.parent_id, c.author_id, c.text, c.like_count, c.created_at,
  u.name AS author_name, pr.handle AS author_handle, pr.avatar_media_id AS author_avatar_media_id
  FROM comments c JOIN users u ON u.id = c.author_id JOIN profiles pr ON pr.user_id = c.author_id`;

export async function toComment(row: CommentRow, mediaUrl: MediaUrl, pii: PiiCipher): Promise<Comment> {
  return {
    id: row.id,
    postId: row.post_id,
    parentId: row.parent_id,
    author: await toAuthor(
      {
        id: row.author_id,
        name: row.author_name,
        handle: row.author_handle,
        avatarMediaId: row.author_avatar_media_id,
      },
      mediaUrl,
      pii,
    ),
    text: row.text,
    likeCount: row.like_count,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

/** The post `viewerId` may see, with its author; 404 otherwise. */
async function visiblePost(db: D1Database, viewerId: string | null, postId: string) {
  const post = await db
    .prepare(`SELECT p.id, p.author_id FROM posts p WHERE p.id = ?2 AND ${POST_VISIBLE}`)
    .bind(viewerId, postId)
    .first<{ id: string; author_id: string }>();
  if (!post) throw new DomainError("not-found", "No such post.");
  return post;
}

function badParent(detail: string): DomainError {
  return new DomainError("invalid-parent", detail, { errors: [{ path: "parentId", message: detail }] });
}

export async function createComment(
  db: D1Database,
  author: Actor,
  postId: string,
  input: { text: string; parentId?: string | undefined },
  now = Date.now(),
): Promise<CommentRow> {
  const text = checkedText(input.text, COMMENT_TEXT_MAX, false);
  const post = await visiblePost(db, author.id, postId);
  let parentAuthor: string | null = null;
  if (input.parentId) {
    const parent = await db
      .prepare(`SELECT c.post_id, c.parent_id, c.author_id FROM comments c WHERE c.id = ?2 AND ${COMMENT_VISIBLE}`)
      .bind(author.id, input.parentId)
      .first<{ post_id: string; parent_id: string | null; author_id: string }>();
    if (!parent || parent.post_id !== postId) throw badParent("The comment answered is not on this post.");
    if (parent.parent_id !== null) throw badParent("Replies go one level deep: answer the top-level comment.");
    parentAuthor = parent.author_id;
  }

  const id = randomId();
  const statements = [
    db
      .prepare(
        `INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at)
         SELECT ?2, ?3, ?4, ?1, ?5, ?6 WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = ?3 AND ${POST_VISIBLE})`,
      )
      .bind(author.id, id, postId, input.parentId ?? null, text, now),
    notificationInsert(db, {
      recipientId: post.author_id,
      actorId: author.id,
      kind: "comment",
      postId,
      commentId: id,
      at: now,
    }),
    ...(parentAuthor
      ? [
          notificationInsert(db, {
            recipientId: parentAuthor,
            actorId: author.id,
            kind: "reply",
            postId,
            commentId: id,
            at: now,
          }),
        ]
      : []),
    mentionInserts(db, { text, actorId: author.id, postId, commentId: id, at: now }),
    db.prepare(`${COMMENT_SELECT} WHERE c.id = ?`).bind(id),
  ];
  let results: D1Result[];
  try {
    results = await db.batch(statements);
  } catch (error) {
    // The post or the parent went away between the checks and the batch (the notification names them).
    if (isForeignKeyError(error)) throw new DomainError("not-found", "No such post.");
    throw error;
  }
  const row = (results[results.length - 1] as D1Result<CommentRow>).results[0];
  if (!row) throw new DomainError("not-found", "No such post.");
  return row;
}

/** A post's comments and replies, oldest first; removed ones and those of blocked authors left out. */
export async function listComments(
  db: D1Database,
  viewerId: string | null,
  postId: string,
  query: ListQuery,
): Promise<Page<CommentRow>> {
  await visiblePost(db, viewerId, postId);
  const [createdAt, id] = query.cursor ? readCursor(query.cursor) : [0, ""];
  const after = query.cursor ? "AND (c.created_at > ?3 OR (c.created_at = ?3 AND c.id > ?4))" : "";
  const { results } = await db
    .prepare(
      `${COMMENT_SELECT} WHERE c.post_id = ?2 AND ${COMMENT_VISIBLE} ${after}
       ORDER BY c.created_at, c.id LIMIT ?5`,
    )
    .bind(viewerId, postId, createdAt, id, query.limit + 1)
    .all<CommentRow>();
  const items = results.slice(0, query.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: results.length > query.limit && last ? pageCursor(last.created_at, last.id) : null };
}

/**
 * The comment's author, the post's author or an admin deletes (replies and likes go with it); others
 * get 403 when they can see the comment, else 404. Returns the post, whose live counts changed.
 */
export async function deleteComment(db: D1Database, actor: Actor, commentId: string): Promise<string> {
  const deleted = await db
    .prepare(
      `DELETE FROM comments AS c WHERE c.id = ?1
         AND (c.author_id = ?2 OR ?3 OR EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id AND p.author_id = ?2))
       RETURNING post_id`,
    )
    .bind(commentId, actor.id, actor.roles.includes("admin") ? 1 : 0)
    .first<{ post_id: string }>();
  if (deleted) return deleted.post_id;
  const seen = await db
    .prepare(
      `SELECT 1 AS found FROM comments c WHERE c.id = ?2 AND ${COMMENT_VISIBLE}
         AND EXISTS (SELECT 1 FROM posts p WHERE p.id = c.post_id AND ${POST_VISIBLE})`,
    )
    .bind(actor.id, commentId)
    .first();
  if (!seen) throw new DomainError("not-found", "No such comment.");
  throw new DomainError("forbidden", "Only the comment's author, the post's author or an admin can delete it.");
}
