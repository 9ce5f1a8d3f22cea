/**
 * GET /api/v1/posts/:id/live: a public WebSocket served by the post's PostLive object, sending
 * { likes, comments, reposts } on connect and after each change reported with postChanged, coalesced,
 * and always ending on the stored counts.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PostLive } from "../../../durable-objects/post-live";
import { postChanged } from "../../../src/features/social";
import { call, freshIp, problemOf } from "../../helpers";
import { captureLogs } from "../../support/logs";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";
import { lastOf, livePost, liveUser, openPostLive, storedCounts, storeLike } from "./live-helpers";

describe("post live counts", () => {
  it("sends the stored counts on connect, then the new count after a like", async () => {
    const author = await liveUser();
    const postId = await livePost(author);
    await storeLike(postId, await liveUser());
    const live = await openPostLive(postId);
    await live.until((m) => m.length >= 1, "the first message");
    expect(live.messages[0]).toEqual({ likes: 1, comments: 0, reposts: 0 });

    await storeLike(postId, await liveUser());
    await postChanged(env, postId);
    await live.until((m) => lastOf(m).likes === 2, "the like");
    expect(lastOf(live.messages)).toEqual({ likes: 2, comments: 0, reposts: 0 });
    live.ws.close(1000, "done");
  });

  it("a like through PUT /api/v1/posts/:id/like reaches the socket, and so does the unlike", async () => {
    const postId = await livePost(await liveUser());
    const live = await openPostLive(postId);
    await live.until((m) => m.length >= 1, "the first message");
    const [fan] = await buyers(1);
    if (!fan) throw new Error("no fan");
    const liked = await call(`/api/v1/posts/${postId}/like`, { method: "PUT", headers: bearer(fan.token) });
    expect(liked.status).toBe(200);
    await live.until((m) => lastOf(m).likes === 1, "the like");
    const unliked = await call(`/api/v1/posts/${postId}/like`, { method: "DELETE", headers: bearer(fan.token) });
    expect(unliked.status).toBe(200);
    await live.until((m) => lastOf(m).likes === 0, "the unlike");
    expect(lastOf(live.messages)).toEqual(await storedCounts(postId));
    live.ws.close(1000, "done");
  });

  it("is public: no session needed, and several watchers each get the change", async () => {
    const postId = await livePost(await liveUser());
    const watchers = await Promise.all([openPostLive(postId), openPostLive(postId), openPostLive(postId)]);
    for (const w of watchers) await w.until((m) => m.length >= 1, "the first message");
    await env.DB.prepare("INSERT INTO comments (id, post_id, author_id, text, created_at) VALUES (?, ?, ?, 'hi', 1)")
      .bind(`c-${crypto.randomUUID()}`, postId, await liveUser())
      .run();
    await postChanged(env, postId);
    for (const w of watchers) {
      await w.until((m) => lastOf(m).comments === 1, "the comment");
      w.ws.close(1000, "done");
    }
  });

  it("20 rapid changes reach a watcher as fewer messages, the last equal to the stored counts", async () => {
    const postId = await livePost(await liveUser());
    const fans = await Promise.all(Array.from({ length: 20 }, () => liveUser()));
    const live = await openPostLive(postId);
    await live.until((m) => m.length >= 1, "the first message");

    // Each change stored and reported before the next, as 20 likes in a row arrive.
    for (const fan of fans) {
      await storeLike(postId, fan);
      await postChanged(env, postId);
    }
    await live.until((m) => lastOf(m).likes === 20, "all 20 likes");
    // Let any trailing broadcast land before counting.
    await new Promise((r) => setTimeout(r, 400));
    expect(live.messages.length - 1).toBeLessThan(20);
    expect(lastOf(live.messages)).toEqual(await storedCounts(postId));
    const likes = live.messages.map((m) => m.likes);
    expect(likes).toEqual([...likes].sort((a, b) => a - b));
    live.ws.close(1000, "done");
  });

  it("20 concurrent changes also converge to the stored counts", async () => {
    const postId = await livePost(await liveUser());
    const fans = await Promise.all(Array.from({ length: 20 }, () => liveUser()));
    const live = await openPostLive(postId);
    await live.until((m) => m.length >= 1, "the first message");
    await Promise.all(
      fans.map(async (fan) => {
        await storeLike(postId, fan);
        await postChanged(env, postId);
      }),
    );
    await live.until((m) => lastOf(m).likes === 20, "all 20 likes");
    expect(live.messages.length - 1).toBeLessThan(20);
    expect(lastOf(live.messages)).toEqual(await storedCounts(postId));
    live.ws.close(1000, "done");
  });

  it("answers 429 past the per-address cap and 503 past the post's, as problems, opening nothing", async () => {
    const postId = await livePost(await liveUser());
    const stub = env.POST_LIVE.getByName(postId);
    await runInDurableObject(stub, (instance: PostLive) => {
      instance.caps = { total: 2, perAddress: 1 };
    });
    const ip = freshIp();
    const first = await openPostLive(postId, { ip });
    const crowded = await call(`/api/v1/posts/${postId}/live`, {
      headers: { Upgrade: "websocket" },
      ip,
    });
    expect(crowded.status).toBe(429);
    expect((await problemOf(crowded)).type).toMatch(/rate-limited$/);
    expect(crowded.headers.get("Retry-After")).toBe("60");
    const second = await openPostLive(postId, { ip: freshIp() });
    const full = await call(`/api/v1/posts/${postId}/live`, { headers: { Upgrade: "websocket" }, ip: freshIp() });
    expect(full.status).toBe(503);
    expect((await problemOf(full)).type).toMatch(/unavailable$/);
    expect(await stub.viewers()).toBe(2);
    first.ws.close(1000, "done");
    second.ws.close(1000, "done");
  });

  it("answers 426 without an Upgrade header, and opens no socket", async () => {
    const postId = await livePost(await liveUser());
    const res = await call(`/api/v1/posts/${postId}/live`);
    expect(res.status).toBe(426);
    expect((await problemOf(res)).type).toMatch(/upgrade-required$/);
  });

  it("answers 404 for a missing post and for a removed one", async () => {
    const missing = await call(`/api/v1/posts/p-nothing-here/live`, { headers: { Upgrade: "websocket" } });
    expect(missing.status).toBe(404);
    expect((await problemOf(missing)).type).toMatch(/not-found$/);

    const postId = await livePost(await liveUser());
    await env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(postId).run();
    const removed = await call(`/api/v1/posts/${postId}/live`, { headers: { Upgrade: "websocket" } });
    expect(removed.status).toBe(404);
  });

  it("closes the watchers' sockets when the post is removed", async () => {
    const postId = await livePost(await liveUser());
    const live = await openPostLive(postId);
    await live.until((m) => m.length >= 1, "the first message");
    await env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(postId).run();
    await postChanged(env, postId);
    expect(await live.closing()).toEqual({ code: 4404, reason: "post removed" });
  });

  it("postChanged never throws: a post nobody watches costs nothing, a failing object is logged", async () => {
    await expect(postChanged(env, "p-unwatched")).resolves.toBeUndefined();
    const logs = captureLogs();
    const broken = {
      ...env,
      POST_LIVE: {
        getByName: () => {
          throw new Error("object unreachable");
        },
      },
    } as unknown as Env;
    await expect(postChanged(broken, "p-any")).resolves.toBeUndefined();
    expect(logs.entries("post live: change not delivered", "error")).toMatchObject([{ postId: "p-any" }]);
  });
});
