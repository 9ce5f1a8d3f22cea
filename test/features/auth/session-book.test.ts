/**
 * Sessions are decided in the user's shard object (durable-objects/session-book.ts), D1 keeps its
 * copy: every path that takes a right away lands in the book first, so a revocation acts on the very
 * next request even when D1's half of it fails; an epoch change the book heard of but D1 missed is
 * brought into D1 by the next sign-in; and a session only D1 knows is adopted with whatever is
 * stricter. Each test revokes (or changes) and then uses a token at once.
 */
import {
  createExecutionContext,
  env,
  runDurableObjectAlarm,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { logout, resetPassword } from "../../../src/features/auth/service";
import worker from "../../../src/index";
import { call, freshIp } from "../../helpers";
import { bookNotes, bookOf, bookRows, forgetInBook, setBookLastUse } from "../../support/sessions";
import { overloaded, replacingMethod } from "../../support/stubs";
import { eventBody } from "../events/helpers";
import { authDepsWith, bearer, createUser, login, PASSWORD, postJson, rows, tokenFromMail } from "./helpers";

const me = (token: string) => call("/api/v1/me", { headers: bearer(token) });

function jwtClaims(token: string): { sub: string; sid: string; epoch: number } {
  const [, payload] = token.split(".");
  return JSON.parse(atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as {
    sub: string;
    sid: string;
    epoch: number;
  };
}

/** A D1 binding whose statements matching `failing` throw, as a D1 outage between two writes would. */
function failingDb(failing: RegExp): D1Database {
  const db = env.DB;
  const refuse = (sql: string) => {
    if (failing.test(sql)) throw new Error("D1 unavailable (test)");
  };
  return new Proxy(db, {
    get(target, property) {
      if (property === "batch") {
        return (statements: (D1PreparedStatement & { sql?: string })[]) => {
          for (const s of statements) refuse(String((s as unknown as { query?: string }).query ?? ""));
          return target.batch(statements);
        };
      }
      if (property === "prepare") {
        return (sql: string) => {
          const statement = target.prepare(sql);
          return new Proxy(statement, {
            get(inner, name) {
              if (name === "bind") {
                return (...values: unknown[]) => {
                  const bound = inner.bind(...values);
                  return new Proxy(bound, {
                    get(b, method) {
                      if (method === "query") return sql;
                      const value = Reflect.get(b, method, b);
                      if (typeof value !== "function" || !["run", "first", "all", "raw"].includes(String(method))) {
                        return value;
                      }
                      return (...args: unknown[]) => {
                        refuse(sql);
                        return (value as (...a: unknown[]) => unknown).apply(b, args);
                      };
                    },
                  });
                };
              }
              return Reflect.get(inner, name, inner);
            },
          });
        };
      }
      return Reflect.get(target, property, target);
    },
  });
}

describe("revocations land in the book first", () => {
  it("logout: the access token is refused at once, in the book and in D1", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    expect((await me(tokens.accessToken)).status).toBe(200);
    const out = await call("/api/v1/auth/logout", { method: "POST", headers: bearer(tokens.accessToken) });
    expect(out.status).toBeLessThan(300);
    expect((await me(tokens.accessToken)).status).toBe(401);
    const { sid } = jwtClaims(tokens.accessToken);
    const book = await bookRows(user.id);
    expect(book.sessions.find((s) => s.sid === sid)?.revoke_reason).toBe("logout");
    const [stored] = await rows<{ revoke_reason: string }>("SELECT revoke_reason FROM sessions WHERE id = ?", sid);
    expect(stored?.revoke_reason).toBe("logout");
  });

  it("a logout whose D1 write fails still ends the session everywhere (the book is stricter, never looser)", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    const { sid } = jwtClaims(tokens.accessToken);
    await expect(logout(authDepsWith(failingDb(/^UPDATE sessions SET revoked_at/)), sid, user.id)).rejects.toThrow(
      /D1 unavailable/,
    );
    // D1 never heard of it …
    const [stored] = await rows<{ revoked_at: number | null }>("SELECT revoked_at FROM sessions WHERE id = ?", sid);
    expect(stored?.revoked_at).toBeNull();
    // … and still neither the access token nor the refresh token acts.
    expect((await me(tokens.accessToken)).status).toBe(401);
    expect((await postJson("/api/v1/auth/refresh", { refreshToken: tokens.refreshToken })).status).toBe(401);
  });

  it("a reset whose D1 write fails still stops every session; the unchanged password signs in again and D1 catches up", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    expect((await postJson("/api/v1/auth/forgot-password", { email: user.email })).status).toBe(202);
    const token = await tokenFromMail(user.email, "reset-password");
    await expect(
      resetPassword(authDepsWith(failingDb(/^UPDATE email_tokens SET used_at/)), token, "a-brand-new-passphrase"),
    ).rejects.toThrow(/D1 unavailable/);
    const [before] = await rows<{ session_epoch: number }>("SELECT session_epoch FROM users WHERE id = ?", user.id);
    expect(before?.session_epoch).toBe(0);
    expect((await bookRows(user.id)).account?.epoch).toBe(1);
    expect((await me(tokens.accessToken)).status).toBe(401);

    // The reset never happened in D1: the old password is still the account's, and signs in under the
    // book's epoch, which D1 now shares.
    const again = await login(user.email, PASSWORD);
    expect(jwtClaims(again.accessToken).epoch).toBe(1);
    expect((await me(again.accessToken)).status).toBe(200);
    const [after] = await rows<{ session_epoch: number }>("SELECT session_epoch FROM users WHERE id = ?", user.id);
    expect(after?.session_epoch).toBe(1);
    // The link still works, and ends that session too.
    expect((await postJson("/api/v1/auth/reset-password", { token, password: "a-brand-new-passphrase" })).status).toBe(
      200,
    );
    expect((await me(again.accessToken)).status).toBe(401);
    expect((await bookRows(user.id)).account?.epoch).toBe(2);
  });

  it("refresh-token reuse revokes the session in the book: the access token from the same sign-in dies at once", async () => {
    const user = await createUser();
    const first = await login(user.email);
    const rotated = await postJson("/api/v1/auth/refresh", { refreshToken: first.refreshToken });
    expect(rotated.status).toBe(200);
    const pair = (await rotated.json()) as { accessToken: string };
    // Well past the retry grace: presenting the rotated token again is reuse.
    const { sid } = jwtClaims(first.accessToken);
    await env.DB.prepare(
      "UPDATE refresh_tokens SET used_at = used_at - 60000 WHERE session_id = ? AND used_at IS NOT NULL",
    )
      .bind(sid)
      .run();
    expect((await postJson("/api/v1/auth/refresh", { refreshToken: first.refreshToken })).status).toBe(401);
    expect((await me(pair.accessToken)).status).toBe(401);
    expect((await bookRows(user.id)).sessions.find((s) => s.sid === sid)?.revoke_reason).toBe("token-reuse");
  });
});

