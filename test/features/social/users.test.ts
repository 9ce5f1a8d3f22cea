/**
 * Profiles through the Worker: editing one's name, bio and avatar (each rule at its boundary, a
 * refused edit changing nothing), reading a user with a signed avatar URL, and stats that agree with
 * the rows whatever happened before.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { jpeg } from "../../lib/image/fixtures/jpeg";
import { codeOf } from "../../support/db";
import { openedName } from "../../support/users";
import { bearer } from "../auth/helpers";
import { createEvent, hostWithToken, order } from "../events/helpers";
import { fetchSigned, nowSeconds, upload } from "../media/helpers";
import {
  block,
  cacheVersion,
  counted,
  counters,
  follow,
  insertPost,
  ok,
  type Person,
  people,
  person,
  type Stats,
  send,
  unfollow,
} from "./graph-helpers";

interface Profile {
  id: string;
  name: string;
  bio: string;
  avatarMediaId: string | null;
  handle: string | null;
}

interface PublicUser {
  id: string;
  name: string;
  bio: string;
  avatarUrl: string | null;
  handle: string | null;
  stats: Stats;
}

const putProfile = (who: Person | null, payload: unknown) =>
  send("PUT", "/api/v1/me/profile", who?.token ?? null, payload);
const getUser = (id: string, who: Person | null = null) => send("GET", `/api/v1/users/${id}`, who?.token ?? null);
const getStats = (id: string, who: Person | null = null) =>
  send("GET", `/api/v1/users/${id}/stats`, who?.token ?? null);

/** The stored profile, its name opened (sealed at rest). */
async function stored(userId: string) {
  const row = await env.DB.prepare(
    "SELECT u.name, p.bio, p.avatar_media_id FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ?",
  )
    .bind(userId)
    .first<{ name: string; bio: string; avatar_media_id: string | null }>();
  return row ? { ...row, name: openedName(row.name) } : null;
}

/** A refused edit: 400 validation-failed naming `path`, and the profile and its cache version unchanged. */
async function expectRefused(who: Person, payload: unknown, path: string) {
  const before = { row: await stored(who.id), version: await cacheVersion(`profile:${who.id}`) };
  const res = await putProfile(who, payload);
  expect(res.status).toBe(400);
  const problem = await problemOf(res);
  expect(codeOf(problem)).toBe("validation-failed");
  expect((problem.errors as { path: string }[]).map((e) => e.path)).toContain(path);
  expect(await stored(who.id)).toEqual(before.row);
  expect(await cacheVersion(`profile:${who.id}`)).toBe(before.version);
}

