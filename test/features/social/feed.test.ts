/**
 * GET /api/v1/feed: posts and reposts by followed users and oneself, newest first, blocked users and
 * removed posts left out, every item exactly once across cursor pages; at most two D1 queries a page
 * besides the session's (one on a cache hit), and a followed user's new post makes the next read a
 * miss that shows it. Reads go through the Worker's handler with an execution context the test waits
 * on, so a miss's deferred cache store has finished before the next read.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { freshIp, problemOf } from "../../helpers";
import { recordingEnv } from "../../support/db";
import { bearer } from "../auth/helpers";
import { type ApiPost, block, createPost, type Person, people, react, send } from "./posts-helpers";

interface FeedItem {
  kind: "post" | "repost";
  post: ApiPost;
  repostedBy?: { id: string; name: string };
  at: string;
}
interface FeedPage {
  items: FeedItem[];
  nextCursor: string | null;
}

/** The statements of a request that are not the bearer token's session check (every signed-in route pays that). */
const feedQueries = (queries: string[]) => queries.filter((sql) => !/\bsessions\b/.test(sql));

async function feed(
  viewer: Person,
  query = "",
  target: Env = env,
): Promise<{ cache: string | null; body: FeedPage; status: number }> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`https://gatehouse.test/api/v1/feed${query}`, {
      headers: { ...bearer(viewer.token), "CF-Connecting-IP": freshIp() },
    }),
    target,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  if (res.status !== 200) throw new Error(`feed: ${res.status} ${await res.text()}`);
  return { cache: res.headers.get("X-Cache"), body: (await res.json()) as FeedPage, status: res.status };
}

async function follow(who: Person, target: Person): Promise<void> {
  const res = await send("PUT", `/api/v1/users/${target.id}/follow`, who.token);
  if (res.status !== 200) throw new Error(`follow: ${res.status} ${await res.text()}`);
}

/** A post written straight to D1 at `at` (seeding many; the triggers still run). */
async function seedPost(authorId: string, at: number, text = "seeded"): Promise<string> {
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, ?, ?)")
    .bind(id, authorId, text, at)
    .run();
  return id;
}

async function seedRepost(userId: string, postId: string, at: number): Promise<void> {
  await env.DB.prepare("INSERT INTO reposts (post_id, user_id, created_at) VALUES (?, ?, ?)")
    .bind(postId, userId, at)
    .run();
}

const keyOf = (item: FeedItem) => `${item.kind}:${item.post.id}:${item.repostedBy?.id ?? ""}`;