describe("sessions the book has not seen", () => {
  it("are adopted from D1 with what is stricter: a book tombstone beats D1's live copy", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    const { sid } = jwtClaims(tokens.accessToken);
    // Forget the session in the book (a shard that moved), then revoke it there: a tombstone only.
    await forgetInBook(user.id, sid);
    await bookOf(user.id).revokeSession({
      userId: user.id,
      sid,
      reason: "logout",
      now: Date.now(),
      expiresAt: Date.now() + 60_000,
    });
    expect((await bookRows(user.id)).sessions.find((row) => row.sid === sid)?.epoch).toBe(-1);
    expect((await me(tokens.accessToken)).status).toBe(401);
  });

  it("a session only D1 knows acts once adopted; revoked in D1 it never does", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    const other = await login(user.email);
    for (const t of [tokens, other]) {
      const { sid } = jwtClaims(t.accessToken);
      await forgetInBook(user.id, sid);
    }
    await env.DB.prepare("UPDATE sessions SET revoked_at = ?, revoke_reason = 'logout' WHERE id = ?")
      .bind(Date.now(), jwtClaims(other.accessToken).sid)
      .run();
    expect((await me(tokens.accessToken)).status).toBe(200);
    expect((await me(other.accessToken)).status).toBe(401);
    const book = await bookRows(user.id);
    expect(book.sessions.map((s) => s.sid).sort()).toEqual(
      [jwtClaims(tokens.accessToken).sid, jwtClaims(other.accessToken).sid].sort(),
    );
  });
});

