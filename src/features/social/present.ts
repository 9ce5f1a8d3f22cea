/**
 * How a post is read and shown, for every list and page that shows one (a post, a profile's posts,
 * bookmarks, the home feed, notifications, live pages): one SELECT that yields the whole post — its
 * author, counts, the viewer's flags and its media folded in as JSON — so a page of posts is one
 * query, and one mapping to the contract's Post shape.
 *
 * Every statement built on POST_SELECT binds the viewer as ?1 (null for anonymous: the viewer's
 * EXISTS flags are then false) and appends its own WHERE / ORDER with ?2 onwards. POST_VISIBLE is the
 * condition every read adds: not removed, and neither the author nor the viewer blocks the other.
 *
 * Media and avatar URLs are signed here with an expiry 2–3 hours ahead, rounded up to the hour: a
 * feed page cached for 5 minutes never hands out a URL that has expired, and every render within the
 * hour signs the same URL (the browser's cache keeps the image).
 */
import { z } from "@hono/zod-openapi";
import type { AppContext } from "../../context";
import type { PiiCipher } from "../../lib/pii";
import { openName } from "../auth";
import { signedPath, signMedia } from "../media";

/** The columns of a full post (aliases as in PostRow). Needs POST_FROM's aliases p, u, pr. */
export const POST_COLUMNS = `p.id, p.author_id, p.text, p.event_id, p.created_at,
  p.like_count, p.comment_count, p.repost_count, p.bookmark_count,
  u.name AS author_name, pr.handle AS author_handle, pr.avatar_media_id AS author_avatar_media_id,
  EXISTS (SELECT 1 FROM post_likes vl WHERE vl.post_id = p.id AND vl.user_id = ?1) AS viewer_liked,
  EXISTS (SELECT 1 FROM bookmarks vb WHERE vb.post_id = p.id AND vb.user_id = ?1) AS viewer_bookmarked,
  EXISTS (SELECT 1 FROM reposts vr WHERE vr.post_id = p.id AND vr.user_id = ?1) AS viewer_reposted,
  (SELECT json_group_array(json_object('id', m.id, 'position', pm.position, 'width', m.width, 'height', m.height))
     FROM post_media pm JOIN media m ON m.id = pm.media_id WHERE pm.post_id = p.id) AS media_json`;

/** The tables POST_COLUMNS reads: the post, its author's user row and profile. */
export const POST_FROM = "posts p JOIN users u ON u.id = p.author_id JOIN profiles pr ON pr.user_id = p.author_id";

/** A full post for viewer ?1; callers append WHERE (with POST_VISIBLE) and ORDER. */
export const POST_SELECT = `SELECT ${POST_COLUMNS} FROM ${POST_FROM}`;

/** Not removed, and no block between the author and viewer ?1 either way. */
export const POST_VISIBLE = `p.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM blocks bl
  WHERE (bl.blocker_id = ?1 AND bl.blocked_id = p.author_id) OR (bl.blocker_id = p.author_id AND bl.blocked_id = ?1))`;

/** What POST_SELECT yields for one post. */
export interface PostRow {
  id: string;
  author_id: string;
  text: string;
  event_id: string | null;
  created_at: number;
  like_count: number;
  comment_count: number;
  repost_count: number;
  bookmark_count: number;
  author_name: string;
  author_handle: string | null;
  author_avatar_media_id: string | null;
  viewer_liked: number;
  viewer_bookmarked: number;
  viewer_reposted: number;
  /** JSON array of { id, position, width, height }; "[]" without media. */
  media_json: string;
}

export const AuthorSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    handle: z.string().nullable(),
    avatarUrl: z.string().nullable().openapi({ description: "Signed; valid for at least an hour" }),
  })
  .openapi("Author");

export const PostCountsSchema = z
  .object({
    likes: z.number().int(),
    comments: z.number().int(),
    reposts: z.number().int(),
    bookmarks: z.number().int(),
  })
  .openapi("PostCounts");

export const PostSchema = z
  .object({
    id: z.string(),
    author: AuthorSchema,
    text: z.string().openapi({ description: "Plain text: render it escaped, never as HTML" }),
    media: z.array(
      z.object({
        id: z.string(),
        url: z.string().openapi({ description: "Signed; valid for at least an hour" }),
        width: z.number().int(),
        height: z.number().int(),
      }),
    ),
    eventId: z.string().nullable(),
    createdAt: z.string(),
    counts: PostCountsSchema,
    viewer: z.object({ liked: z.boolean(), bookmarked: z.boolean(), reposted: z.boolean() }),
  })
  .openapi("Post");
export type Post = z.infer<typeof PostSchema>;
export type Author = z.infer<typeof AuthorSchema>;

/** Turns a media id into a URL anyone holding it may load (see postMediaUrls). */
export type MediaUrl = (mediaId: string) => Promise<string> | string;

interface MediaJson {
  id: string;
  position: number;
  width: number;
  height: number;
}

export function countsOf(row: Pick<PostRow, "like_count" | "comment_count" | "repost_count" | "bookmark_count">) {
  return {
    likes: row.like_count,
    comments: row.comment_count,
    reposts: row.repost_count,
    bookmarks: row.bookmark_count,
  };
}

/** The author as shown: the stored name opened (users.name is sealed at rest, src/lib/pii.ts). */
export async function toAuthor(
  row: { id: string; name: string; handle: string | null; avatarMediaId: string | null },
  mediaUrl: MediaUrl,
  pii: PiiCipher,
): Promise<Author> {
  return {
    id: row.id,
    name: openName(pii, row.name),
    handle: row.handle,
    avatarUrl: row.avatarMediaId ? await mediaUrl(row.avatarMediaId) : null,
  };
}

export async function toPost(row: PostRow, mediaUrl: MediaUrl, pii: PiiCipher): Promise<Post> {
  const media = (JSON.parse(row.media_json || "[]") as MediaJson[]).sort((a, b) => a.position - b.position);
  return {
    id: row.id,
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
    media: await Promise.all(
      media.map(async (m) => ({ id: m.id, url: await mediaUrl(m.id), width: m.width, height: m.height })),
    ),
    eventId: row.event_id,
    createdAt: new Date(row.created_at).toISOString(),
    counts: countsOf(row),
    viewer: { liked: !!row.viewer_liked, bookmarked: !!row.viewer_bookmarked, reposted: !!row.viewer_reposted },
  };
}

/** Lower bound of a signed URL's life; the expiry is then rounded up to the hour (so 2–3 h). */
export const SOCIAL_MEDIA_URL_SECONDS = 2 * 60 * 60;

/**
 * The signer posts, avatars and comments use for one request: URLs valid 2–3 hours, memoised per id
 * (a page naming one avatar twenty times signs it once). `now` in milliseconds, for tests.
 */
export function postMediaUrls(c: AppContext, now = Date.now()): MediaUrl {
  const config = c.get("config");
  const origin = config.publicUrl ?? new URL(c.req.url).origin;
  const exp = Math.ceil((Math.floor(now / 1000) + SOCIAL_MEDIA_URL_SECONDS) / 3600) * 3600;
  const signed = new Map<string, Promise<string>>();
  return (mediaId) => {
    let url = signed.get(mediaId);
    if (!url) {
      url = signMedia(config.mediaSigningKeys, mediaId, exp).then((params) => origin + signedPath(mediaId, params));
      signed.set(mediaId, url);
    }
    return url;
  };
}

/** The viewer's user id, or null when anonymous (or a device). */
export function viewerId(c: AppContext): string | null {
  const principal = c.get("principal");
  return principal?.kind === "user" ? principal.id : null;
}
