/**
 * The social tables' own guarantees, below any route: foreign keys are enforced and cascade, and the
 * counters kept by triggers agree with the rows after inserts, deletes, removals and cascades.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { rows } from "../support/db";

const db = () => env.DB;

/** The one row `sql` finds; fails the test when there is none. */
async function one<T>(sql: string, ...bindings: unknown[]): Promise<T> {
  const [row] = await rows<T>(sql, ...bindings);
  if (!row) throw new Error(`no row for ${sql}`);
  return row;
}
let seq = 0;

async function user(): Promise<string> {
  const id = `u-schema-${++seq}-${crypto.randomUUID().slice(0, 8)}`;
  await db()
    .prepare(
      "INSERT INTO users (id, email, name, roles, created_at, updated_at) VALUES (?, ?, 'Schema', '[\"attendee\"]', 1, 1)",
    )
    .bind(id, `${id}@example.com`)
    .run();
  return id;
}

async function post(authorId: string): Promise<string> {
  const id = `p-${crypto.randomUUID()}`;
  await db()
    .prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, 'hi', ?)")
    .bind(id, authorId, Date.now())
    .run();
  return id;
}

async function comment(postId: string, authorId: string, parentId: string | null = null): Promise<string> {
  const id = `c-${crypto.randomUUID()}`;
  await db()
    .prepare("INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at) VALUES (?, ?, ?, ?, 'c', ?)")
    .bind(id, postId, parentId, authorId, Date.now())
    .run();
  return id;
}

async function profile(userId: string) {
  return one<{
    posts_count: number;
    followers_count: number;
    following_count: number;
    feed_version: number;
  }>("SELECT posts_count, followers_count, following_count, feed_version FROM profiles WHERE user_id = ?", userId);
}

async function postCounts(postId: string) {
  return one<{ like_count: number; comment_count: number; repost_count: number; bookmark_count: number }>(
    "SELECT like_count, comment_count, repost_count, bookmark_count FROM posts WHERE id = ?",
    postId,
  );
}

/** Every table that points at a post or comment, and how many of its rows still name `postId`'s tree. */
async function leftovers(postId: string, commentIds: string[]): Promise<Record<string, number>> {
  const marks = commentIds.map(() => "?").join(",") || "''";
  const out: Record<string, number> = {};
  for (const [table, where, binds] of [
    ["comments", "post_id = ?", [postId]],
    ["post_likes", "post_id = ?", [postId]],
    ["bookmarks", "post_id = ?", [postId]],
    ["reposts", "post_id = ?", [postId]],
    ["post_media", "post_id = ?", [postId]],
    ["notifications", `post_id = ? OR comment_id IN (${marks})`, [postId, ...commentIds]],
    ["reports", `post_id = ? OR comment_id IN (${marks})`, [postId, ...commentIds]],
    ["comment_likes", `comment_id IN (${marks})`, commentIds],
  ] as const) {
    out[table] = (await one<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, ...binds)).n;
  }
  return out;
}

beforeEach(() => {
  seq += 100;
});

