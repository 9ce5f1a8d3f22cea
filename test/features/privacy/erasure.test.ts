/**
 * DELETE /api/v1/me: re-authentication first (password, rate-limited like sign-in; or an emailed code
 * for an account without one), refused while the person hosts events still to come, then every personal
 * field gone (a scan of every TEXT column of every D1 table, from sqlite_master) while the records other
 * people depend on stay under the pseudonym, and every session refused at once, the book deciding.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { emailStatements } from "../../../src/features/email";
import { call, freshIp, problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { bookRows } from "../../support/sessions";
import { otpFromMail, postJson } from "../auth/helpers";
import { createEvent } from "../events/helpers";
import { askExport, settled, someone, world } from "./helpers";

function erase(token: string, body: unknown, ip = freshIp()) {
  return call("/api/v1/me", {
    method: "DELETE",
    ip,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

const me = (token: string) => call("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });

/** Every user table's TEXT-affinity columns (SQLite's, D1's and Cloudflare's internal tables left out). */
async function textColumns(): Promise<{ table: string; columns: string[] }[]> {
  const tables = await rows<{ name: string }>(
    `SELECT name FROM sqlite_master WHERE type = 'table'
       AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'`,
  );
  const found = [];
  for (const { name } of tables) {
    const columns = (await rows<{ name: string; type: string }>("SELECT name, type FROM pragma_table_info(?)", name))
      .filter((c) => /TEXT|CHAR|CLOB/i.test(c.type) || c.type === "")
      .map((c) => c.name);
    if (columns.length) found.push({ table: name, columns });
  }
  return found;
}

/** Rows of any table with a TEXT column containing one of `needles` (case-insensitive, also inside JSON). */
async function rowsContaining(needles: string[]): Promise<Record<string, unknown[]>> {
  const hits: Record<string, unknown[]> = {};
  for (const { table, columns } of await textColumns()) {
    const conditions = columns.map(
      (column) =>
        `EXISTS (SELECT 1 FROM json_each(?1) j WHERE instr(lower(t."${column.replace(/"/g, '""')}"), lower(j.value)) > 0)`,
    );
    const found = await rows(`SELECT * FROM "${table}" t WHERE ${conditions.join(" OR ")}`, JSON.stringify(needles));
    if (found.length) hits[table] = found;
  }
  return hits;
}

/** What an erasure must not touch about someone: their row, their content, their sessions. */
async function snapshot(userId: string) {
  return {
    user: await rows("SELECT * FROM users WHERE id = ?", userId),
    posts: await countRows("posts", "author_id = ?", userId),
    comments: await countRows("comments", "author_id = ?", userId),
    follows: await countRows("follows", "follower_id = ?1 OR followee_id = ?1", userId),
    media: await countRows("media", "owner_id = ?", userId),
    sessions: await rows("SELECT id, revoked_at FROM sessions WHERE user_id = ? ORDER BY id", userId),
  };
}

