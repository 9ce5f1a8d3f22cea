/**
 * Posts: create (text, up to four images, an optional event), read one, delete, and a user's posts.
 *
 * A post, its media rows and its mention notifications are written in one db.batch (atomic in D1),
 * whose last statement reads the post back through POST_SELECT: the answer is what was stored.
 * Counters (profiles.posts_count) and feed versions are the triggers' business (migration 0011);
 * deleting a post lets the foreign keys' ON DELETE CASCADE take its comments, likes, bookmarks,
 * reposts, notifications and reports.
 *
 * Media a post may carry: the author's own uploads of a purpose meant to be seen (post, avatar,
 * event_cover — media's PUBLIC_PURPOSES), whatever their visibility: attaching an image to a post is
 * its owner publishing it. Documents never. Anyone else's image, or an unknown id, is 422
 * invalid-media: a post cannot expose an image its author does not own.
 */
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { PUBLIC_PURPOSES } from "../media";
import { mentionInserts } from "./notifications";
import { POST_COLUMNS, POST_FROM, POST_SELECT, POST_VISIBLE, type PostRow } from "./present";
import { normalizeText, textLength } from "./text";

/** Plain-text limit of a post, in characters (code points) after normalisation. */
export const POST_TEXT_MAX = 2_000;
/** Images a post may carry. */
export const POST_MEDIA_MAX = 4;

export interface Actor {
  id: string;
  roles: readonly string[];
}

