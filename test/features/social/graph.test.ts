/**
 * The follow and block graph through the Worker: idempotent follows with their notification, blocks
 * that end follows and notifications both ways, the lists with blocked users left out, and follows
 * racing each other (the rows and the trigger-kept counters agree, whatever the interleaving).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { problemOf } from "../../helpers";
import { codeOf } from "../../support/db";
import {
  block,
  counted,
  counters,
  follow,
  ok,
  type Person,
  people,
  person,
  send,
  unblock,
  unfollow,
} from "./graph-helpers";

interface FollowState {
  following: boolean;
  followers: number;
}

interface ListItem {
  id: string;
  name: string;
  handle: string | null;
  avatarUrl: string | null;
  followedAt: string;
}

interface Page {
  items: ListItem[];
  nextCursor: string | null;
}

async function followRows(followee: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM follows WHERE followee_id = ?")
    .bind(followee)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

async function notificationsBetween(a: string, b: string): Promise<{ user_id: string; kind: string }[]> {
  const rows = await env.DB.prepare(
    "SELECT user_id, kind FROM notifications WHERE (user_id = ?1 AND actor_id = ?2) OR (user_id = ?2 AND actor_id = ?1)",
  )
    .bind(a, b)
    .all<{ user_id: string; kind: string }>();
  return rows.results;
}

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(codeOf(await problemOf(res))).toBe(code);
}

const list = (userId: string, direction: "followers" | "following", viewer: Person | null = null, query = "") =>
  send("GET", `/api/v1/users/${userId}/${direction}${query}`, viewer?.token ?? null);

describe("PUT · DELETE /api/v1/users/:id/follow", () => {
  it("is idempotent both ways, answers the followee's count, and notifies the followee once (unfollow takes it back)", async () => {
    const [ada, bob] = (await people(2)) as [Person, Person];
    expect(await ok<FollowState>(await follow(ada, bob.id))).toEqual({ following: true, followers: 1 });
    expect(await ok<FollowState>(await follow(ada, bob.id))).toEqual({ following: true, followers: 1 });
    expect(await followRows(bob.id)).toBe(1);
    expect(await counters(bob.id)).toMatchObject({ followers_count: 1 });
    expect(await counters(ada.id)).toMatchObject({ following_count: 1 });
    expect(await notificationsBetween(ada.id, bob.id)).toEqual([{ user_id: bob.id, kind: "follow" }]);

    expect(await ok<FollowState>(await unfollow(ada, bob.id))).toEqual({ following: false, followers: 0 });
    expect(await ok<FollowState>(await unfollow(ada, bob.id))).toEqual({ following: false, followers: 0 });
    expect(await followRows(bob.id)).toBe(0);
    expect(await counters(ada.id)).toEqual(await counted(ada.id));
    expect(await counters(bob.id)).toEqual(await counted(bob.id));
    expect(await notificationsBetween(ada.id, bob.id)).toEqual([]);

    // Following again notifies again.
    await ok(await follow(ada, bob.id));
    expect(await notificationsBetween(ada.id, bob.id)).toEqual([{ user_id: bob.id, kind: "follow" }]);
  });

  it("refuses following oneself (422), a missing user (404) and signed-out callers (401), changing nothing", async () => {
    const ada = await person();
    await expectProblem(await follow(ada, ada.id), 422, "cannot-follow-self");
    await expectProblem(await unfollow(ada, ada.id), 422, "cannot-follow-self");
    await expectProblem(await follow(ada, "no-such-user"), 404, "not-found");
    await expectProblem(await unfollow(ada, "no-such-user"), 404, "not-found");
    await expectProblem(await send("PUT", `/api/v1/users/${ada.id}/follow`, null), 401, "unauthorized");
    expect(await counters(ada.id)).toMatchObject({ followers_count: 0, following_count: 0 });
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM follows WHERE follower_id = ?1 OR followee_id = ?1")
      .bind(ada.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });

  it("50 users following one user concurrently, twice each: exactly 50 follows; all unfollowing concurrently: 0", async () => {
    const star = await person();
    const fans = await people(50);
    const followed = await Promise.all(fans.flatMap((f) => [follow(f, star.id), follow(f, star.id)]));
    const states = await Promise.all(followed.map((r) => ok<FollowState>(r)));
    for (const s of states) {
      expect(s.following).toBe(true);
      expect(s.followers).toBeGreaterThanOrEqual(1);
      expect(s.followers).toBeLessThanOrEqual(50);
    }
    expect(Math.max(...states.map((s) => s.followers))).toBe(50);
    expect(await followRows(star.id)).toBe(50);
    expect(await counters(star.id)).toMatchObject({ followers_count: 50 });
    const notified = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM notifications WHERE user_id = ? AND kind = 'follow'",
    )
      .bind(star.id)
      .first<{ n: number }>();
    expect(notified?.n).toBe(50);

    const unfollowed = await Promise.all(fans.flatMap((f) => [unfollow(f, star.id), unfollow(f, star.id)]));
    for (const s of await Promise.all(unfollowed.map((r) => ok<FollowState>(r)))) expect(s.following).toBe(false);
    expect(await followRows(star.id)).toBe(0);
    expect(await counters(star.id)).toMatchObject({ followers_count: 0 });
    for (const f of fans.slice(0, 5)) expect(await counters(f.id)).toEqual(await counted(f.id));
  });
});

describe("PUT · DELETE /api/v1/users/:id/block", () => {
  it("ends follows and notifications both ways in one go; while it stands neither can follow the other", async () => {
    const [ada, bob, cy] = (await people(3)) as [Person, Person, Person];
    await ok(await follow(ada, bob.id));
    await ok(await follow(bob, ada.id));
    await ok(await follow(cy, bob.id));
    expect(await notificationsBetween(ada.id, bob.id)).toHaveLength(2);

    expect(await ok(await block(ada, bob.id))).toEqual({ blocked: true });
    expect(await ok(await block(ada, bob.id))).toEqual({ blocked: true });
    const edges = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM follows WHERE (follower_id = ?1 AND followee_id = ?2) OR (follower_id = ?2 AND followee_id = ?1)",
    )
      .bind(ada.id, bob.id)
      .first<{ n: number }>();
    expect(edges?.n).toBe(0);
    expect(await notificationsBetween(ada.id, bob.id)).toEqual([]);
    for (const u of [ada, bob]) expect(await counters(u.id)).toEqual(await counted(u.id));
    expect(await counters(bob.id)).toMatchObject({ followers_count: 1, following_count: 0 });

    // Neither side can follow the other (the blocked one is told the user does not exist).
    await expectProblem(await follow(bob, ada.id), 404, "not-found");
    await expectProblem(await follow(ada, bob.id), 404, "not-found");
    expect(await notificationsBetween(ada.id, bob.id)).toEqual([]);
    // The blocked user may block back (nothing tells them they are blocked), and unblock their own.
    expect(await ok(await block(bob, ada.id))).toEqual({ blocked: true });
    expect(await ok(await unblock(bob, ada.id))).toEqual({ blocked: false });
    await expectProblem(await follow(bob, ada.id), 404, "not-found");

    expect(await ok(await unblock(ada, bob.id))).toEqual({ blocked: false });
    expect(await ok(await unblock(ada, bob.id))).toEqual({ blocked: false });
    // Unblocking restores nothing by itself; following works again.
    expect(await followRows(ada.id)).toBe(0);
    expect(await ok<FollowState>(await follow(bob, ada.id))).toEqual({ following: true, followers: 1 });
  });

  it("refuses blocking oneself (422) and a missing user (404); signed-out callers get 401", async () => {
    const ada = await person();
    await expectProblem(await block(ada, ada.id), 422, "cannot-block-self");
    await expectProblem(await unblock(ada, ada.id), 422, "cannot-block-self");
    await expectProblem(await block(ada, "no-such-user"), 404, "not-found");
    await expectProblem(await unblock(ada, "no-such-user"), 404, "not-found");
    await expectProblem(await send("PUT", `/api/v1/users/${ada.id}/block`, null), 401, "unauthorized");
    const rows = await env.DB.prepare("SELECT COUNT(*) AS n FROM blocks WHERE blocker_id = ?")
      .bind(ada.id)
      .first<{ n: number }>();
    expect(rows?.n).toBe(0);
  });
});

describe("GET /api/v1/users/:id/followers · /following", () => {
  it("lists newest first across pages with a keyset cursor", async () => {
    const star = await person();
    const fans = await people(5);
    const base = Date.now() - 60_000;
    // Distinct, known times: the follows are written with the API, then dated for the order under test.
    for (const [i, f] of fans.entries()) {
      await ok(await follow(f, star.id));
      await env.DB.prepare("UPDATE follows SET created_at = ? WHERE follower_id = ? AND followee_id = ?")
        .bind(base + i * 1000, f.id, star.id)
        .run();
    }
    const seen: ListItem[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const page: Page = await ok<Page>(await list(star.id, "followers", null, query));
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen.map((i) => i.id)).toEqual([...fans].reverse().map((f) => f.id));
    expect(seen[0]).toEqual({
      id: fans[4]?.id,
      name: "Test User",
      handle: null,
      avatarUrl: null,
      followedAt: new Date(base + 4000).toISOString(),
    });

    // The other direction: whom a fan follows.
    const following = await ok<Page>(await list(fans[0]?.id ?? "", "following"));
    expect(following).toEqual({
      items: [
        { id: star.id, name: "Test User", handle: null, avatarUrl: null, followedAt: new Date(base).toISOString() },
      ],
      nextCursor: null,
    });
  });

  it("leaves out users blocked either way by the viewer; 404 for a user blocked either way or missing", async () => {
    const [star, viewer, blocksViewer, blockedByViewer, plain] = (await people(5)) as [
      Person,
      Person,
      Person,
      Person,
      Person,
    ];
    for (const f of [blocksViewer, blockedByViewer, plain]) await ok(await follow(f, star.id));
    await ok(await block(blocksViewer, viewer.id));
    await ok(await block(viewer, blockedByViewer.id));

    const ids = async (who: Person | null) =>
      (await ok<Page>(await list(star.id, "followers", who))).items.map((i) => i.id).sort();
    expect(await ids(viewer)).toEqual([plain.id]);
    expect(await ids(null)).toEqual([blocksViewer.id, blockedByViewer.id, plain.id].sort());

    await expectProblem(await list(blocksViewer.id, "following", viewer), 404, "not-found");
    await expectProblem(await list(blockedByViewer.id, "followers", viewer), 404, "not-found");
    await expectProblem(await list("no-such-user", "followers"), 404, "not-found");
  });

  it("refuses a foreign cursor and a limit over 100 (400)", async () => {
    const star = await person();
    await expectProblem(await list(star.id, "followers", null, "?cursor=bm90LWEtY3Vyc29y"), 400, "validation-failed");
    await expectProblem(await list(star.id, "followers", null, "?limit=101"), 400, "validation-failed");
    expect((await list(star.id, "followers", null, "?limit=100")).status).toBe(200);
  });
});