describe("GET /api/v1/feed", () => {
  it("is for signed-in users; a malformed cursor or limit is a 400", async () => {
    const anonymous = await worker.fetch(
      new Request("https://gatehouse.test/api/v1/feed", { headers: { "CF-Connecting-IP": freshIp() } }),
      env,
      createExecutionContext(),
    );
    expect(anonymous.status).toBe(401);
    const [viewer] = await people(1);
    if (!viewer) throw new Error("no user");
    for (const query of ["?cursor=garbage", "?limit=0", "?limit=101", `?cursor=${btoa('[1,"nope","x"]')}`]) {
      const res = await send("GET", `/api/v1/feed${query}`, viewer.token);
      expect(res.status, query).toBe(400);
      await problemOf(res);
    }
  });

  it("shows posts and reposts by followed users and oneself, newest first; not strangers', blocked users' or removed posts", async () => {
    const [viewer, friend, other, stranger, blocker] = await people(5);
    if (!viewer || !friend || !other || !stranger || !blocker) throw new Error("no users");
    await follow(viewer, friend);
    await follow(viewer, other);
    await follow(viewer, blocker);
    const t = Date.now() - 60_000;
    const own = await seedPost(viewer.id, t + 1, "mine");
    const friends = await seedPost(friend.id, t + 2, "friend's");
    const strangers = await seedPost(stranger.id, t + 3, "stranger's");
    const removed = await seedPost(friend.id, t + 4, "removed");
    await env.DB.prepare("UPDATE posts SET removed_at = ? WHERE id = ?")
      .bind(t + 5, removed)
      .run();
    // A followed user reposts a stranger's post: it shows, as a repost by them.
    await seedRepost(other.id, strangers, t + 6);
    // Someone the viewer follows blocks the viewer afterwards: their posts and reposts go.
    const blockers = await seedPost(blocker.id, t + 7, "blocker's");
    await seedRepost(blocker.id, friends, t + 8);
    // A followed user reposts a post by someone who blocks the viewer: it is not shown either.
    const blockedAuthor = await seedPost(blocker.id, t + 9, "by the blocker");
    await seedRepost(other.id, blockedAuthor, t + 10);

    const before = await feed(viewer);
    expect(before.body.items.map(keyOf)).toEqual([
      `repost:${blockedAuthor}:${other.id}`,
      `post:${blockedAuthor}:`,
      `repost:${friends}:${blocker.id}`,
      `post:${blockers}:`,
      `repost:${strangers}:${other.id}`,
      `post:${friends}:`,
      `post:${own}:`,
    ]);
    const repost = before.body.items[4];
    expect(repost?.repostedBy).toMatchObject({ id: other.id, name: "Test User" });
    expect(repost?.at).toBe(new Date(t + 6).toISOString());
    expect(repost?.post.author.id).toBe(stranger.id);
    expect(before.body.items[5]?.repostedBy).toBeUndefined();

    await block(blocker.id, viewer.id);
    const after = await feed(viewer);
    expect(after.cache).toBe("MISS");
    expect(after.body.items.map(keyOf)).toEqual([
      `repost:${strangers}:${other.id}`,
      `post:${friends}:`,
      `post:${own}:`,
    ]);

    // The other way round: the viewer blocks a reposter (the follow stays in this fixture), whose
    // reposts go while the post's own author is untouched.
    await block(viewer.id, other.id);
    const blocking = await feed(viewer);
    expect(blocking.cache).toBe("MISS");
    expect(blocking.body.items.map(keyOf)).toEqual([`post:${friends}:`, `post:${own}:`]);
  });

  it("a page costs two D1 queries on a miss and one on a hit; a followed user's new post makes the next read a miss that shows it", async () => {
    const [viewer, friend] = await people(2);
    if (!viewer || !friend) throw new Error("no users");
    await follow(viewer, friend);
    const first = await createPost(friend.token, { text: "first" });

    const miss = recordingEnv();
    const one = await feed(viewer, "", miss.env);
    expect(one.cache).toBe("MISS");
    expect(one.body.items.map((i) => i.post.id)).toEqual([first.id]);
    expect(feedQueries(miss.queries)).toHaveLength(2);

    const hit = recordingEnv();
    const two = await feed(viewer, "", hit.env);
    expect(two.cache).toBe("HIT");
    expect(two.body).toEqual(one.body);
    expect(feedQueries(hit.queries)).toEqual([expect.stringContaining("feed_version")]);

    const second = await createPost(friend.token, { text: "second" });
    const three = await feed(viewer);
    expect(three.cache).toBe("MISS");
    expect(three.body.items.map((i) => i.post.id)).toEqual([second.id, first.id]);
    expect((await feed(viewer)).cache).toBe("HIT");

    // The viewer's own like changes what the page shows (viewer.liked, the count): a miss again.
    await react("PUT", second.id, "like", viewer.token);
    const four = await feed(viewer);
    expect(four.cache).toBe("MISS");
    expect(four.body.items[0]?.post.viewer.liked).toBe(true);
    expect(four.body.items[0]?.post.counts.likes).toBe(1);
  });

  it("another viewer never gets someone else's cached page", async () => {
    const [a, b, author] = await people(3);
    if (!a || !b || !author) throw new Error("no users");
    await follow(a, author);
    await createPost(author.token, { text: "for a" });
    expect((await feed(a)).body.items).toHaveLength(1);
    const other = await feed(b);
    expect(other.cache).toBe("MISS");
    expect(other.body.items).toEqual([]);
  });

  it("cursor pages return every item exactly once, in order, ties on the same instant included", async () => {
    const [viewer, x, y] = await people(3);
    if (!viewer || !x || !y) throw new Error("no users");
    await follow(viewer, x);
    await follow(viewer, y);
    const t = Date.now() - 3_600_000;
    const expected: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      // Pairs of posts share a timestamp, so the page boundaries fall inside ties.
      const at = t + Math.floor(i / 2) * 1000;
      const author = i % 3 === 0 ? viewer : i % 3 === 1 ? x : y;
      expected.push(`post:${await seedPost(author.id, at)}:`);
    }
    const postIds = expected.map((k) => k.split(":")[1] as string);
    for (let i = 0; i < 18; i += 1) {
      // Reposts by both followed users, some of the same post at the same instant.
      const reposter = i % 2 === 0 ? x : y;
      const postId = postIds[Math.floor(i / 2) % postIds.length] as string;
      const at = t + 100_000 + Math.floor(i / 4) * 1000;
      await seedRepost(reposter.id, postId, at);
      expected.push(`repost:${postId}:${reposter.id}`);
    }
    expect(expected).toHaveLength(30);

    const seen: FeedItem[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: FeedPage } = await feed(viewer, `?limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.body.items.length).toBeLessThanOrEqual(7);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 20);
    expect(pages).toBe(5);
    const keys = seen.map(keyOf);
    expect(new Set(keys).size).toBe(30);
    expect([...keys].sort()).toEqual([...expected].sort());
    const times = seen.map((item) => Date.parse(item.at));
    expect(times).toEqual([...times].sort((p, q) => q - p));
  });
});