export interface NewPost {
  text: string;
  mediaIds?: string[] | undefined;
  eventId?: string | undefined;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const isAdmin = (actor: Actor) => actor.roles.includes("admin");

function invalid(path: string, message: string): DomainError {
  return new DomainError("validation-failed", `1 field(s) are not valid.`, { errors: [{ path, message }] });
}

/** Normalised text within `max` characters; empty only when `allowEmpty`. */
export function checkedText(raw: string, max: number, allowEmpty: boolean): string {
  const text = normalizeText(raw);
  if (textLength(text) > max) throw invalid("text", `at most ${max} characters`);
  if (!text && !allowEmpty) throw invalid("text", "must not be empty");
  return text;
}

async function checkMedia(db: D1Database, authorId: string, ids: readonly string[]): Promise<void> {
  if (new Set(ids).size !== ids.length) throw invalid("mediaIds", "the same image twice");
  if (ids.length === 0) return;
  const purposes = [...PUBLIC_PURPOSES];
  const found = await db
    .prepare(
      `SELECT count(*) AS n FROM media
       WHERE id IN (SELECT value FROM json_each(?1)) AND owner_id = ?2
         AND purpose IN (SELECT value FROM json_each(?3))`,
    )
    .bind(JSON.stringify(ids), authorId, JSON.stringify(purposes))
    .first<{ n: number }>();
  if ((found?.n ?? 0) !== ids.length) {
    throw new DomainError("invalid-media", "Every image must be one of your own uploads (not a document).", {
      errors: [{ path: "mediaIds", message: "not your image, or no such media" }],
    });
  }
}

async function checkEvent(db: D1Database, eventId: string): Promise<void> {
  const event = await db
    .prepare("SELECT 1 AS found FROM events WHERE id = ? AND status = 'published'")
    .bind(eventId)
    .first();
  // A draft is someone's secret and a cancelled event is nothing to point at: both read as missing.
  if (!event) {
    throw new DomainError("invalid-event", "No published event has this id.", {
      errors: [{ path: "eventId", message: "no such published event" }],
    });
  }
}

/** A D1 error from a foreign key: something named vanished between the checks and the batch. */
export function isForeignKeyError(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/i.test(error.message);
}

export async function createPost(db: D1Database, author: Actor, input: NewPost, now = Date.now()): Promise<PostRow> {
  const mediaIds = input.mediaIds ?? [];
  if (mediaIds.length > POST_MEDIA_MAX) throw invalid("mediaIds", `at most ${POST_MEDIA_MAX} images`);
  const text = checkedText(input.text, POST_TEXT_MAX, mediaIds.length > 0);
  await checkMedia(db, author.id, mediaIds);
  if (input.eventId) await checkEvent(db, input.eventId);

  const id = randomId();
  const statements = [
    db
      .prepare("INSERT INTO posts (id, author_id, text, event_id, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(id, author.id, text, input.eventId ?? null, now),
    ...mediaIds.map((mediaId, position) =>
      db.prepare("INSERT INTO post_media (post_id, position, media_id) VALUES (?, ?, ?)").bind(id, position, mediaId),
    ),
    mentionInserts(db, { text, actorId: author.id, postId: id, at: now }),
    db.prepare(`${POST_SELECT} WHERE p.id = ?2`).bind(author.id, id),
  ];
  let results: D1Result[];
  try {
    results = await db.batch(statements);
  } catch (error) {
    // An image deleted or an event gone between the checks and the batch: nothing was stored.
    if (isForeignKeyError(error)) {
      throw new DomainError("invalid-media", "An image or the event went away meanwhile; nothing was posted.");
    }
    throw error;
  }
  const row = (results[results.length - 1] as D1Result<PostRow>).results[0];
  if (!row) throw new Error("post not read back after insert");
  return row;
}

/** One post as `viewerId` may see it; 404 when missing, removed, or blocked either way. */
export async function getPost(db: D1Database, viewerId: string | null, postId: string): Promise<PostRow> {
  const row = await db
    .prepare(`${POST_SELECT} WHERE p.id = ?2 AND ${POST_VISIBLE}`)
    .bind(viewerId, postId)
    .first<PostRow>();
  if (!row) throw new DomainError("not-found", "No such post.");
  return row;
}

/** The author (or an admin) deletes; the cascades take the rest. Others: 403 if they can see it, else 404. */
export async function deletePost(db: D1Database, actor: Actor, postId: string): Promise<void> {
  const deleted = await db
    .prepare("DELETE FROM posts WHERE id = ?1 AND (author_id = ?2 OR ?3) RETURNING id")
    .bind(postId, actor.id, isAdmin(actor) ? 1 : 0)
    .first();
  if (deleted) return;
  await getPost(db, actor.id, postId);
  throw new DomainError("forbidden", "Only the author or an admin can delete a post.");
}

/** Keyset cursors: base64url of JSON [created_at, id]. */
export function pageCursor(createdAt: number, id: string): string {
  return encodeCursor(JSON.stringify([createdAt, id]));
}

export function readCursor(raw: string): [number, string] {
  try {
    const value = JSON.parse(decodeCursor(raw) ?? "null") as unknown;
    if (Array.isArray(value) && typeof value[0] === "number" && typeof value[1] === "string") {
      return [value[0], value[1]];
    }
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

export interface ListQuery {
  limit: number;
  cursor?: string | undefined;
}

/** A user's posts, newest first; 404 for an unknown user or one the viewer blocks (or is blocked by). */
export async function userPosts(
  db: D1Database,
  viewerId: string | null,
  userId: string,
  query: ListQuery,
): Promise<Page<PostRow>> {
  const [createdAt, id] = query.cursor ? readCursor(query.cursor) : [Number.MAX_SAFE_INTEGER, ""];
  const after = query.cursor ? "AND (p.created_at < ?3 OR (p.created_at = ?3 AND p.id < ?4))" : "";
  const [owner, page] = await db.batch([
    db
      .prepare(
        `SELECT 1 AS found FROM users WHERE id = ?2 AND NOT EXISTS (SELECT 1 FROM blocks bl
           WHERE (bl.blocker_id = ?1 AND bl.blocked_id = ?2) OR (bl.blocker_id = ?2 AND bl.blocked_id = ?1))`,
      )
      .bind(viewerId, userId),
    db
      .prepare(
        `${POST_SELECT} WHERE p.author_id = ?2 AND ${POST_VISIBLE} ${after}
         ORDER BY p.created_at DESC, p.id DESC LIMIT ?5`,
      )
      .bind(viewerId, userId, createdAt, id, query.limit + 1),
  ]);
  if (!owner?.results.length) throw new DomainError("not-found", "No such user.");
  const rows = (page as D1Result<PostRow>).results;
  const items = rows.slice(0, query.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > query.limit && last ? pageCursor(last.created_at, last.id) : null };
}

/** The caller's bookmarks, newest bookmark first (posts since removed or blocked are left out). */
export async function myBookmarks(db: D1Database, userId: string, query: ListQuery): Promise<Page<PostRow>> {
  const [createdAt, id] = query.cursor ? readCursor(query.cursor) : [0, ""];
  const after = query.cursor ? "AND (bm.created_at < ?2 OR (bm.created_at = ?2 AND bm.post_id < ?3))" : "";
  const { results } = await db
    .prepare(
      `SELECT ${POST_COLUMNS}, bm.created_at AS bookmarked_at FROM bookmarks bm JOIN ${POST_FROM}
       WHERE bm.user_id = ?1 AND p.id = bm.post_id AND ${POST_VISIBLE} ${after}
       ORDER BY bm.created_at DESC, bm.post_id DESC LIMIT ?4`,
    )
    .bind(userId, createdAt, id, query.limit + 1)
    .all<PostRow & { bookmarked_at: number }>();
  const items = results.slice(0, query.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: results.length > query.limit && last ? pageCursor(last.bookmarked_at, last.id) : null };
}
