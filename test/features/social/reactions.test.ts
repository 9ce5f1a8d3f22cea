/**
 * Likes, bookmarks and reposts under concurrency, through the Worker: many users each sending the
 * same PUT twice at once end with exactly one row each, counters equal to the rows, and every answer
 * and read showing the caller's flag; the same for DELETE back to zero. Notifications follow the rows.
 */
import { describe, expect, it } from "vitest";
import { countRows, rows } from "../../support/db";
import { lastOf, openPostLive } from "./live-helpers";
import { type ApiPost, createComment, createPost, people, person, react, send } from "./posts-helpers";

type Reaction = "like" | "bookmark" | "repost";
const TABLE = { like: "post_likes", bookmark: "bookmarks", repost: "reposts" } as const;
const COUNT = { like: "likes", bookmark: "bookmarks", repost: "reposts" } as const;
const FLAG = { like: "liked", bookmark: "bookmarked", repost: "reposted" } as const;
const COLUMN = { like: "like_count", bookmark: "bookmark_count", repost: "repost_count" } as const;

async function stored(postId: string, reaction: Reaction) {
  const [post] = await rows<Record<string, number>>(`SELECT ${COLUMN[reaction]} AS n FROM posts WHERE id = ?`, postId);
  return { rows: await countRows(TABLE[reaction], "post_id = ?", postId), counter: post?.n };
}

async function raceBothWays(reaction: Reaction, users: number) {
  const author = await person();
  const fans = await people(users);
  const post = await createPost(author.token);

  // Every user sends the PUT twice at once: 2 × users concurrent requests.
  const puts = await Promise.all(fans.flatMap((f) => [f, f]).map((f) => react("PUT", post.id, reaction, f.token)));
  expect(puts.every((r) => r.active)).toBe(true);
  expect(await stored(post.id, reaction)).toEqual({ rows: users, counter: users });
  const reads = await Promise.all(
    fans.map(async (f) => (await (await send("GET", `/api/v1/posts/${post.id}`, f.token)).json()) as ApiPost),
  );
  expect(reads.every((p) => p.viewer[FLAG[reaction]] && p.counts[COUNT[reaction]] === users)).toBe(true);

  const deletes = await Promise.all(
    fans.flatMap((f) => [f, f]).map((f) => react("DELETE", post.id, reaction, f.token)),
  );
  expect(deletes.every((r) => !r.active)).toBe(true);
  expect(await stored(post.id, reaction)).toEqual({ rows: 0, counter: 0 });
  const after = await Promise.all(
    fans.map(async (f) => (await (await send("GET", `/api/v1/posts/${post.id}`, f.token)).json()) as ApiPost),
  );
  expect(after.every((p) => !p.viewer[FLAG[reaction]] && p.counts[COUNT[reaction]] === 0)).toBe(true);
  return { author, fans, post };
}

describe("post reactions under concurrency", () => {
  it("100 users liking one post twice at once: exactly 100 likes, all liked; unliking twice at once: 0", async () => {
    const started = Date.now();
    await raceBothWays("like", 100);
    console.log(`200 concurrent likes and 200 concurrent unlikes answered in ${Date.now() - started} ms`);
  }, 120_000);

  it("bookmarks: 30 users twice at once, then back to zero", async () => {
    await raceBothWays("bookmark", 30);
  }, 60_000);

  it("reposts: 30 users twice at once, then back to zero", async () => {
    await raceBothWays("repost", 30);
  }, 60_000);
});

describe("post reactions", () => {
  it("answers { active, counts } and is idempotent one request at a time", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    expect(await react("PUT", post.id, "like", bob.token)).toEqual({
      active: true,
      counts: { likes: 1, comments: 0, reposts: 0, bookmarks: 0 },
    });
    expect((await react("PUT", post.id, "like", bob.token)).counts.likes).toBe(1);
    expect((await react("PUT", post.id, "repost", bob.token)).counts).toEqual({
      likes: 1,
      comments: 0,
      reposts: 1,
      bookmarks: 0,
    });
    expect(await react("DELETE", post.id, "like", bob.token)).toEqual({
      active: false,
      counts: { likes: 0, comments: 0, reposts: 1, bookmarks: 0 },
    });
    expect((await react("DELETE", post.id, "like", bob.token)).counts.likes).toBe(0);
    // Liking one's own post counts but notifies no one.
    expect((await react("PUT", post.id, "like", ana.token)).counts.likes).toBe(1);
  });

  it("notifies the author of a like and a repost (retracted when undone), never of a bookmark", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const notes = () =>
      rows<{ user_id: string; actor_id: string; kind: string }>(
        "SELECT user_id, actor_id, kind FROM notifications WHERE post_id = ? ORDER BY kind",
        post.id,
      );
    await react("PUT", post.id, "like", bob.token);
    await react("PUT", post.id, "like", bob.token);
    await react("PUT", post.id, "repost", bob.token);
    await react("PUT", post.id, "bookmark", bob.token);
    await react("PUT", post.id, "like", ana.token);
    expect(await notes()).toEqual([
      { user_id: ana.id, actor_id: bob.id, kind: "like" },
      { user_id: ana.id, actor_id: bob.id, kind: "repost" },
    ]);
    await react("DELETE", post.id, "like", bob.token);
    await react("DELETE", post.id, "repost", bob.token);
    expect(await notes()).toEqual([]);
  });

  it("is 404 for a missing post and 401 signed out, storing nothing", async () => {
    const ana = await person();
    for (const what of ["like", "bookmark", "repost"]) {
      expect((await send("PUT", `/api/v1/posts/no-such-post/${what}`, ana.token)).status).toBe(404);
      expect((await send("DELETE", `/api/v1/posts/no-such-post/${what}`, ana.token)).status).toBe(404);
    }
    const post = await createPost(ana.token);
    expect((await send("PUT", `/api/v1/posts/${post.id}/like`, null)).status).toBe(401);
    expect(await countRows("post_likes", "post_id = ?", post.id)).toBe(0);
  });
});

describe("live counts", () => {
  it("a like, a repost, a comment and its deletion through the API each reach the post's live socket", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const live = await openPostLive(post.id);
    await live.until((all) => all.length > 0, "the first counts");
    await react("PUT", post.id, "like", bob.token);
    await live.until((all) => lastOf(all).likes === 1, "likes 1");
    await react("PUT", post.id, "repost", bob.token);
    await live.until((all) => lastOf(all).reposts === 1, "reposts 1");
    const comment = await createComment(bob.token, post.id);
    await live.until((all) => lastOf(all).comments === 1, "comments 1");
    expect((await send("DELETE", `/api/v1/comments/${comment.id}`, bob.token)).status).toBe(204);
    await live.until((all) => lastOf(all).comments === 0, "comments 0");
    await react("DELETE", post.id, "like", bob.token);
    expect(lastOf(await live.until((all) => lastOf(all).likes === 0, "likes 0"))).toEqual({
      likes: 0,
      comments: 0,
      reposts: 1,
    });
    live.ws.close();
  });
});
