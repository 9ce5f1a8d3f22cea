/**
 * The notification writers below any route: the statements GRAPH and POSTS put in their batches insert
 * nothing for one's own action or across a block (either way), insert once however often the action
 * repeats, group as the list expects, and retract by the same key.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import {
  mentionedHandles,
  mentionInserts,
  type NewNotification,
  notificationInsert,
  notificationRetract,
} from "../../../src/features/social/notifications";
import { rows } from "../../support/db";

const db = () => env.DB;

async function user(handle?: string): Promise<string> {
  const id = `u-nw-${crypto.randomUUID().slice(0, 12)}`;
  await db()
    .prepare(
      "INSERT INTO users (id, email, name, roles, created_at, updated_at) VALUES (?, ?, 'Writer', '[\"attendee\"]', 1, 1)",
    )
    .bind(id, `${id}@example.com`)
    .run();
  if (handle) {
    await db()
      .prepare("UPDATE profiles SET handle = ?, handle_key = ? WHERE user_id = ?")
      .bind(handle, handle.normalize("NFKC").toLowerCase(), id)
      .run();
  }
  return id;
}

async function post(authorId: string): Promise<string> {
  const id = `p-${crypto.randomUUID()}`;
  await db()
    .prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, 'hi', 1)")
    .bind(id, authorId)
    .run();
  return id;
}

async function comment(postId: string, authorId: string, parentId: string | null = null): Promise<string> {
  const id = `c-${crypto.randomUUID()}`;
  await db()
    .prepare("INSERT INTO comments (id, post_id, parent_id, author_id, text, created_at) VALUES (?, ?, ?, ?, 'c', 1)")
    .bind(id, postId, parentId, authorId)
    .run();
  return id;
}

async function block(blocker: string, blocked: string): Promise<void> {
  await db()
    .prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, 1)")
    .bind(blocker, blocked)
    .run();
}

type Stored = { kind: string; actor_id: string | null; group_key: string; dedupe_key: string | null };
const stored = (recipient: string) =>
  rows<Stored>(
    "SELECT kind, actor_id, group_key, dedupe_key FROM notifications WHERE user_id = ? ORDER BY id",
    recipient,
  );

const insert = (n: NewNotification) => db().batch([notificationInsert(db(), n)]);

describe("notificationInsert", () => {
  it("stores a like once, however often it is sent, grouped by post", async () => {
    const [author, fan] = [await user(), await user()];
    const postId = await post(author);
    const like = { recipientId: author, actorId: fan, kind: "like", postId, at: 10 } as const;
    await insert(like);
    await insert({ ...like, at: 11 });
    await Promise.all([insert(like), insert(like), insert(like)]);
    expect(await stored(author)).toEqual([
      { kind: "like", actor_id: fan, group_key: `like:${postId}`, dedupe_key: `like:${postId}:${fan}` },
    ]);
  });

  it("never notifies one's own action", async () => {
    const author = await user();
    const postId = await post(author);
    await insert({ recipientId: author, actorId: author, kind: "like", postId, at: 1 });
    expect(await stored(author)).toEqual([]);
  });

  it("never notifies across a block, whichever way it goes", async () => {
    const [author, blocked, blocker] = [await user(), await user(), await user()];
    await block(author, blocked);
    await block(blocker, author);
    await insert({ recipientId: author, actorId: blocked, kind: "follow", at: 1 });
    await insert({ recipientId: author, actorId: blocker, kind: "follow", at: 1 });
    expect(await stored(author)).toEqual([]);
  });

  it("groups a reply under the comment it answers, and keeps order events without an actor", async () => {
    const [author, other] = [await user(), await user()];
    const postId = await post(author);
    const top = await comment(postId, author);
    const reply = await comment(postId, other, top);
    await insert({ recipientId: author, actorId: other, kind: "reply", postId, commentId: reply, at: 1 });
    await insert({ recipientId: author, actorId: null, kind: "order", orderId: "o-1", at: 2 });
    await insert({ recipientId: author, actorId: null, kind: "order", orderId: "o-1", at: 3 });
    expect(await stored(author)).toEqual([
      { kind: "reply", actor_id: other, group_key: `reply:${top}`, dedupe_key: `reply:${reply}` },
      { kind: "order", actor_id: null, group_key: "order:o-1", dedupe_key: "order:o-1" },
    ]);
  });
});

describe("notificationRetract", () => {
  it("removes the notification of the undone action only", async () => {
    const [author, a, b] = [await user(), await user(), await user()];
    const postId = await post(author);
    await insert({ recipientId: author, actorId: a, kind: "like", postId, at: 1 });
    await insert({ recipientId: author, actorId: b, kind: "like", postId, at: 2 });
    await db().batch([notificationRetract(db(), { recipientId: author, actorId: a, kind: "like", postId })]);
    expect((await stored(author)).map((n) => n.actor_id)).toEqual([b]);
  });
});

describe("mentionInserts", () => {
  it("finds handles case-insensitively, not in addresses, at most ten distinct", () => {
    expect(mentionedHandles("hi @Ana_B and @ana_b, mail x@ana_b.com, thanks @bob.").flat()).toEqual([
      "ana_b",
      "bob",
      "bob.",
    ]);
    const many = Array.from({ length: 12 }, (_, i) => `@user${i}`).join(" ");
    expect(mentionedHandles(many)).toHaveLength(10);
    expect(mentionedHandles("@ab and @a234567890123456789012345678901")).toEqual([]);
    // Trailing dots are kept when trimming them would leave too short a handle.
    expect(mentionedHandles("hi @ab.. and @ab..")).toEqual([["ab.."]]);
  });

  it("notifies each mentioned profile once, never the author or across a block", async () => {
    const tag = crypto.randomUUID().slice(0, 6);
    const author = await user(`auth${tag}`);
    const ana = await user(`Ana${tag}`);
    const bob = await user(`bob${tag}`);
    await block(bob, author);
    const postId = await post(author);
    const text = `hey @ANA${tag} @ana${tag} @bob${tag} @auth${tag} @nobody${tag}`;
    await db().batch([mentionInserts(db(), { text, actorId: author, postId, at: 5 })]);
    await db().batch([mentionInserts(db(), { text, actorId: author, postId, at: 6 })]);
    expect(await stored(ana)).toEqual([
      {
        kind: "mention",
        actor_id: author,
        group_key: `mention:${postId}:${ana}`,
        dedupe_key: `mention:${postId}:${ana}`,
      },
    ]);
    expect(await stored(bob)).toEqual([]);
    expect(await stored(author)).toEqual([]);
    // No mention at all: still a statement a batch can carry.
    await db().batch([mentionInserts(db(), { text: "no one", actorId: author, postId, at: 7 })]);
  });
});
