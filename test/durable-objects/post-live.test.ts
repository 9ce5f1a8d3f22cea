/**
 * PostLive below the Worker: the object accepts sockets on the Hibernation API, answers only its one
 * internal address, caps sockets per post and per address at their boundary, closes a socket that
 * talks, and reads counts from D1 (a read failure is logged, never thrown to the caller).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { POST_LIVE_URL, type PostLive, socketRefusal } from "../../durable-objects/post-live";
import { LIMITS } from "../../src/config/limits";
import { lastOf, livePost, liveUser, readSocket, storeLike } from "../features/social/live-helpers";
import { captureLogs } from "../support/logs";

const stub = (postId: string) => env.POST_LIVE.getByName(postId);

function upgrade(postId: string, addr = "a1", init: RequestInit = {}) {
  return stub(postId).fetch(`${POST_LIVE_URL}?post=${encodeURIComponent(postId)}&addr=${addr}`, {
    headers: { Upgrade: "websocket" },
    ...init,
  });
}

/** Lowers the object's caps (opening 5,000 sockets in a test proves nothing more than opening 3). */
async function capAt(postId: string, total: number, perAddress: number) {
  await runInDurableObject(stub(postId), (instance: PostLive) => {
    instance.caps = { total, perAddress };
  });
}

describe("socketRefusal", () => {
  it("admits up to the caps and refuses at them", () => {
    const caps = { total: LIMITS.postLiveMaxSockets, perAddress: LIMITS.postLivePerAddress };
    expect(socketRefusal(LIMITS.postLiveMaxSockets - 1, 0, caps)).toBeNull();
    expect(socketRefusal(LIMITS.postLiveMaxSockets, 0, caps)).toBe("full");
    expect(socketRefusal(0, LIMITS.postLivePerAddress - 1, caps)).toBeNull();
    expect(socketRefusal(0, LIMITS.postLivePerAddress, caps)).toBe("address");
  });

  it("uses 5,000 sockets per post and 100 per address", () => {
    expect(LIMITS.postLiveMaxSockets).toBe(5000);
    expect(LIMITS.postLivePerAddress).toBe(100);
  });
});

describe("PostLive", () => {
  it("holds its sockets through the Hibernation API, tagged by address", async () => {
    const postId = await livePost(await liveUser());
    const live = readSocket(await upgrade(postId, "abc"));
    await live.until((m) => m.length >= 1, "the first message");
    const tags = await runInDurableObject(stub(postId), (_instance, state) =>
      state.getWebSockets("live").map((ws) => state.getTags(ws)),
    );
    expect(tags).toEqual([["live", "addr:abc"]]);
    expect(await stub(postId).viewers()).toBe(1);
    live.ws.close(1000, "done");
  });

  it("answers only upgrades to its own address", async () => {
    const postId = await livePost(await liveUser());
    expect((await stub(postId).fetch(`${POST_LIVE_URL}?post=${postId}`)).status).toBe(404);
    expect(
      (
        await stub(postId).fetch(`https://elsewhere.internal/live?post=${postId}`, {
          headers: { Upgrade: "websocket" },
        })
      ).status,
    ).toBe(404);
    expect((await stub(postId).fetch(POST_LIVE_URL, { headers: { Upgrade: "websocket" } })).status).toBe(404);
  });

  it("refuses the socket over the per-address cap (429) and over the post's cap (503), admitting others", async () => {
    const postId = await livePost(await liveUser());
    await capAt(postId, 3, 2);
    const a1 = readSocket(await upgrade(postId, "a"));
    const a2 = readSocket(await upgrade(postId, "a"));
    expect((await upgrade(postId, "a")).status).toBe(429);
    const b1 = readSocket(await upgrade(postId, "b"));
    expect((await upgrade(postId, "c")).status).toBe(503);
    // A closed socket gives its place back.
    a1.ws.close(1000, "done");
    await a1.closing().catch(() => undefined);
    await expect.poll(() => stub(postId).viewers()).toBe(2);
    const a3 = readSocket(await upgrade(postId, "a"));
    for (const s of [a2, b1, a3]) s.ws.close(1000, "done");
  });

  it("accepts concurrent upgrades only up to the cap", async () => {
    const postId = await livePost(await liveUser());
    await capAt(postId, 5, 100);
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => upgrade(postId, `x${i}`)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 101)).toHaveLength(5);
    expect(statuses.filter((s) => s === 503)).toHaveLength(7);
    expect(await stub(postId).viewers()).toBe(5);
    for (const r of answers) if (r.webSocket) readSocket(r).ws.close(1000, "done");
  });

  it("answers ping with pong, and closes a socket that sends anything else (watchers only listen)", async () => {
    const postId = await livePost(await liveUser());
    const live = readSocket(await upgrade(postId));
    await live.until((m) => m.length >= 1, "the first message");
    live.ws.send("ping");
    await expect.poll(() => live.pongs.length).toBe(1);
    expect(await stub(postId).viewers()).toBe(1);
    live.ws.send("hello");
    expect((await live.closing()).code).toBe(1008);
  });

  it("sends nothing new when a change leaves the counts as they were", async () => {
    const postId = await livePost(await liveUser());
    const live = readSocket(await upgrade(postId));
    await live.until((m) => m.length >= 1, "the first message");
    await stub(postId).changed(postId);
    await new Promise((r) => setTimeout(r, 400));
    await stub(postId).changed(postId);
    await new Promise((r) => setTimeout(r, 400));
    expect(live.messages).toEqual([{ likes: 0, comments: 0, reposts: 0 }]);
    live.ws.close(1000, "done");
  });

  it("logs a D1 failure on a change and converges on the next change", async () => {
    const postId = await livePost(await liveUser());
    const live = readSocket(await upgrade(postId));
    await live.until((m) => m.length >= 1, "the first message");
    const logs = captureLogs();
    await runInDurableObject(stub(postId), async (instance: PostLive) => {
      const real = (instance as unknown as { env: Env }).env;
      (instance as unknown as { env: Env }).env = {
        ...real,
        DB: {
          prepare: () => {
            throw new Error("D1 down");
          },
        } as unknown as D1Database,
      };
      await instance.changed(postId);
      (instance as unknown as { env: Env }).env = real;
    });
    expect(logs.entries("post live: counts unreadable", "error")).toMatchObject([{ postId }]);
    await storeLike(postId, await liveUser());
    await new Promise((r) => setTimeout(r, LIMITS.liveCoalesceMs));
    await stub(postId).changed(postId);
    await live.until((m) => lastOf(m).likes === 1, "the like");
    live.ws.close(1000, "done");
  });

  it("answers 503 when D1 cannot be read on connect", async () => {
    const postId = await livePost(await liveUser());
    const logs = captureLogs();
    await runInDurableObject(stub(postId), async (instance: PostLive) => {
      const self = instance as unknown as { env: Env };
      const real = self.env;
      const down = {
        prepare: () => {
          throw new Error("D1 down");
        },
      };
      self.env = { ...real, DB: down as unknown as D1Database };
      try {
        const res = await instance.fetch(
          new Request(`${POST_LIVE_URL}?post=${postId}&addr=a`, { headers: { Upgrade: "websocket" } }),
        );
        expect(res.status).toBe(503);
      } finally {
        self.env = real;
      }
    });
    expect(logs.entries("post live: counts unreadable on connect", "error")).toHaveLength(1);
  });
});