describe("grants and account changes", () => {
  it("becoming a host acts on the very next request of the same session", async () => {
    const user = await createUser({ verified: true });
    const tokens = await login(user.email);
    const host = await call("/api/v1/me/host", { method: "POST", headers: bearer(tokens.accessToken) });
    expect(host.status).toBe(200);
    expect((await bookRows(user.id)).account?.roles).toBe(JSON.stringify(["attendee", "host"]));
    const created = await call("/api/v1/events", {
      method: "POST",
      headers: { ...bearer(tokens.accessToken), "Content-Type": "application/json" },
      body: JSON.stringify(eventBody()),
    });
    expect(created.status).toBe(201);
  });

  it("a name change reaches the book after the answer", async () => {
    const user = await createUser();
    const tokens = await login(user.email);
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("https://gatehouse.test/api/v1/me/profile", {
        method: "PUT",
        headers: { ...bearer(tokens.accessToken), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ name: "Renamed Person" }),
      }),
      env,
      ctx,
    );
    expect(res.status).toBe(200);
    await waitOnExecutionContext(ctx);
    expect((await bookRows(user.id)).account?.name).toBe("Renamed Person");
  });
});

describe("the idle clock's copy in D1", () => {
  const d1LastUse = async (sid: string) =>
    (await env.DB.prepare("SELECT last_used_at FROM sessions WHERE id = ?").bind(sid).first<{ last_used_at: number }>())
      ?.last_used_at;
  const bookState = (userId: string, sid: string) =>
    runInDurableObject(
      bookOf(userId),
      (_instance, state) =>
        state.storage.sql
          .exec<{ last_used_at: number; synced_at: number }>(
            "SELECT last_used_at, synced_at FROM session_states WHERE sid = ?",
            sid,
          )
          .toArray()[0],
    );
  const alarmOf = (userId: string) => runInDurableObject(bookOf(userId), (_i, state) => state.storage.getAlarm());

  /** A signed-in user whose session was last used two minutes ago, in the book and in D1. */
  async function idleUser() {
    const user = await createUser();
    const tokens = await login(user.email);
    const { sid } = jwtClaims(tokens.accessToken);
    const before = Date.now() - 2 * 60_000;
    await setBookLastUse(user.id, sid, before);
    await env.DB.prepare("UPDATE sessions SET last_used_at = ? WHERE id = ?").bind(before, sid).run();
    return { user, tokens, sid, before };
  }

  async function use(token: string) {
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request("https://gatehouse.test/api/v1/me", {
        headers: { ...bearer(token), "CF-Connecting-IP": freshIp() },
      }),
      env,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    return res;
  }

  it("a use that moves the clock writes nothing to D1 itself; the shard's alarm copies it within seconds", async () => {
    const { user, tokens, sid, before } = await idleUser();
    const started = Date.now();
    expect((await use(tokens.accessToken)).status).toBe(200);
    const moved = await bookState(user.id, sid);
    expect(moved?.last_used_at).toBeGreaterThanOrEqual(started);
    expect(await d1LastUse(sid)).toBe(before);
    expect(await alarmOf(user.id)).toBeLessThanOrEqual((moved?.last_used_at ?? 0) + LIMITS.sessionTouchFlushMs);

    expect(await runDurableObjectAlarm(bookOf(user.id))).toBe(true);
    expect(await d1LastUse(sid)).toBe(moved?.last_used_at);
    expect(await bookState(user.id, sid)).toEqual({
      last_used_at: moved?.last_used_at,
      synced_at: moved?.last_used_at,
    });
  });

  it("a D1 batch that fails leaves the use to send and arms the alarm again; the next alarm sends it", async () => {
    const { user, tokens, sid, before } = await idleUser();
    expect((await use(tokens.accessToken)).status).toBe(200);
    const moved = await bookState(user.id, sid);
    await env.DB.exec(
      "CREATE TRIGGER refuse_touch BEFORE UPDATE OF last_used_at ON sessions BEGIN SELECT RAISE(ABORT, 'refused in this test'); END;",
    );
    try {
      const failedAt = Date.now();
      expect(await runDurableObjectAlarm(bookOf(user.id))).toBe(true);
      expect(await d1LastUse(sid)).toBe(before);
      expect((await bookState(user.id, sid))?.synced_at).toBeLessThan(moved?.last_used_at ?? 0);
      expect(await alarmOf(user.id)).toBeGreaterThanOrEqual(failedAt + LIMITS.sessionTouchRetryMs);
    } finally {
      await env.DB.exec("DROP TRIGGER refuse_touch");
    }
    expect(await runDurableObjectAlarm(bookOf(user.id))).toBe(true);
    expect(await d1LastUse(sid)).toBe(moved?.last_used_at);
  });

  it("a book from before the copy was written behind takes every stored use as already in D1", async () => {
    const shard = env.RATE_LIMITER.getByName(`old-states-${crypto.randomUUID()}`);
    const sid = crypto.randomUUID();
    await runInDurableObject(shard, (_instance, state) => {
      state.storage.sql.exec(
        `CREATE TABLE session_states (
           sid TEXT PRIMARY KEY, user_id TEXT NOT NULL, epoch INTEGER NOT NULL, last_used_at REAL NOT NULL,
           expires_at REAL NOT NULL, revoked_at REAL, revoke_reason TEXT)`,
      );
      state.storage.sql.exec(
        "INSERT INTO session_states (sid, user_id, epoch, last_used_at, expires_at) VALUES (?, 'old-user', 0, 1000, ?)",
        sid,
        Date.now() + 86_400_000,
      );
    });
    // Any call to the book brings its tables forward.
    await shard.advanceEpoch({ userId: "old-user", epoch: 0 });
    const row = await runInDurableObject(shard, (_instance, state) =>
      state.storage.sql.exec("SELECT last_used_at, synced_at FROM session_states WHERE sid = ?", sid).toArray(),
    );
    expect(row).toEqual([{ last_used_at: 1000, synced_at: 1000 }]);
  });
});