describe("PUT /api/v1/me/profile", () => {
  it("sets name, bio and avatar in one go, bumps the profile's cache version, and shows them on the public profile", async () => {
    const ada = await person();
    const avatar = await upload(ada.token, jpeg(), { purpose: "avatar" });
    expect(await cacheVersion(`profile:${ada.id}`)).toBe(0);

    const profile = await ok<Profile>(
      await putProfile(ada, { name: "Ada Lovelace", bio: "Poet of science", avatarMediaId: avatar.id }),
    );
    expect(profile).toEqual({
      id: ada.id,
      name: "Ada Lovelace",
      bio: "Poet of science",
      avatarMediaId: avatar.id,
      handle: null,
    });
    expect(await stored(ada.id)).toEqual({ name: "Ada Lovelace", bio: "Poet of science", avatar_media_id: avatar.id });
    expect(await cacheVersion(`profile:${ada.id}`)).toBe(1);

    const shown = await ok<PublicUser>(await getUser(ada.id));
    expect(shown).toMatchObject({ id: ada.id, name: "Ada Lovelace", bio: "Poet of science", handle: null });
    // The avatar URL is signed, lasts at least an hour, and serves the (stripped) upload to anyone.
    const url = new URL(shown.avatarUrl ?? "");
    expect(Number(url.searchParams.get("exp")) - nowSeconds()).toBeGreaterThanOrEqual(3600);
    const image = await fetchSigned(url.toString());
    expect(image.status).toBe(200);
    expect(image.headers.get("Content-Type")).toBe("image/jpeg");

    // Fields left out stay; each edit bumps the version again.
    expect(await ok<Profile>(await putProfile(ada, { bio: "Enchantress of numbers" }))).toMatchObject({
      name: "Ada Lovelace",
      bio: "Enchantress of numbers",
      avatarMediaId: avatar.id,
    });
    expect(await cacheVersion(`profile:${ada.id}`)).toBe(2);

    // null removes the avatar.
    expect((await ok<Profile>(await putProfile(ada, { avatarMediaId: null }))).avatarMediaId).toBeNull();
    expect((await ok<PublicUser>(await getUser(ada.id))).avatarUrl).toBeNull();
    expect(await cacheVersion(`profile:${ada.id}`)).toBe(3);
  });

  it("stores the bio normalised: NFC, control characters other than line breaks removed, trimmed; shown as text", async () => {
    const ada = await person();
    const raw = "  Cafe\u0301\u0000 <b>bold</b>\r\nline two\u0007\u009f  ";
    const profile = await ok<Profile>(await putProfile(ada, { bio: raw }));
    expect(profile.bio).toBe("Caf\u00e9 <b>bold</b>\nline two");
    expect((await stored(ada.id))?.bio).toBe("Caf\u00e9 <b>bold</b>\nline two");
    // The API gives the text as it is (JSON); markup in it is a string, never interpreted here.
    expect((await ok<PublicUser>(await getUser(ada.id))).bio).toBe("Caf\u00e9 <b>bold</b>\nline two");
  });

  it("a bio of 500 characters is accepted, 501 is refused; characters are code points, counted after normalisation", async () => {
    const ada = await person();
    expect((await ok<Profile>(await putProfile(ada, { bio: "a".repeat(500) }))).bio).toHaveLength(500);
    await expectRefused(ada, { bio: "b".repeat(501) }, "bio");
    // 500 emoji (1,000 UTF-16 units) are 500 characters.
    expect((await ok<Profile>(await putProfile(ada, { bio: "🎉".repeat(500) }))).bio).toBe("🎉".repeat(500));
    await expectRefused(ada, { bio: "🎉".repeat(501) }, "bio");
    // 500 decomposed "é" (1,000 code points sent) are 500 once composed; stripped controls do not count.
    expect((await ok<Profile>(await putProfile(ada, { bio: "e\u0301".repeat(500) }))).bio).toBe("\u00e9".repeat(500));
    expect((await ok<Profile>(await putProfile(ada, { bio: `${"c".repeat(500)}\u0000\u0000` }))).bio).toBe(
      "c".repeat(500),
    );
  });

  it("a name follows the registration rule: 1 to 100 characters after trimming", async () => {
    const ada = await person();
    expect((await ok<Profile>(await putProfile(ada, { name: `  ${"n".repeat(100)}  ` }))).name).toBe("n".repeat(100));
    await expectRefused(ada, { name: "n".repeat(101) }, "name");
    await expectRefused(ada, { name: "   " }, "name");
    await expectRefused(ada, { name: 42 }, "name");
  });

  it("refuses an avatar that is not the caller's own avatar upload, and the rest of that edit with it", async () => {
    const [ada, bob] = (await people(2)) as [Person, Person];
    const bobsAvatar = await upload(bob.token, jpeg(), { purpose: "avatar" });
    const adasPostImage = await upload(ada.token, jpeg(), { purpose: "post" });
    await expectRefused(ada, { name: "Renamed", bio: "new", avatarMediaId: bobsAvatar.id }, "avatarMediaId");
    await expectRefused(ada, { name: "Renamed", avatarMediaId: adasPostImage.id }, "avatarMediaId");
    await expectRefused(ada, { bio: "new", avatarMediaId: "no-such-media" }, "avatarMediaId");
    expect((await stored(ada.id))?.name).toBe("Test User");
  });

  it("refuses unknown fields and bodies that are not objects; signed-out callers get 401", async () => {
    const ada = await person();
    await expectRefused(ada, { name: "Ada", handle: "ada" }, "");
    const notJson = await send("PUT", "/api/v1/me/profile", ada.token, "just a string");
    expect(notJson.status).toBe(400);
    const anonymous = await putProfile(null, { name: "Nobody" });
    expect(anonymous.status).toBe(401);
    expect(codeOf(await problemOf(anonymous))).toBe("unauthorized");
  });
});