describe("erasing an account", () => {
  it("with a wrong password is refused (401) and changes nothing; wrong passwords are limited as at sign-in", async () => {
    const w = await world();
    const before = await snapshot(w.person.id);
    const ip = freshIp();
    for (let i = 0; i < 5; i++) {
      const res = await erase(w.person.token, { password: "not-the-password" }, ip);
      expect(res.status).toBe(401);
      expect(codeOf(await problemOf(res))).toBe("invalid-credentials");
    }
    const limited = await erase(w.person.token, { password: w.person.password }, ip);
    expect(limited.status).toBe(429);
    expect(codeOf(await problemOf(limited))).toBe("rate-limited");
    const missing = await erase(w.person.token, {});
    expect(missing.status).toBe(400);
    expect(codeOf(await problemOf(missing))).toBe("validation-failed");

    expect(await snapshot(w.person.id)).toEqual(before);
    expect((await me(w.person.token)).status).toBe(200);
    expect(
      await rows("SELECT outcome FROM audit_log WHERE user_id = ? AND action = 'account.erase'", w.person.id),
    ).toEqual(Array(5).fill({ outcome: "failure" }));
  });

  it("is refused (409 hosts-future-events, the events listed) while they host an event still to come", async () => {
    const host = await someone({ roles: ["attendee", "host"] });
    const event = await createEvent(host.token, { title: "Night Market" });
    const draft = await createEvent(host.token, { title: "Draft Fair" }, false);
    const before = await snapshot(host.id);
    const res = await erase(host.token, { password: host.password });
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(codeOf(problem)).toBe("hosts-future-events");
    expect((problem.events as { id: string }[]).map((e) => e.id).sort()).toEqual([event.id, draft.id].sort());
    expect(problem.detail).toContain("Night Market");
    expect(await snapshot(host.id)).toEqual(before);
    expect((await me(host.token)).status).toBe(200);

    // Once cancelled (and the draft too), or over, the account can go.
    for (const id of [event.id, draft.id]) {
      const cancelled = await call(`/api/v1/events/${id}/cancel`, {
        method: "POST",
        headers: { Authorization: `Bearer ${host.token}` },
      });
      expect(cancelled.status).toBe(200);
    }
    expect((await erase(host.token, { password: host.password })).status).toBe(204);
  });

  it("is refused (409 subscription-active) while a Pro subscription would renew; cancelled to its period's end, it goes", async () => {
    const person = await someone();
    const subscription = `sub_test_${crypto.randomUUID()}`;
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO subscriptions (id, user_id, stripe_customer_id, price_id, status, current_period_end,
         cancel_at_period_end, stripe_event_created, version, created_at, updated_at)
       VALUES (?, ?, 'cus_test_erasure', 'price_test_gatehouse_pro', 'active', ?, 0, 1, 1, ?, ?)`,
    )
      .bind(subscription, person.id, Math.floor(now / 1000) + 86400, now, now)
      .run();
    const before = await snapshot(person.id);
    for (const status of ["active", "trialing", "past_due", "unpaid", "incomplete", "paused"]) {
      await env.DB.prepare("UPDATE subscriptions SET status = ? WHERE id = ?").bind(status, subscription).run();
      const res = await erase(person.token, { password: person.password });
      expect(res.status, status).toBe(409);
      expect(codeOf(await problemOf(res)), status).toBe("subscription-active");
    }
    await env.DB.prepare("UPDATE subscriptions SET status = 'active' WHERE id = ?").bind(subscription).run();
    expect(await snapshot(person.id)).toEqual(before);
    expect((await me(person.token)).status).toBe(200);
    expect(
      await rows(
        "SELECT detail FROM audit_log WHERE user_id = ? AND action = 'account.erase' AND outcome = 'denied'",
        person.id,
      ),
    ).toEqual(Array(6).fill({ detail: JSON.stringify({ reason: "subscription-active" }) }));

    // Set to end with its period (the portal's cancel), it no longer renews: the account can go.
    await env.DB.prepare("UPDATE subscriptions SET cancel_at_period_end = 1 WHERE id = ?").bind(subscription).run();
    expect((await erase(person.token, { password: person.password })).status).toBe(204);
  });

  it("leaves no trace of their email or name in any TEXT column, keeps others' records, and ends every session at once", async () => {
    const w = await world();
    const { person, other } = w;
    const needles = [person.email, person.name];
    // The fixture reaches the tables an erasure must clean.
    expect(Object.keys(await rowsContaining(needles)).sort()).toEqual(
      expect.arrayContaining(["comments", "dev_mailbox", "links", "posts", "profiles", "users"]),
    );
    // An email to them still waiting in the outbox (its recipient sealed): it must never go out.
    const [written] = await env.DB.batch(
      emailStatements(
        env.DB,
        getConfig(env),
        person.email,
        { template: "password-changed", name: person.name },
        Date.now(),
      ),
    );
    const unsentId = (written?.results[0] as { email_outbox_id: string } | undefined)?.email_outbox_id;
    expect(unsentId).toEqual(expect.any(String));
    // A data export of theirs, ready in R2.
    const asked = await askExport(person.token);
    expect(await settled(((await asked.json()) as { id: string }).id)).toBe("ready");
    const [archive] = await rows<{ r2_key: string }>("SELECT r2_key FROM data_exports WHERE user_id = ?", person.id);
    const otherPostsBefore = await countRows("posts", "author_id = ?", other.id);
    const mediaKey = `media/${w.mediaId}`;
    expect(await env.MEDIA.head(mediaKey)).not.toBeNull();

    const res = await erase(person.token, { password: person.password });
    expect(res.status).toBe(204);
    const cookies = res.headers.getSetCookie().join("\n");
    expect(cookies).toMatch(/__Host-access=;/);
    expect(cookies).toMatch(/__Host-refresh=;/);

    // The very next request with their token is refused, and a second erasure too.
    expect((await me(person.token)).status).toBe(401);
    expect((await erase(person.token, { password: person.password })).status).toBe(401);

    expect(await rowsContaining(needles)).toEqual({});
    const [user] = await rows<Record<string, unknown>>(
      "SELECT email, email_index, name, password_hash, email_verified_at, roles, erased_at FROM users WHERE id = ?",
      person.id,
    );
    expect(user).toMatchObject({
      email: `erased:${person.id}`,
      email_index: null,
      name: "Deleted user",
      password_hash: null,
      email_verified_at: null,
      roles: "[]",
    });
    expect(user?.erased_at).toEqual(expect.any(Number));

    // Theirs is gone.
    for (const [table, where] of [
      ["posts", "author_id = ?"],
      ["comments", "author_id = ?"],
      ["post_likes", "user_id = ?"],
      ["bookmarks", "user_id = ?"],
      ["reposts", "user_id = ?"],
      ["follows", "follower_id = ?1 OR followee_id = ?1"],
      ["blocks", "blocker_id = ?1 OR blocked_id = ?1"],
      ["notifications", "user_id = ?1 OR actor_id = ?1"],
      ["links", "user_id = ?"],
      ["media", "owner_id = ?"],
      ["api_keys", "host_id = ?"],
      ["webhook_endpoints", "host_id = ?"],
      ["waitlist_entries", "user_id = ?"],
      ["email_tokens", "user_id = ?"],
      ["refresh_tokens", "session_id IN (SELECT id FROM sessions WHERE user_id = ?)"],
    ] as const) {
      expect(await countRows(table, where, person.id), table).toBe(0);
    }
    expect(await countRows("sessions", "user_id = ? AND revoked_at IS NULL", person.id)).toBe(0);
    expect(await countRows("email_outbox", "id = ?", unsentId)).toBe(0);
    expect(await env.MEDIA.head(mediaKey)).toBeNull();
    expect(await env.MEDIA.head(archive?.r2_key ?? "")).toBeNull();
    expect(await countRows("data_exports", "user_id = ?", person.id)).toBe(0);
    expect(await rows("SELECT state FROM handles WHERE user_id = ?", person.id)).toEqual([{ state: "retired" }]);
    expect(await rows("SELECT bio, handle, avatar_media_id FROM profiles WHERE user_id = ?", person.id)).toEqual([
      { bio: "", handle: null, avatar_media_id: null },
    ]);

    // What others depend on stays, under the pseudonym.
    expect(await rows("SELECT user_id, status FROM orders WHERE id = ?", w.orderId)).toEqual([
      { user_id: person.id, status: "confirmed" },
    ]);
    expect(await countRows("tickets", "order_id = ? AND user_id = ?", w.orderId, person.id)).toBe(1);
    expect(await rows("SELECT sender_id, amount, message FROM tips WHERE id = ?", w.tipId)).toEqual([
      { sender_id: person.id, amount: 500, message: null },
    ]);
    // The pending guest tip made with their address is the pseudonym's now (the check still holds).
    expect(await rows("SELECT sender_id, guest_email, status FROM tips WHERE id = ?", `guest-${w.tipId}`)).toEqual([
      { sender_id: person.id, guest_email: null, status: "pending" },
    ]);
    expect(
      await rows("SELECT user_id, outcome FROM audit_log WHERE action = 'account.erase'  AND user_id = ?", person.id),
    ).toEqual([{ user_id: person.id, outcome: "success" }]);
    // The other person's post stands, their counters agree with their rows.
    expect(await countRows("posts", "author_id = ?", other.id)).toBe(otherPostsBefore);
    expect(
      await rows("SELECT like_count, bookmark_count, repost_count FROM posts WHERE id = ?", w.otherPost.id),
    ).toEqual([{ like_count: 0, bookmark_count: 0, repost_count: 0 }]);
    expect(
      await rows("SELECT posts_count, followers_count, following_count FROM profiles WHERE user_id = ?", other.id),
    ).toEqual([{ posts_count: 1, followers_count: 0, following_count: 0 }]);
    expect((await me(other.token)).status).toBe(200);
    expect((await me(w.host.token)).status).toBe(200);

    // The session book knows the account as erased.
    expect((await bookRows(person.id)).account).toMatchObject({ name: "Deleted user", email: `erased:${person.id}` });
  });

  it("a followed author's posts go without a feed update per post for every follower: each follower's feed moves once", async () => {
    const person = await someone();
    const followers = [await someone(), await someone()];
    const now = Date.now();
    for (const f of followers) {
      await env.DB.prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)")
        .bind(f.id, person.id, now)
        .run();
    }
    for (let i = 0; i < 5; i++) {
      await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, ?, ?)")
        .bind(crypto.randomUUID(), person.id, `post ${i}`, now + i)
        .run();
    }
    const versions = async () =>
      (
        await rows<{ feed_version: number }>(
          "SELECT feed_version FROM profiles WHERE user_id IN (?, ?) ORDER BY user_id",
          followers[0]?.id,
          followers[1]?.id,
        )
      ).map((r) => r.feed_version);
    const before = await versions();
    expect((await erase(person.token, { password: person.password })).status).toBe(204);
    expect(await versions()).toEqual(before.map((v) => v + 1));
    expect(await countRows("posts", "author_id = ?", person.id)).toBe(0);
    expect(
      await rows("SELECT following_count FROM profiles WHERE user_id IN (?, ?)", followers[0]?.id, followers[1]?.id),
    ).toEqual([{ following_count: 0 }, { following_count: 0 }]);
  });

  it("refuses their token from the book alone, even where D1 still shows the session valid", async () => {
    const person = await someone();
    const [before] = await rows<{ session_epoch: number }>("SELECT session_epoch FROM users WHERE id = ?", person.id);
    expect((await erase(person.token, { password: person.password })).status).toBe(204);
    // D1 put back as if its part had not landed: only the book says the sessions are over.
    await env.DB.batch([
      env.DB.prepare("UPDATE users SET session_epoch = ?, erased_at = NULL WHERE id = ?").bind(
        before?.session_epoch,
        person.id,
      ),
      env.DB.prepare("UPDATE sessions SET revoked_at = NULL, revoke_reason = NULL WHERE user_id = ?").bind(person.id),
    ]);
    expect((await me(person.token)).status).toBe(401);
  });

  it("for an account without a password, takes an emailed sign-in code (and refuses a wrong one)", async () => {
    const person = await someone({ password: false });
    const noCode = await erase(person.token, { password: "anything" });
    expect(noCode.status).toBe(400);
    expect((await problemOf(noCode)).errors).toEqual([expect.objectContaining({ path: "code" })]);
    expect((await postJson("/api/v1/auth/otp/request", { email: person.email })).status).toBe(202);
    const code = await otpFromMail(person.email);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, "0");
    const refused = await erase(person.token, { code: wrong });
    expect(refused.status).toBe(401);
    expect(codeOf(await problemOf(refused))).toBe("invalid-credentials");
    expect((await me(person.token)).status).toBe(200);

    expect((await erase(person.token, { code })).status).toBe(204);
    expect((await me(person.token)).status).toBe(401);
    expect(await rowsContaining([person.email, person.name])).toEqual({});
    // The code was used up, and the address no longer names an account.
    expect((await postJson("/api/v1/auth/otp/verify", { email: person.email, code })).status).toBe(401);
  });
});