describe("social schema", () => {
  it("gives every user a profile row, made with the user", async () => {
    const id = await user();
    expect(await profile(id)).toEqual({ posts_count: 0, followers_count: 0, following_count: 0, feed_version: 0 });
  });

  it("enforces foreign keys: a like on a post that does not exist is refused", async () => {
    const id = await user();
    await expect(
      db().prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES ('nope', ?, 1)").bind(id).run(),
    ).rejects.toThrow(/FOREIGN KEY/);
  });

  it("refuses following or blocking oneself", async () => {
    const id = await user();
    await expect(
      db().prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, 1)").bind(id, id).run(),
    ).rejects.toThrow(/CHECK/);
    await expect(
      db().prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, 1)").bind(id, id).run(),
    ).rejects.toThrow(/CHECK/);
  });

  it("keeps follow counters and the follower's feed version with the rows", async () => {
    const [a, b] = [await user(), await user()];
    await db().prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, 1)").bind(a, b).run();
    expect(await profile(a)).toMatchObject({ following_count: 1, followers_count: 0, feed_version: 1 });
    expect(await profile(b)).toMatchObject({ following_count: 0, followers_count: 1 });

    // A post by b changes what a's feed shows: a's version moves, and b's own.
    const [beforeA, beforeB] = [(await profile(a)).feed_version, (await profile(b)).feed_version];
    await post(b);
    expect([(await profile(a)).feed_version, (await profile(b)).feed_version]).toEqual([beforeA + 1, beforeB + 1]);
    expect(await profile(b)).toMatchObject({ posts_count: 1 });

    await db().prepare("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?").bind(a, b).run();
    expect(await profile(a)).toMatchObject({ following_count: 0 });
    expect(await profile(b)).toMatchObject({ followers_count: 0 });
  });

  it("deleting a post takes everything with it and leaves every counter true", async () => {
    const [author, fan, other] = [await user(), await user(), await user()];
    const p = await post(author);
    const top = await comment(p, fan);
    const reply = await comment(p, author, top);
    const mediaId = `m-${crypto.randomUUID()}`;
    await db().batch([
      db()
        .prepare(
          "INSERT INTO media (id, owner_id, purpose, visibility, content_type, r2_key, bytes, width, height, sha256, created_at) VALUES (?, ?, 'post', 'public', 'image/png', ?, 1, 1, 1, 'x', 1)",
        )
        .bind(mediaId, author, `media/${mediaId}`),
      db().prepare("INSERT INTO post_media (post_id, position, media_id) VALUES (?, 0, ?)").bind(p, mediaId),
      db().prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(p, fan),
      db().prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(p, other),
      db().prepare("INSERT INTO comment_likes (comment_id, user_id, created_at) VALUES (?, ?, 1)").bind(top, author),
      db().prepare("INSERT INTO comment_likes (comment_id, user_id, created_at) VALUES (?, ?, 1)").bind(reply, fan),
      db().prepare("INSERT INTO bookmarks (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(p, fan),
      db().prepare("INSERT INTO reposts (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(p, other),
      db()
        .prepare(
          "INSERT INTO notifications (user_id, kind, actor_id, post_id, group_key, created_at) VALUES (?, 'like', ?, ?, ?, 1)",
        )
        .bind(author, fan, p, `like:${p}`),
      db()
        .prepare(
          "INSERT INTO notifications (user_id, kind, actor_id, post_id, comment_id, group_key, created_at) VALUES (?, 'reply', ?, ?, ?, ?, 1)",
        )
        .bind(fan, author, p, reply, `reply:${top}`),
      db()
        .prepare(
          "INSERT INTO reports (id, reporter_id, subject_kind, comment_id, reason, created_at) VALUES (?, ?, 'comment', ?, 'spam', 1)",
        )
        .bind(`r-${p}`, other, reply),
    ]);
    expect(await postCounts(p)).toEqual({ like_count: 2, comment_count: 2, repost_count: 1, bookmark_count: 1 });
    expect((await one<{ like_count: number }>("SELECT like_count FROM comments WHERE id = ?", top)).like_count).toBe(1);
    expect(Object.values(await leftovers(p, [top, reply])).some((n) => n > 0)).toBe(true);

    await db().prepare("DELETE FROM posts WHERE id = ?").bind(p).run();

    expect(await leftovers(p, [top, reply])).toEqual({
      comments: 0,
      post_likes: 0,
      bookmarks: 0,
      reposts: 0,
      post_media: 0,
      notifications: 0,
      reports: 0,
      comment_likes: 0,
    });
    expect(await profile(author)).toMatchObject({ posts_count: 0 });
    // The media row itself belongs to its owner and stays.
    expect(await rows("SELECT id FROM media WHERE id = ?", mediaId)).toHaveLength(1);
  });

  it("deleting a comment takes its replies and their likes, and the post's comment count follows", async () => {
    const [author, fan] = [await user(), await user()];
    const p = await post(author);
    const top = await comment(p, fan);
    const reply = await comment(p, author, top);
    await comment(p, author);
    await db()
      .prepare("INSERT INTO comment_likes (comment_id, user_id, created_at) VALUES (?, ?, 1)")
      .bind(reply, fan)
      .run();
    expect((await postCounts(p)).comment_count).toBe(3);

    await db().prepare("DELETE FROM comments WHERE id = ?").bind(top).run();
    expect((await postCounts(p)).comment_count).toBe(1);
    expect(await rows("SELECT 1 FROM comments WHERE id IN (?, ?)", top, reply)).toHaveLength(0);
    expect(await rows("SELECT 1 FROM comment_likes WHERE comment_id = ?", reply)).toHaveLength(0);
  });

  it("a removed post or comment stops counting, and counts again when restored", async () => {
    const author = await user();
    const p = await post(author);
    const c = await comment(p, author);
    await db().prepare("UPDATE comments SET removed_at = 5 WHERE id = ?").bind(c).run();
    expect((await postCounts(p)).comment_count).toBe(0);
    await db().prepare("UPDATE posts SET removed_at = 5 WHERE id = ?").bind(p).run();
    expect((await profile(author)).posts_count).toBe(0);
    // A removed post deleted later does not count twice.
    await db().prepare("DELETE FROM posts WHERE id = ?").bind(p).run();
    expect((await profile(author)).posts_count).toBe(0);
  });

  it("deleting a user takes their posts, likes and follows, and the others' counters follow", async () => {
    const [gone, stays] = [await user(), await user()];
    const theirs = await post(stays);
    await post(gone);
    await db().batch([
      db().prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, 1)").bind(gone, stays),
      db().prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, 1)").bind(stays, gone),
      db().prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(theirs, gone),
      db().prepare("INSERT INTO reposts (post_id, user_id, created_at) VALUES (?, ?, 1)").bind(theirs, gone),
    ]);
    expect(await profile(stays)).toMatchObject({ followers_count: 1, following_count: 1 });

    await db().prepare("DELETE FROM users WHERE id = ?").bind(gone).run();

    expect(await profile(stays)).toMatchObject({ followers_count: 0, following_count: 0, posts_count: 1 });
    expect(await postCounts(theirs)).toMatchObject({ like_count: 0, repost_count: 0 });
    for (const table of ["profiles", "posts", "follows", "post_likes", "reposts"]) {
      const column = table === "posts" ? "author_id" : table === "follows" ? "follower_id" : "user_id";
      expect(await rows(`SELECT 1 FROM ${table} WHERE ${column} = ?`, gone), table).toHaveLength(0);
    }
  });
});
