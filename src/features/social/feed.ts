/**
 * The home feed: posts and reposts by the people the viewer follows and by the viewer, newest first.
 *
 * A page is at most two D1 queries: the viewer's `profiles.feed_version`, then (on a cache miss) one
 * statement that unions posts and reposts over `follows`, drops removed posts and both sides of every
 * block (the post's author and the reposter), and reads each post whole through present.ts's columns
 * (author, counts, the viewer's flags, media as JSON). The mapped page is edge-cached for 5 minutes
 * under (viewer, feed_version, cursor, limit): the triggers of migration 0011 bump feed_version
 * whenever something the feed shows changes for this viewer — a followed user (or the viewer) posts,
 * reposts or deletes, the viewer likes, bookmarks, follows or blocks, or is blocked — so a cached page
 * is never served after such a change, and nothing has to be deleted. A hit is the version read only.
 *
 * Items are ordered by (at, kind, key) descending, where `at` is the post's or the repost's time and
 * `key` the post id (a post) or post id + reposter (a repost: two people may repost one post); the
 * cursor is that triple, so pages never repeat or skip an item.
 */
import type { AppContext } from "../../context";
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { cacheKey, EDGE_TTL, edgeCached } from "../../lib/edge-cache";
import { invalidCursorError } from "../../lib/errors";
import { POST_COLUMNS, POST_FROM, POST_VISIBLE, type PostRow, postMediaUrls, toAuthor, toPost } from "./present";

export interface FeedQuery {
  limit: number;
  cursor?: string | undefined;
}

type Kind = "post" | "repost";

interface FeedRow extends PostRow {
  item_kind: Kind;
  item_at: number;
  item_key: string;
  reposter_id: string | null;
  reposter_name: string | null;
  reposter_handle: string | null;
  reposter_avatar_media_id: string | null;
}

/** Sorts after every real item: the first page's "cursor". */
const START: [number, string, string] = [Number.MAX_SAFE_INTEGER, "~", ""];

function readFeedCursor(raw: string): [number, Kind, string] {
  try {
    const value = JSON.parse(decodeCursor(raw) ?? "null") as unknown;
    if (
      Array.isArray(value) &&
      typeof value[0] === "number" &&
      (value[1] === "post" || value[1] === "repost") &&
      typeof value[2] === "string"
    ) {
      return [value[0], value[1], value[2]];
    }
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

/** Neither `who` blocks the viewer (?1) nor the viewer `who`. */
const unblocked = (who: string) => `NOT EXISTS (SELECT 1 FROM blocks fb
  WHERE (fb.blocker_id = ?1 AND fb.blocked_id = ${who}) OR (fb.blocker_id = ${who} AND fb.blocked_id = ?1))`;

/** The viewer and everyone they follow. */
const SOURCES = "SELECT ?1 UNION ALL SELECT followee_id FROM follows WHERE follower_id = ?1";

/**
 * One page of the feed in one statement: ?1 viewer, ?2–?4 the cursor (at, kind, key), ?5 the limit + 1.
 * Each branch is filtered and bounded before the union is sorted, so the page is never short.
 */
const FEED_SQL = `
SELECT ${POST_COLUMNS}, f.kind AS item_kind, f.at AS item_at, f.k AS item_key,
  f.reposter_id, ru.name AS reposter_name, rpr.handle AS reposter_handle, rpr.avatar_media_id AS reposter_avatar_media_id
FROM (
  SELECT * FROM (
    SELECT p.id AS post_id, 'post' AS kind, p.created_at AS at, p.id AS k, NULL AS reposter_id
    FROM posts p
    WHERE p.author_id IN (${SOURCES}) AND ${POST_VISIBLE}
      AND p.created_at <= ?2 AND (p.created_at, 'post', p.id) < (?2, ?3, ?4)
    ORDER BY p.created_at DESC, p.id DESC LIMIT ?5
  )
  UNION ALL
  SELECT * FROM (
    SELECT r.post_id AS post_id, 'repost' AS kind, r.created_at AS at, r.post_id || '/' || r.user_id AS k,
      r.user_id AS reposter_id
    FROM reposts r JOIN posts p ON p.id = r.post_id
    WHERE r.user_id IN (${SOURCES}) AND ${unblocked("r.user_id")} AND ${POST_VISIBLE}
      AND r.created_at <= ?2 AND (r.created_at, 'repost', r.post_id || '/' || r.user_id) < (?2, ?3, ?4)
    ORDER BY r.created_at DESC, k DESC LIMIT ?5
  )
) f, ${POST_FROM}
LEFT JOIN users ru ON ru.id = f.reposter_id
LEFT JOIN profiles rpr ON rpr.user_id = f.reposter_id
WHERE p.id = f.post_id
ORDER BY f.at DESC, f.kind DESC, f.k DESC
LIMIT ?5`;

/** The rows of one page (limit + 1 of them when there is more). */
export async function feedRows(db: D1Database, viewerId: string, query: FeedQuery): Promise<FeedRow[]> {
  const [at, kind, key] = query.cursor ? readFeedCursor(query.cursor) : START;
  const { results } = await db
    .prepare(FEED_SQL)
    .bind(viewerId, at, kind, key, query.limit + 1)
    .all<FeedRow>();
  return results;
}

/** The viewer's feed version: the cache key's only changing part. */
async function feedVersion(db: D1Database, viewerId: string): Promise<number> {
  const row = await db
    .prepare("SELECT feed_version FROM profiles WHERE user_id = ?")
    .bind(viewerId)
    .first<{ feed_version: number }>();
  return row?.feed_version ?? 0;
}

/** GET /api/v1/feed for the signed-in viewer: version read, then the cached page or one query. */
export async function homeFeed(c: AppContext, viewerId: string, query: FeedQuery) {
  // Parsed first: a bad cursor is a 400 whether or not a page is cached.
  if (query.cursor) readFeedCursor(query.cursor);
  const version = await feedVersion(c.env.DB, viewerId);
  const key = cacheKey("feed", {
    viewer: viewerId,
    v: version,
    cursor: query.cursor ?? null,
    limit: query.limit,
    // Media URLs are absolute: an answer built for one origin is not served to another.
    origin: new URL(c.req.url).origin,
  });
  return edgeCached(c, key, EDGE_TTL.feed, async () => {
    const rows = await feedRows(c.env.DB, viewerId, query);
    const page = rows.slice(0, query.limit);
    const mediaUrl = postMediaUrls(c);
    const last = page[page.length - 1];
    return {
      items: await Promise.all(
        page.map(async (row) => ({
          kind: row.item_kind,
          post: await toPost(row, mediaUrl, c.get("config").pii),
          ...(row.item_kind === "repost" && row.reposter_id
            ? {
                repostedBy: await toAuthor(
                  {
                    id: row.reposter_id,
                    name: row.reposter_name ?? "",
                    handle: row.reposter_handle,
                    avatarMediaId: row.reposter_avatar_media_id,
                  },
                  mediaUrl,
                  c.get("config").pii,
                ),
              }
            : {}),
          at: new Date(row.item_at).toISOString(),
        })),
      ),
      nextCursor:
        rows.length > query.limit && last
          ? encodeCursor(JSON.stringify([last.item_at, last.item_kind, last.item_key]))
          : null,
    };
  });
}