describe("a book that cannot answer", () => {
  /** The env with every user shard refusing the session check (an overloaded or unreachable object). */
  function bookDown(): Env {
    const broken = replacingMethod(env.RATE_LIMITER, "authorize", overloaded, (name) => name.startsWith("shard:user:"));
    return { ...env, RATE_LIMITER: broken } as Env;
  }

  const meIn = (target: Env, token: string) =>
    worker.fetch(
      new Request("https://gatehouse.test/api/v1/me", {
        headers: { ...bearer(token), "CF-Connecting-IP": freshIp() },
      }),
      target,
      createExecutionContext(),
    );

  it("decides on D1's copy by the same rule: a live session acts, a revoked one does not", async () => {
    const user = await createUser();
    const live = await login(user.email);
    const gone = await login(user.email);
    expect(
      (await call("/api/v1/auth/logout", { method: "POST", headers: bearer(gone.accessToken) })).status,
    ).toBeLessThan(300);
    const target = bookDown();
    expect((await meIn(target, live.accessToken)).status).toBe(200);
    expect((await meIn(target, gone.accessToken)).status).toBe(401);
    // An epoch D1 has moved past is refused too.
    await env.DB.prepare("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?").bind(user.id).run();
    expect((await meIn(target, live.accessToken)).status).toBe(401);
  });
});

/**
 * A session opened straight in a book (the user's shard, or `book` given), and `settleAt`: one check
 * of it at `now`, ordering at `ordering` when given, answering the events to settle or the verdict.
 */
async function openedInBook(
  label: string,
  { book, userId = `${label}-${crypto.randomUUID()}` }: { book?: ReturnType<typeof bookOf>; userId?: string } = {},
) {
  const sid = crypto.randomUUID();
  const t0 = Date.now();
  const stub = book ?? bookOf(userId);
  const check = { userId, sid, idleMs: 3_600_000, touchMs: 60_000, settleMs: LIMITS.ownOrdersSettleMs };
  await stub.openSession({
    userId,
    sid,
    epoch: 0,
    now: t0,
    expiresAt: t0 + 86_400_000,
    account: { roles: ["attendee"], email: `${label}@example.com`, name: label },
  });
  const settleAt = async (now: number, ordering?: string) => {
    const { verdict } = await stub.authorize({ ...check, now, ...(ordering ? { ordering } : {}) });
    return verdict.status === "valid" ? (verdict.settle ?? []) : verdict.status;
  };
  return { userId, sid, t0, book: stub, settleAt };
}