describe("GET /api/v1/users/:id", () => {
  it("answers anyone with the public profile; 404 for a missing user and between users who block each other", async () => {
    const [ada, bob, cy] = (await people(3)) as [Person, Person, Person];
    const anon = await ok<PublicUser>(await getUser(ada.id));
    expect(anon).toEqual({
      id: ada.id,
      name: "Test User",
      bio: "",
      avatarUrl: null,
      handle: null,
      stats: { posts: 0, followers: 0, following: 0, eventsHosted: 0 },
    });
    const missing = await getUser("no-such-user");
    expect(missing.status).toBe(404);
    expect(codeOf(await problemOf(missing))).toBe("not-found");

    await ok(await block(ada, bob.id));
    for (const [viewer, target] of [
      [bob, ada],
      [ada, bob],
    ] as const) {
      expect((await getUser(target.id, viewer)).status).toBe(404);
      expect((await getStats(target.id, viewer)).status).toBe(404);
    }
    // Others (and anonymous callers) still see both.
    expect((await getUser(ada.id, cy)).status).toBe(200);
    expect((await getUser(bob.id)).status).toBe(200);
  });

  it("stats: events hosted are published ones and those cancelled after publishing; tickets held only for oneself", async () => {
    const host = await hostWithToken();
    const hostPerson = { id: host.id, email: host.email, token: host.token };
    const onSale = await createEvent(host.token, { title: "On sale", perUserLimit: 4 });
    const toCancel = await createEvent(host.token, { title: "Cancelled later" });
    const draft = await createEvent(host.token, { title: "Draft" }, false);
    const thrownAway = await createEvent(host.token, { title: "Draft thrown away" }, false);
    const cancel = await call(`/api/v1/events/${toCancel.id}/cancel`, { method: "POST", headers: bearer(host.token) });
    expect(cancel.status).toBe(200);
    await env.DB.prepare("UPDATE events SET status = 'cancelled', cancelled_at = ? WHERE id = ?")
      .bind(Date.now(), thrownAway.id)
      .run();
    const rows = await env.DB.prepare("SELECT id, status, published_at FROM events WHERE host_id = ?")
      .bind(host.id)
      .all<{ id: string; status: string; published_at: number | null }>();
    expect(rows.results.find((r) => r.id === draft.id)?.status).toBe("draft");
    expect((await ok<Stats>(await getStats(host.id))).eventsHosted).toBe(2);

    // Tickets: two claimed; one voided and one being refunded are not held, a redeemed one is.
    const fan = await person();
    expect((await order(onSale.id, fan.token, 2)).status).toBe(201);
    const other = await createEvent(host.token, { title: "Another", perUserLimit: 4 });
    expect((await order(other.id, fan.token, 2)).status).toBe(201);
    const tickets = await env.DB.prepare("SELECT id FROM tickets WHERE user_id = ? ORDER BY id")
      .bind(fan.id)
      .all<{ id: string }>();
    expect(tickets.results).toHaveLength(4);
    const [t1, t2, t3] = tickets.results.map((t) => t.id);
    await env.DB.batch([
      env.DB.prepare("UPDATE tickets SET status = 'void' WHERE id = ?").bind(t1),
      env.DB.prepare("UPDATE tickets SET status = 'refunding' WHERE id = ?").bind(t2),
      env.DB.prepare("UPDATE tickets SET status = 'redeemed', redeemed_at = ? WHERE id = ?").bind(Date.now(), t3),
    ]);
    expect(await ok<Stats>(await getStats(fan.id, fan))).toEqual({
      posts: 0,
      followers: 0,
      following: 0,
      eventsHosted: 0,
      ticketsHeld: 2,
    });
    expect((await ok<PublicUser>(await getUser(fan.id, fan))).stats.ticketsHeld).toBe(2);
    // Anyone else, signed in or not, is not told.
    expect(await ok<Stats>(await getStats(fan.id, hostPerson))).not.toHaveProperty("ticketsHeld");
    expect(await ok<Stats>(await getStats(fan.id))).not.toHaveProperty("ticketsHeld");
    expect((await ok<PublicUser>(await getUser(fan.id))).stats).not.toHaveProperty("ticketsHeld");
  });

  it("stats agree with COUNT(*) of the rows after follows, unfollows, posts, deletes and a user's deletion", async () => {
    const users = (await people(5)) as [Person, Person, Person, Person, Person];
    const [a, b, c, d, e] = users;
    const check = async (alive: Person[]) => {
      for (const u of alive) {
        const stats = await ok<Stats>(await getStats(u.id));
        const rows = await counted(u.id);
        expect({ posts: stats.posts, followers: stats.followers, following: stats.following }).toEqual({
          posts: rows?.posts_count,
          followers: rows?.followers_count,
          following: rows?.following_count,
        });
        expect(await counters(u.id)).toEqual(rows);
      }
    };

    for (const [who, whom] of [
      [a, b],
      [a, c],
      [b, a],
      [c, a],
      [d, a],
      [e, a],
      [d, b],
      [e, d],
    ] as const) {
      await ok(await follow(who, whom.id));
    }
    await ok(await unfollow(c, a.id));
    await ok(await follow(a, b.id)); // again: no change
    const posts = await Promise.all([insertPost(a.id), insertPost(a.id), insertPost(b.id), insertPost(d.id)]);
    await env.DB.prepare("DELETE FROM posts WHERE id = ?").bind(posts[0]).run();
    await env.DB.prepare("UPDATE posts SET removed_at = ? WHERE id = ?").bind(Date.now(), posts[2]).run();
    await ok(await block(e, d.id)); // ends e → d
    await check(users);
    expect(await ok<Stats>(await getStats(a.id))).toEqual({ posts: 1, followers: 3, following: 2, eventsHosted: 0 });

    // D is deleted: their follows and posts go with them, and everyone's counters follow.
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(d.id).run();
    expect((await getStats(d.id)).status).toBe(404);
    await check([a, b, c, e]);
    expect(await ok<Stats>(await getStats(a.id))).toEqual({ posts: 1, followers: 2, following: 2, eventsHosted: 0 });
    expect((await ok<Stats>(await getStats(b.id))).followers).toBe(1);
  });
});
