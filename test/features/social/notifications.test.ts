/**
 * The notification list, unread count and "mark read": grouped items ("Ana and 2 others liked your
 * post") newest first with a keyset cursor, nothing from either side of a block, nothing about removed
 * content, an unread count that agrees with the list, and read marks up to an id.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type NewNotification, notificationInsert, summaryOf } from "../../../src/features/social/notifications";
import { codeOfResponse, rows } from "../../support/db";
import { type Person, people, send } from "./posts-helpers";

interface Item {
  id: number;
  kind: string;
  actor: { id: string; name: string; handle: string | null; avatarUrl: string | null } | null;
  actorCount: number;
  summary: string;
  subject: { postId?: string; commentId?: string; orderId?: string };
  read: boolean;
  createdAt: string;
}
interface Page {
  items: Item[];
  nextCursor: string | null;
}

async function named(count: number, names: string[] = []): Promise<Person[]> {
  const list = await people(count);
  for (const [i, name] of names.entries()) {
    await env.DB.prepare("UPDATE users SET name = ? WHERE id = ?").bind(name, list[i]?.id).run();
  }
  return list;
}

async function post(authorId: string): Promise<string> {
  const id = `p-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, 'hi', ?)")
    .bind(id, authorId, Date.now())
    .run();
  return id;
}

let clock = 1_700_000_000_000;
const notify = (n: Omit<NewNotification, "at">) => env.DB.batch([notificationInsert(env.DB, { ...n, at: ++clock })]);

async function list(token: string, query = ""): Promise<Page> {
  const res = await send("GET", `/api/v1/me/notifications${query}`, token);
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

async function unread(token: string): Promise<number> {
  const res = await send("GET", "/api/v1/me/notifications/unread-count", token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { count: number }).count;
}

describe("GET /api/v1/me/notifications", () => {
  it("groups a post's likes into one item with the latest actor and how many others", async () => {
    const [author, ana, ben, cy] = await named(4, ["Author", "Cy", "Ben", "Ana"]);
    const postId = await post(author!.id);
    for (const fan of [ana!, ben!, cy!])
      await notify({ recipientId: author!.id, actorId: fan.id, kind: "like", postId });
    await notify({ recipientId: author!.id, actorId: ben!.id, kind: "follow" });

    const page = await list(author!.token);
    expect(page.nextCursor).toBeNull();
    expect(page.items.map((i) => [i.kind, i.summary, i.actorCount])).toEqual([
      ["follow", "Ben started following you", 1],
      ["like", "Ana and 2 others liked your post", 3],
    ]);
    const like = page.items[1]!;
    expect(like.actor).toEqual({ id: cy!.id, name: "Ana", handle: null, avatarUrl: null });
    expect(like.subject).toEqual({ postId });
    expect(like.read).toBe(false);
    expect(Date.parse(like.createdAt)).toBe(clock - 1);
    expect(await unread(author!.token)).toBe(2);

    // One more like makes the group the newest again; "1 other" in the singular.
    const [, solo] = await named(2, ["", "Dee"]);
    const other = await post(author!.id);
    await notify({ recipientId: author!.id, actorId: solo!.id, kind: "like", postId: other });
    await notify({ recipientId: author!.id, actorId: ana!.id, kind: "like", postId: other });
    expect((await list(author!.token)).items[0]!.summary).toBe("Cy and 1 other liked your post");
  });

  it("notifies a mention once per post or comment however often it is written, and says where", async () => {
    const [me, ana] = await named(2, ["Me", "Ana"]);
    const postId = await post(ana!.id);
    const commentId = `c-${crypto.randomUUID()}`;
    await env.DB.prepare("INSERT INTO comments (id, post_id, author_id, text, created_at) VALUES (?, ?, ?, 'hi', 1)")
      .bind(commentId, postId, ana!.id)
      .run();
    await notify({ recipientId: me!.id, actorId: ana!.id, kind: "mention", postId });
    await notify({ recipientId: me!.id, actorId: ana!.id, kind: "mention", postId });
    await notify({ recipientId: me!.id, actorId: ana!.id, kind: "mention", postId, commentId });
    await notify({ recipientId: me!.id, actorId: ana!.id, kind: "mention", postId, commentId });

    expect(await rows("SELECT kind FROM notifications WHERE user_id = ?", me!.id)).toHaveLength(2);
    const page = await list(me!.token);
    expect(page.items.map((i) => [i.summary, i.subject])).toEqual([
      ["Ana mentioned you in a comment", { postId, commentId }],
      ["Ana mentioned you in a post", { postId }],
    ]);
  });

  it("pages over groups, newest first, with a cursor; refuses a cursor it did not hand out", async () => {
    const [me, a, b, c] = await people(4);
    for (const actor of [a!, b!, c!]) await notify({ recipientId: me!.id, actorId: actor.id, kind: "follow" });
    for (const actor of [a!, b!, c!]) {
      await notify({ recipientId: me!.id, actorId: actor.id, kind: "like", postId: await post(me!.id) });
    }
    const first = await list(me!.token, "?limit=2");
    expect(first.items.map((i) => i.actor?.id)).toEqual([c!.id, b!.id]);
    expect(first.nextCursor).not.toBeNull();
    const second = await list(me!.token, `?limit=2&cursor=${first.nextCursor}`);
    expect(second.items.map((i) => [i.kind, i.actor?.id])).toEqual([
      ["like", a!.id],
      ["follow", c!.id],
    ]);
    expect(second.items[1]!.actorCount).toBe(3);
    expect(second.nextCursor).toBeNull();

    const bad = await send("GET", "/api/v1/me/notifications?cursor=not-a-cursor", me!.token);
    expect(bad.status).toBe(400);
    expect(await codeOfResponse(bad)).toBe("validation-failed");
  });

  it("leaves out people on either side of a block, and notices about removed posts", async () => {
    const [me, blocked, blocker, fan] = await people(4);
    const postId = await post(me!.id);
    const removed = await post(me!.id);
    await notify({ recipientId: me!.id, actorId: blocked!.id, kind: "follow" });
    await notify({ recipientId: me!.id, actorId: blocker!.id, kind: "like", postId });
    await notify({ recipientId: me!.id, actorId: fan!.id, kind: "like", postId: removed });
    // Blocks written after the fact (the block route also deletes these rows; the read does not rely on it).
    await env.DB.batch([
      env.DB.prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, 1)").bind(
        me!.id,
        blocked!.id,
      ),
      env.DB.prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, 1)").bind(
        blocker!.id,
        me!.id,
      ),
      env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(removed),
    ]);
    expect((await list(me!.token)).items).toEqual([]);
    expect(await unread(me!.token)).toBe(0);
  });

  it("is for signed-in users", async () => {
    expect((await send("GET", "/api/v1/me/notifications", null)).status).toBe(401);
    expect((await send("GET", "/api/v1/me/notifications/unread-count", null)).status).toBe(401);
    expect((await send("POST", "/api/v1/me/notifications/read", null, {})).status).toBe(401);
  });
});

describe("POST /api/v1/me/notifications/read", () => {
  it("marks read up to an id, then everything; the unread count follows the list", async () => {
    const [me, a, b, other] = await people(4);
    await notify({ recipientId: me!.id, actorId: a!.id, kind: "follow" });
    const postId = await post(me!.id);
    await notify({ recipientId: me!.id, actorId: a!.id, kind: "like", postId });
    await notify({ recipientId: me!.id, actorId: b!.id, kind: "repost", postId });
    await notify({ recipientId: other!.id, actorId: a!.id, kind: "follow" });
    const before = await list(me!.token);
    expect(before.items.map((i) => i.kind)).toEqual(["repost", "like", "follow"]);
    expect(await unread(me!.token)).toBe(3);

    const like = before.items[1]!;
    const res = await send("POST", "/api/v1/me/notifications/read", me!.token, { upTo: like.id });
    expect(res.status).toBe(204);
    expect((await list(me!.token)).items.map((i) => i.read)).toEqual([false, true, true]);
    expect(await unread(me!.token)).toBe(1);

    // A new like joins the read group: the group is unread again, and counted once.
    await notify({ recipientId: me!.id, actorId: b!.id, kind: "like", postId });
    expect((await list(me!.token)).items.map((i) => [i.kind, i.read])).toEqual([
      ["like", false],
      ["repost", false],
      ["follow", true],
    ]);
    expect(await unread(me!.token)).toBe(2);

    const all = await send("POST", "/api/v1/me/notifications/read", me!.token);
    expect(all.status).toBe(204);
    expect(await unread(me!.token)).toBe(0);
    // Someone else's notifications are untouched.
    expect(await rows("SELECT read_at FROM notifications WHERE user_id = ?", other!.id)).toEqual([{ read_at: null }]);
  });

  it("refuses a body that is not { upTo?: integer } and changes nothing", async () => {
    const [me, a] = await people(2);
    await notify({ recipientId: me!.id, actorId: a!.id, kind: "follow" });
    for (const payload of [{ upTo: "all" }, { upTo: 1.5 }, { upTo: -1 }, { until: 3 }]) {
      const res = await send("POST", "/api/v1/me/notifications/read", me!.token, payload);
      expect(res.status).toBe(400);
      expect(await codeOfResponse(res)).toBe("validation-failed");
    }
    expect(await unread(me!.token)).toBe(1);
  });
});

describe("summaryOf", () => {
  const one = { actor_id: "u1", actor_name: "Ana", actors: 1, post_id: "p1", comment_id: null };
  it("says what each kind of notification is about", () => {
    const cases: [Parameters<typeof summaryOf>[0], string][] = [
      [{ ...one, kind: "like" }, "Ana liked your post"],
      [{ ...one, kind: "repost" }, "Ana reposted your post"],
      [{ ...one, kind: "comment", comment_id: "c1" }, "Ana commented on your post"],
      [{ ...one, kind: "reply", comment_id: "c1" }, "Ana replied to your comment"],
      [{ ...one, kind: "comment_like", comment_id: "c1" }, "Ana liked your comment"],
      [{ ...one, kind: "follow", post_id: null }, "Ana started following you"],
      [{ ...one, kind: "mention" }, "Ana mentioned you in a post"],
      [{ ...one, kind: "mention", comment_id: "c1" }, "Ana mentioned you in a comment"],
      [{ ...one, kind: "order", actor_id: null, post_id: null }, "Your order is confirmed"],
      [{ ...one, kind: "refund", actor_id: null, post_id: null }, "Your refund is complete"],
      [{ ...one, kind: "tip", actor_id: null, post_id: null }, "You received a tip"],
      [{ ...one, kind: "removed", actor_id: null }, "Your post was removed after a report"],
      [{ ...one, kind: "removed", actor_id: null, comment_id: "c1" }, "Your comment was removed after a report"],
      [
        { ...one, kind: "removed", actor_id: null, post_id: null },
        "Your posts and comments were removed after a report",
      ],
    ];
    expect(cases.map(([row]) => summaryOf(row))).toEqual(cases.map(([, sentence]) => sentence));
  });

  it("counts the others, and names an actor whose name is gone 'Someone'", () => {
    expect(summaryOf({ ...one, kind: "like", actors: 2 })).toBe("Ana and 1 other liked your post");
    expect(summaryOf({ ...one, kind: "like", actors: 13 })).toBe("Ana and 12 others liked your post");
    expect(summaryOf({ ...one, kind: "follow", actor_name: null })).toBe("Someone started following you");
  });
});
