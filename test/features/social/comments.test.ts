/**
 * Comments through the Worker: one level of replies, notifications for the post's author and the
 * parent's author, the per-user rate limit at its boundary, the list (oldest first, blocked and
 * removed left out), who may delete, and comment likes under concurrency.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { login } from "../auth/helpers";
import { type ApiComment, block, createComment, createPost, people, send } from "./posts-helpers";

async function refused(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

const commentCount = async (postId: string) =>
  (await rows<{ comment_count: number }>("SELECT comment_count FROM posts WHERE id = ?", postId))[0]?.comment_count;

async function listAll(postId: string, token: string | null, limit = 2): Promise<ApiComment[]> {
  const seen: ApiComment[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=${limit}&cursor=${cursor}` : `?limit=${limit}`;
    const res = await send("GET", `/api/v1/posts/${postId}/comments${query}`, token);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: ApiComment[]; nextCursor: string | null };
    seen.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return seen;
}

describe("POST /api/v1/posts/:id/comments", () => {
  it("stores a comment and a reply, counts both, and notifies the post's author and the parent's", async () => {
    const [ana, bob, cy] = await people(3);
    if (!ana || !bob || !cy) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const res = await send("POST", `/api/v1/posts/${post.id}/comments`, bob.token, { text: " Lovely\u0000 " });
    expect(res.status).toBe(201);
    const comment = (await res.json()) as ApiComment;
    expect(comment).toMatchObject({
      postId: post.id,
      parentId: null,
      author: { id: bob.id, name: "Test User", handle: null, avatarUrl: null },
      text: "Lovely",
      likeCount: 0,
    });
    const reply = await createComment(cy.token, post.id, { text: "Agreed", parentId: comment.id });
    expect(reply.parentId).toBe(comment.id);
    expect(await commentCount(post.id)).toBe(2);
    expect(
      await rows(
        "SELECT user_id, actor_id, kind, comment_id FROM notifications WHERE post_id = ? ORDER BY id",
        post.id,
      ),
    ).toEqual([
      { user_id: ana.id, actor_id: bob.id, kind: "comment", comment_id: comment.id },
      { user_id: ana.id, actor_id: cy.id, kind: "comment", comment_id: reply.id },
      { user_id: bob.id, actor_id: cy.id, kind: "reply", comment_id: reply.id },
    ]);
  });

  it("refuses a reply to a reply and a parent on another post (422), empty and 2,001-character text (400)", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const other = await createPost(ana.token);
    const top = await createComment(bob.token, post.id);
    const reply = await createComment(ana.token, post.id, { text: "re", parentId: top.id });
    const path = `/api/v1/posts/${post.id}/comments`;
    await refused(await send("POST", path, bob.token, { text: "deep", parentId: reply.id }), 422, "invalid-parent");
    await refused(
      await send("POST", `/api/v1/posts/${other.id}/comments`, bob.token, { text: "x", parentId: top.id }),
      422,
      "invalid-parent",
    );
    await refused(await send("POST", path, bob.token, { text: "x", parentId: "no-such" }), 422, "invalid-parent");
    await refused(await send("POST", path, bob.token, { text: " \u0001 " }), 400, "validation-failed");
    await refused(await send("POST", path, bob.token, { text: "x".repeat(2_001) }), 400, "validation-failed");
    expect((await send("POST", path, bob.token, { text: "x".repeat(2_000) })).status).toBe(201);
    await refused(
      await send("POST", "/api/v1/posts/no-such-post/comments", bob.token, { text: "x" }),
      404,
      "not-found",
    );
    expect(await countRows("comments", "post_id IN (?, ?)", post.id, other.id)).toBe(3);
    expect(await commentCount(post.id)).toBe(3);
  });

  it("limits each user to 20 comments per 5 minutes: the 21st is 429 with Retry-After and stores nothing", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    for (let i = 1; i <= 20; i++) {
      expect((await send("POST", `/api/v1/posts/${post.id}/comments`, bob.token, { text: `c${i}` })).status).toBe(201);
    }
    const over = await send("POST", `/api/v1/posts/${post.id}/comments`, bob.token, { text: "c21" });
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(codeOf(await problemOf(over))).toBe("rate-limited");
    expect(await countRows("comments", "post_id = ? AND author_id = ?", post.id, bob.id)).toBe(20);
    expect(await commentCount(post.id)).toBe(20);
    expect((await send("POST", `/api/v1/posts/${post.id}/comments`, ana.token, { text: "mine" })).status).toBe(201);
  });
});

describe("GET /api/v1/posts/:id/comments", () => {
  it("lists oldest first across pages, without removed comments or those of blocked authors", async () => {
    const [ana, bob, cy, dee] = await people(4);
    if (!ana || !bob || !cy || !dee) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const made: ApiComment[] = [];
    for (const [who, text] of [
      [bob, "one"],
      [cy, "two"],
      [bob, "three"],
      [dee, "four"],
      [bob, "five"],
    ] as const) {
      made.push(await createComment(who.token, post.id, { text }));
    }
    expect((await listAll(post.id, null)).map((c) => c.text)).toEqual(["one", "two", "three", "four", "five"]);
    await env.DB.prepare("UPDATE comments SET removed_at = ? WHERE id = ?").bind(Date.now(), made[3]?.id).run();
    await block(cy.id, bob.id);
    expect((await listAll(post.id, bob.token)).map((c) => c.text)).toEqual(["one", "three", "five"]);
    expect((await listAll(post.id, null, 10)).map((c) => c.text)).toEqual(["one", "two", "three", "five"]);
    expect(await commentCount(post.id)).toBe(4);
    await refused(await send("GET", "/api/v1/posts/no-such-post/comments", null), 404, "not-found");
  });
});

describe("DELETE /api/v1/comments/:id", () => {
  it("lets the comment's author, the post's author and an admin delete (replies and likes go with it); others 403", async () => {
    const [ana, bob, cy, adm] = await people(4);
    if (!ana || !bob || !cy || !adm) throw new Error("fixtures");
    const post = await createPost(ana.token);
    const top = await createComment(bob.token, post.id);
    const reply = await createComment(cy.token, post.id, { text: "re", parentId: top.id });
    expect((await send("PUT", `/api/v1/comments/${reply.id}/like`, ana.token)).status).toBe(200);
    await refused(await send("DELETE", `/api/v1/comments/${top.id}`, cy.token), 403, "forbidden");

    // The comment's author: the reply and its like go too.
    expect((await send("DELETE", `/api/v1/comments/${top.id}`, bob.token)).status).toBe(204);
    expect(await countRows("comments", "post_id = ?", post.id)).toBe(0);
    expect(await countRows("comment_likes", "comment_id = ?", reply.id)).toBe(0);
    expect(await countRows("notifications", "comment_id IN (?, ?)", top.id, reply.id)).toBe(0);
    expect(await commentCount(post.id)).toBe(0);
    await refused(await send("DELETE", `/api/v1/comments/${top.id}`, bob.token), 404, "not-found");

    // The post's author.
    const second = await createComment(bob.token, post.id);
    expect((await send("DELETE", `/api/v1/comments/${second.id}`, ana.token)).status).toBe(204);
    // An admin.
    const third = await createComment(bob.token, post.id);
    await env.DB.prepare("UPDATE users SET roles = ? WHERE id = ?").bind('["attendee","admin"]', adm.id).run();
    const admin = await login(adm.email);
    expect((await send("DELETE", `/api/v1/comments/${third.id}`, admin.accessToken)).status).toBe(204);
    expect(await countRows("comments", "post_id = ?", post.id)).toBe(0);
    expect(await commentCount(post.id)).toBe(0);
  });
});

describe("comment likes", () => {
  it("40 users liking a comment twice at once: 40 likes; unliking twice at once: 0; its author notified once each", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const fans = await people(40);
    const post = await createPost(ana.token);
    const comment = await createComment(bob.token, post.id);
    const like = (method: string, token: string) => send(method, `/api/v1/comments/${comment.id}/like`, token);

    const puts = await Promise.all(fans.flatMap((f) => [f, f]).map((f) => like("PUT", f.token)));
    const bodies = await Promise.all(
      puts.map(async (r) => ({ status: r.status, ...((await r.json()) as { active: boolean; likeCount: number }) })),
    );
    expect(bodies.every((b) => b.status === 200 && b.active)).toBe(true);
    expect(await countRows("comment_likes", "comment_id = ?", comment.id)).toBe(40);
    expect(await rows("SELECT like_count FROM comments WHERE id = ?", comment.id)).toEqual([{ like_count: 40 }]);
    expect(await countRows("notifications", "comment_id = ? AND kind = 'comment_like'", comment.id)).toBe(40);

    const deletes = await Promise.all(fans.flatMap((f) => [f, f]).map((f) => like("DELETE", f.token)));
    expect(deletes.every((r) => r.status === 200)).toBe(true);
    expect(await like("DELETE", bob.token).then((r) => r.json())).toEqual({ active: false, likeCount: 0 });
    expect(await countRows("comment_likes", "comment_id = ?", comment.id)).toBe(0);
    expect(await countRows("notifications", "comment_id = ? AND kind = 'comment_like'", comment.id)).toBe(0);
    expect(await like("PUT", bob.token).then((r) => r.json())).toEqual({ active: true, likeCount: 1 });
    await refused(await like("PUT", ""), 401, "unauthorized");
    await refused(await send("PUT", "/api/v1/comments/no-such/like", bob.token), 404, "not-found");
  }, 60_000);
});
