/**
 * Where /feed gets its items: one page of the home feed for a person, in the contract's shape
 * (`{ kind, post, repostedBy?, at }`, newest first, with the API's cursor). The page renders what
 * this returns and its "load more" link carries the same cursor GET /api/v1/feed hands out.
 *
 * Interim reader, until the feed service (src/features/social/feed.ts) is in: posts by the person
 * and by those they follow, newest first, with the visibility rule every read uses. Reposts are the
 * feed service's to add; the page already shows them ("Reposted by …").
 */
import type { AppContext } from "../../../context";
import { pageCursor, readCursor } from "../../../features/social/posts";
import {
  type Author,
  POST_SELECT,
  POST_VISIBLE,
  type Post,
  type PostRow,
  postMediaUrls,
  toPost,
} from "../../../features/social/present";

export interface FeedEntry {
  kind: "post" | "repost";
  post: Post;
  repostedBy?: Author | undefined;
  at: string;
}

export interface FeedPage {
  items: FeedEntry[];
  nextCursor: string | null;
}

export async function loadFeed(c: AppContext, userId: string, cursor: string | undefined, limit: number) {
  const [before, beforeId] = cursor ? readCursor(cursor) : [Number.MAX_SAFE_INTEGER, ""];
  const { results } = await c.env.DB.prepare(
    `${POST_SELECT} WHERE ${POST_VISIBLE}
       AND (p.author_id = ?1 OR p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = ?1))
       AND (p.created_at < ?2 OR (p.created_at = ?2 AND ?3 <> '' AND p.id < ?3))
     ORDER BY p.created_at DESC, p.id DESC LIMIT ?4`,
  )
    .bind(userId, before, beforeId, limit + 1)
    .all<PostRow>();
  const rows = results.slice(0, limit);
  const mediaUrl = postMediaUrls(c);
  const items = await Promise.all(
    rows.map(async (row) => {
      const post = await toPost(row, mediaUrl);
      return { kind: "post" as const, post, at: post.createdAt };
    }),
  );
  const last = rows[rows.length - 1];
  return {
    items,
    nextCursor: results.length > limit && last ? pageCursor(last.created_at, last.id) : null,
  } satisfies FeedPage;
}