describe("orders the book remembers for their buyer's reads", () => {
  it("a valid request that may order names its event; the user's checks answer it for the window, then not", async () => {
    const { userId, sid, t0, book, settleAt } = await openedInBook("settle");
    expect(await settleAt(t0)).toEqual([]);
    expect(await settleAt(t0 + 1, "event-a")).toEqual(["event-a"]);
    expect(await settleAt(t0 + 2, "event-b")).toEqual(["event-b", "event-a"]);
    // Later checks that order nothing still answer them, newest first.
    expect(await settleAt(t0 + 3)).toEqual(["event-b", "event-a"]);
    expect(await settleAt(t0 + 1 + LIMITS.ownOrdersSettleMs - 1)).toEqual(["event-b", "event-a"]);
    expect(await settleAt(t0 + 1 + LIMITS.ownOrdersSettleMs)).toEqual(["event-b"]);
    expect(await settleAt(t0 + 2 + LIMITS.ownOrdersSettleMs)).toEqual([]);
    // A refused session is answered no events at all.
    await book.revokeSession({ userId, sid, reason: "logout", now: t0 + 10, expiresAt: t0 + 86_400_000 });
    expect(await settleAt(t0 + 11, "event-c")).toBe("invalid");
  });

  it("a refused request takes its note back; the note stays while another request behind it was not refused", async () => {
    const { userId, t0, book, settleAt } = await openedInBook("unnote");
    // One request, refused: its note goes.
    expect(await settleAt(t0 + 1, "event-a")).toEqual(["event-a"]);
    await book.unnoteOrdering({ userId, eventId: "event-a" });
    expect(await settleAt(t0 + 2)).toEqual([]);
    // A double click: two requests noted, one refused; the other's order keeps the note.
    await settleAt(t0 + 3, "event-b");
    await settleAt(t0 + 4, "event-b");
    await book.unnoteOrdering({ userId, eventId: "event-b" });
    expect(await settleAt(t0 + 5)).toEqual(["event-b"]);
    expect(await bookNotes(userId)).toEqual([{ event_id: "event-b", refs: 1 }]);
    // Both refused: gone. Taking back a note that is not there changes nothing.
    await book.unnoteOrdering({ userId, eventId: "event-b" });
    await book.unnoteOrdering({ userId, eventId: "event-b" });
    expect(await bookNotes(userId)).toEqual([]);
    expect(await settleAt(t0 + 6, "event-b")).toEqual(["event-b"]);
    expect(await bookNotes(userId)).toEqual([{ event_id: "event-b", refs: 1 }]);
    // A note past its window counts no request: a new one starts from one.
    expect(await settleAt(t0 + 6 + LIMITS.ownOrdersSettleMs, "event-b")).toEqual(["event-b"]);
    expect(await bookNotes(userId)).toEqual([{ event_id: "event-b", refs: 1 }]);
  });

  it("a book whose note table predates the count gets it, its notes counting one request each", async () => {
    const shard = env.RATE_LIMITER.getByName(`old-book-${crypto.randomUUID()}`);
    const userId = `old-${crypto.randomUUID()}`;
    await runInDurableObject(shard, (_instance, state) => {
      state.storage.sql.exec(
        `CREATE TABLE session_orders (
           user_id TEXT NOT NULL, event_id TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (user_id, event_id))`,
      );
      state.storage.sql.exec(
        "INSERT INTO session_orders (user_id, event_id, at) VALUES (?, 'event-old', ?)",
        userId,
        Date.now(),
      );
    });
    const { t0, settleAt } = await openedInBook("old", { book: shard, userId });
    expect(await settleAt(t0 + 1)).toEqual(["event-old"]);
    await shard.unnoteOrdering({ userId, eventId: "event-old" });
    expect(await settleAt(t0 + 2)).toEqual([]);
  });
});
