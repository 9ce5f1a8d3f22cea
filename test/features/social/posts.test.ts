/**
 * Posts through the Worker: what is stored for a post (text normalised, media in order, event, mention
 * notifications), what is refused and leaves nothing behind, the per-user rate limit at its boundary,
 * reads hidden by blocks and removal, deletion rights, a user's posts page by page, and bookmarks.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createPost as createPostRow, isForeignKeyError, POST_MEDIA_MAX } from "../../../src/features/social/posts";
import { SOCIAL_MEDIA_URL_SECONDS } from "../../../src/features/social/present";
import { DomainError } from "../../../src/lib/errors";
import { problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { createEvent, hostWithToken } from "../events/helpers";
import { type ApiPost, block, createPost, mediaFor, people, person, react, send } from "./posts-helpers";

async function postsOf(authorId: string) {
  return rows<{ id: string; text: string; event_id: string | null }>(
    "SELECT id, text, event_id FROM posts WHERE author_id = ? ORDER BY created_at",
    authorId,
  );
}

async function refused(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

describe("POST /api/v1/posts", () => {
  it("stores the post and answers the contract's Post, counted on the author's profile", async () => {
    const ana = await person();
    const res = await send("POST", "/api/v1/posts", ana.token, { text: "Hello, city" });
    expect(res.status).toBe(201);
    const post = (await res.json()) as ApiPost;
    expect(post).toMatchObject({
      author: { id: ana.id, name: "Test User", handle: null, avatarUrl: null },
      text: "Hello, city",
      media: [],
      eventId: null,
      counts: { likes: 0, comments: 0, reposts: 0, bookmarks: 0 },
      viewer: { liked: false, bookmarked: false, reposted: false },
    });
    expect(new Date(post.createdAt).toISOString()).toBe(post.createdAt);
    expect(await postsOf(ana.id)).toEqual([{ id: post.id, text: "Hello, city", event_id: null }]);
    expect(await rows("SELECT posts_count FROM profiles WHERE user_id = ?", ana.id)).toEqual([{ posts_count: 1 }]);

    const anonymous = await send("GET", `/api/v1/posts/${post.id}`, null);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.json()).toEqual(post);
  });

  it("normalises the text: NFC, line breaks kept as \\n, control characters stripped, trimmed", async () => {
    const ana = await person();
    const post = await createPost(ana.token, { text: "  Cafe\u0301\u0000 night\r\nline\rtwo\u0007\u009f\u200b!\t " });
    expect(post.text).toBe("Café night\nline\ntwo\u200b!");
    expect((await postsOf(ana.id))[0]?.text).toBe("Café night\nline\ntwo\u200b!");
  });

  it("takes exactly 2,000 characters (counted as code points) and refuses 2,001 with nothing stored", async () => {
    const ana = await person();
    const at = await createPost(ana.token, { text: "a".repeat(2_000) });
    expect(at.text).toHaveLength(2_000);
    // 2,000 emoji are 4,000 UTF-16 units and still 2,000 characters.
    const emoji = await createPost(ana.token, { text: "🎉".repeat(2_000) });
    expect([...emoji.text]).toHaveLength(2_000);
    // Control characters do not count: they are gone before counting.
    await createPost(ana.token, { text: `${"b".repeat(2_000)}\u0000\u0001` });

    const over = await send("POST", "/api/v1/posts", ana.token, { text: "c".repeat(2_001) });
    await refused(over, 400, "validation-failed");
    const overEmoji = await send("POST", "/api/v1/posts", ana.token, { text: "🎉".repeat(2_001) });
    await refused(overEmoji, 400, "validation-failed");
    expect(await postsOf(ana.id)).toHaveLength(3);
  });

  it("refuses empty text (or only control characters and spaces) without media, and takes it with media", async () => {
    const ana = await person();
    await refused(await send("POST", "/api/v1/posts", ana.token, { text: "" }), 400, "validation-failed");
    await refused(await send("POST", "/api/v1/posts", ana.token, { text: " \u0000\n\t " }), 400, "validation-failed");
    await refused(await send("POST", "/api/v1/posts", ana.token, {}), 400, "validation-failed");
    expect(await postsOf(ana.id)).toHaveLength(0);
    const image = await mediaFor(ana.id);
    const post = await createPost(ana.token, { text: "", mediaIds: [image] });
    expect(post.media.map((m) => m.id)).toEqual([image]);
  });

  it("carries up to 4 of the author's images in order, with URLs signed for at least an hour", async () => {
    const ana = await person();
    const ids = [
      await mediaFor(ana.id, "post"),
      await mediaFor(ana.id, "avatar", "public"),
      await mediaFor(ana.id, "event_cover"),
      await mediaFor(ana.id, "post"),
    ];
    const before = Math.floor(Date.now() / 1000);
    const post = await createPost(ana.token, { text: "four", mediaIds: ids });
    expect(post.media.map((m) => m.id)).toEqual(ids);
    expect(post.media.every((m) => m.width === 640 && m.height === 480)).toBe(true);
    for (const m of post.media) {
      const url = new URL(m.url);
      expect(url.pathname).toBe(`/media/${m.id}`);
      expect(Number(url.searchParams.get("exp"))).toBeGreaterThanOrEqual(before + SOCIAL_MEDIA_URL_SECONDS);
      expect(url.searchParams.get("sig")).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(await rows("SELECT media_id FROM post_media WHERE post_id = ? ORDER BY position", post.id)).toEqual(
      ids.map((media_id) => ({ media_id })),
    );
    // The reader sees the same order.
    const read = (await (await send("GET", `/api/v1/posts/${post.id}`, null)).json()) as ApiPost;
    expect(read.media.map((m) => m.id)).toEqual(ids);
  });

  it("refuses 5 images (400), someone else's image, a document or an unknown id (422), storing nothing", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const five = await Promise.all([1, 2, 3, 4, 5].map(() => mediaFor(ana.id)));
    await refused(
      await send("POST", "/api/v1/posts", ana.token, { text: "x", mediaIds: five }),
      400,
      "validation-failed",
    );
    const bobs = await mediaFor(bob.id);
    const doc = await mediaFor(ana.id, "document");
    const mine = await mediaFor(ana.id);
    for (const mediaIds of [[mine, bobs], [doc], ["no-such-media"]]) {
      await refused(await send("POST", "/api/v1/posts", ana.token, { text: "x", mediaIds }), 422, "invalid-media");
    }
    await refused(
      await send("POST", "/api/v1/posts", ana.token, { text: "x", mediaIds: [mine, mine] }),
      400,
      "validation-failed",
    );
    expect(await postsOf(ana.id)).toHaveLength(0);
    expect(await countRows("post_media", "media_id IN (?, ?, ?)", mine, bobs, doc)).toBe(0);
  });

  it("names a published event; a draft or an unknown event is 422 invalid-event with nothing stored", async () => {
    const host = await hostWithToken();
    const published = await createEvent(host.token);
    const draft = await createEvent(host.token, {}, false);
    const ana = await person();
    const post = await createPost(ana.token, { text: "see you there", eventId: published.id });
    expect(post.eventId).toBe(published.id);
    for (const eventId of [draft.id, "no-such-event"]) {
      await refused(await send("POST", "/api/v1/posts", ana.token, { text: "x", eventId }), 422, "invalid-event");
    }
    expect(await postsOf(ana.id)).toEqual([{ id: post.id, text: "see you there", event_id: published.id }]);
  });

  it("notifies the users it @mentions (not the author, not someone blocking them)", async () => {
    const [ana, bob, cy, dee] = await people(4);
    if (!ana || !bob || !cy || !dee) throw new Error("fixtures");
    const suffix = ana.id.slice(0, 8).toLowerCase();
    for (const [who, handle] of [
      [ana, `ana${suffix}`],
      [bob, `bob${suffix}`],
      [cy, `cy${suffix}`],
    ] as const) {
      await env.DB.prepare("UPDATE profiles SET handle = ?, handle_key = ? WHERE user_id = ?")
        .bind(handle, handle, who.id)
        .run();
    }
    await block(cy.id, ana.id);
    const post = await createPost(ana.token, { text: `hi @bob${suffix} @ANA${suffix} @cy${suffix} @nobody${suffix}` });
    const notes = await rows<{ user_id: string; kind: string; actor_id: string }>(
      "SELECT user_id, kind, actor_id FROM notifications WHERE post_id = ?",
      post.id,
    );
    expect(notes).toEqual([{ user_id: bob.id, kind: "mention", actor_id: ana.id }]);
  });

  it("honours Idempotency-Key: a retry answers the first post and stores no second", async () => {
    const ana = await person();
    const headers = { "Idempotency-Key": crypto.randomUUID() };
    const first = await send("POST", "/api/v1/posts", ana.token, { text: "once" }, headers);
    const again = await send("POST", "/api/v1/posts", ana.token, { text: "once" }, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(((await again.json()) as ApiPost).id).toBe(((await first.json()) as ApiPost).id);
    expect(await postsOf(ana.id)).toHaveLength(1);
  });

  it("limits each user to 10 posts per 5 minutes: the 11th is 429 with Retry-After and stores nothing", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    for (let i = 1; i <= 10; i++) {
      expect((await send("POST", "/api/v1/posts", ana.token, { text: `post ${i}` })).status).toBe(201);
    }
    const eleventh = await send("POST", "/api/v1/posts", ana.token, { text: "post 11" });
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(codeOf(await problemOf(eleventh))).toBe("rate-limited");
    expect(await postsOf(ana.id)).toHaveLength(10);
    expect(await rows("SELECT posts_count FROM profiles WHERE user_id = ?", ana.id)).toEqual([{ posts_count: 10 }]);
    // Per user: someone else still posts.
    expect((await send("POST", "/api/v1/posts", bob.token, { text: "mine" })).status).toBe(201);
  });

  it("requires a signed-in user", async () => {
    await refused(await send("POST", "/api/v1/posts", null, { text: "x" }), 401, "unauthorized");
  });
});

describe("createPost itself (not only behind the route's schema)", () => {
  it(`refuses more than ${POST_MEDIA_MAX} images as validation-failed on mediaIds, storing nothing`, async () => {
    const author = await person();
    const media = await Promise.all(Array.from({ length: POST_MEDIA_MAX + 1 }, () => mediaFor(author.id)));
    const refused = await createPostRow(env.DB, { id: author.id, roles: [] }, { text: "five", mediaIds: media }).then(
      () => null,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DomainError);
    expect(refused).toMatchObject({ code: "validation-failed", extensions: { errors: [{ path: "mediaIds" }] } });
    expect(await postsOf(author.id)).toEqual([]);
  });

  it("recognises D1's foreign-key failure (an image or event gone meanwhile), and nothing else", async () => {
    const fkError = await env.DB.prepare("INSERT INTO post_media (post_id, position, media_id) VALUES (?, 0, ?)")
      .bind("no-such-post", "no-such-media")
      .run()
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(fkError).toBeInstanceOf(Error);
    expect(isForeignKeyError(fkError)).toBe(true);
    expect(isForeignKeyError(new Error("UNIQUE constraint failed: posts.id"))).toBe(false);
    expect(isForeignKeyError("FOREIGN KEY constraint failed")).toBe(false);
    expect(await countRows("post_media", "post_id = ?", "no-such-post")).toBe(0);
  });
});

describe("GET /api/v1/posts/:id", () => {
  it("is 404 for a missing post, a removed one, and when the author and the viewer block each other", async () => {
    const [ana, bob, cy] = await people(3);
    if (!ana || !bob || !cy) throw new Error("fixtures");
    await refused(await send("GET", "/api/v1/posts/no-such-post", null), 404, "not-found");

    const post = await createPost(ana.token, { text: "visible?" });
    // Ana blocks Bob: Bob no longer sees her post; Cy blocks Ana: Cy does not see it either.
    await block(ana.id, bob.id);
    await block(cy.id, ana.id);
    await refused(await send("GET", `/api/v1/posts/${post.id}`, bob.token), 404, "not-found");
    await refused(await send("GET", `/api/v1/posts/${post.id}`, cy.token), 404, "not-found");
    await refused(await send("PUT", `/api/v1/posts/${post.id}/like`, bob.token), 404, "not-found");
    await refused(await send("GET", `/api/v1/users/${ana.id}/posts`, bob.token), 404, "not-found");
    expect((await send("GET", `/api/v1/posts/${post.id}`, null)).status).toBe(200);
    expect((await send("GET", `/api/v1/posts/${post.id}`, ana.token)).status).toBe(200);
    expect(await countRows("post_likes", "post_id = ?", post.id)).toBe(0);

    await env.DB.prepare("UPDATE posts SET removed_at = ? WHERE id = ?").bind(Date.now(), post.id).run();
    await refused(await send("GET", `/api/v1/posts/${post.id}`, null), 404, "not-found");
  });

  it("shows the viewer's own flags", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    await react("PUT", post.id, "like", bob.token);
    await react("PUT", post.id, "bookmark", bob.token);
    const forBob = (await (await send("GET", `/api/v1/posts/${post.id}`, bob.token)).json()) as ApiPost;
    expect(forBob.viewer).toEqual({ liked: true, bookmarked: true, reposted: false });
    expect(forBob.counts).toEqual({ likes: 1, comments: 0, reposts: 0, bookmarks: 1 });
    const forAna = (await (await send("GET", `/api/v1/posts/${post.id}`, ana.token)).json()) as ApiPost;
    expect(forAna.viewer).toEqual({ liked: false, bookmarked: false, reposted: false });
  });
});

describe("DELETE /api/v1/posts/:id", () => {
  it("lets the author and an admin delete; others get 403, a missing post 404", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const post = await createPost(ana.token);
    await refused(await send("DELETE", `/api/v1/posts/${post.id}`, bob.token), 403, "forbidden");
    expect(await postsOf(ana.id)).toHaveLength(1);
    expect((await send("DELETE", `/api/v1/posts/${post.id}`, ana.token)).status).toBe(204);
    expect(await postsOf(ana.id)).toHaveLength(0);
    await refused(await send("DELETE", `/api/v1/posts/${post.id}`, ana.token), 404, "not-found");

    const second = await createPost(ana.token);
    await env.DB.prepare("UPDATE users SET roles = ? WHERE id = ?").bind('["attendee","admin"]', bob.id).run();
    const { login } = await import("../auth/helpers");
    const admin = await login(bob.email);
    expect((await send("DELETE", `/api/v1/posts/${second.id}`, admin.accessToken)).status).toBe(204);
    expect(await rows("SELECT posts_count FROM profiles WHERE user_id = ?", ana.id)).toEqual([{ posts_count: 0 }]);
  });
});

describe("lists", () => {
  it("GET /users/:id/posts pages newest first with a cursor, leaving out removed posts", async () => {
    const ana = await person();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) made.push((await createPost(ana.token, { text: `p${i}` })).id);
    await env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(made[2]).run();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const res = await send("GET", `/api/v1/users/${ana.id}/posts${query}`, null);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: ApiPost[]; nextCursor: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((p) => p.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([made[4], made[3], made[1], made[0]]);
    await refused(await send("GET", `/api/v1/users/${ana.id}/posts?cursor=garbage!`, null), 400, "validation-failed");
    await refused(await send("GET", "/api/v1/users/no-such-user/posts", null), 404, "not-found");
  });

  it("GET /me/bookmarks lists bookmarked posts, newest bookmark first, with a cursor", async () => {
    const [ana, bob] = await people(2);
    if (!ana || !bob) throw new Error("fixtures");
    const posts = [];
    for (let i = 0; i < 3; i++) posts.push(await createPost(ana.token, { text: `b${i}` }));
    for (const p of [posts[1], posts[0], posts[2]]) {
      if (p) await react("PUT", p.id, "bookmark", bob.token);
      await new Promise((r) => setTimeout(r, 5));
    }
    const first = (await (await send("GET", "/api/v1/me/bookmarks?limit=2", bob.token)).json()) as {
      items: ApiPost[];
      nextCursor: string | null;
    };
    expect(first.items.map((p) => p.id)).toEqual([posts[2]?.id, posts[0]?.id]);
    expect(first.items.every((p) => p.viewer.bookmarked)).toBe(true);
    const second = (await (
      await send("GET", `/api/v1/me/bookmarks?limit=2&cursor=${first.nextCursor}`, bob.token)
    ).json()) as { items: ApiPost[]; nextCursor: string | null };
    expect(second.items.map((p) => p.id)).toEqual([posts[1]?.id]);
    expect(second.nextCursor).toBeNull();
    await refused(await send("GET", "/api/v1/me/bookmarks", null), 401, "unauthorized");
  });
});

describe("OpenAPI", () => {
  it("documents every posts, comments and reactions route with the Post and Comment schemas", async () => {
    const doc = (await (await send("GET", "/openapi.json", null)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    const expected: [string, string[]][] = [
      ["/api/v1/posts", ["post"]],
      ["/api/v1/posts/{id}", ["get", "delete"]],
      ["/api/v1/posts/{id}/like", ["put", "delete"]],
      ["/api/v1/posts/{id}/bookmark", ["put", "delete"]],
      ["/api/v1/posts/{id}/repost", ["put", "delete"]],
      ["/api/v1/posts/{id}/comments", ["get", "post"]],
      ["/api/v1/comments/{id}", ["delete"]],
      ["/api/v1/comments/{id}/like", ["put", "delete"]],
      ["/api/v1/users/{id}/posts", ["get"]],
      ["/api/v1/me/bookmarks", ["get"]],
    ];
    for (const [path, methods] of expected) {
      expect(Object.keys(doc.paths[path] ?? {}), path).toEqual(expect.arrayContaining(methods));
    }
    expect(doc.components.schemas).toHaveProperty("Post");
    expect(doc.components.schemas).toHaveProperty("Comment");
  });
});
