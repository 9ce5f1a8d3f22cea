import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RateLimiter } from "../../durable-objects/rate-limiter";
import { LIMITS } from "../../src/config/limits";
import { freezeClock, setClock } from "../support/clock";

const policy = { policy: "t", limit: 5, windowSeconds: 60 };
let n = 0;
const stubFor = () => env.RATE_LIMITER.getByName(`test:${++n}:${crypto.randomUUID()}`);

describe("RateLimiter (GCRA)", () => {
  it("allows exactly `limit` requests in a burst, then denies with Retry-After", async () => {
    const stub = stubFor();
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await stub.consume(policy));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    // One unit comes back every window/limit = 12 s.
    expect(decisions[5]).toMatchObject({ allowed: false, retryAfterSeconds: 12, resetSeconds: 60 });
  });

  it("a denied request takes nothing: the next unit is available after exactly one interval", async () => {
    freezeClock(Date.UTC(2030, 0, 1));
    const stub = stubFor();
    for (let i = 0; i < 5; i++) expect((await stub.consume(policy)).allowed).toBe(true);
    for (let i = 0; i < 20; i++) expect((await stub.consume(policy)).allowed).toBe(false);
    setClock(Date.UTC(2030, 0, 1) + 11_999);
    expect((await stub.consume(policy)).allowed).toBe(false);
    setClock(Date.UTC(2030, 0, 1) + 12_000);
    expect((await stub.consume(policy)).allowed).toBe(true);
    expect((await stub.consume(policy)).allowed).toBe(false);
  });

  it("recovers the whole quota after one window", async () => {
    freezeClock(Date.UTC(2030, 0, 1));
    const stub = stubFor();
    for (let i = 0; i < 5; i++) await stub.consume(policy);
    expect((await stub.consume(policy)).allowed).toBe(false);
    setClock(Date.UTC(2030, 0, 1) + 60_000);
    const after = [];
    for (let i = 0; i < 6; i++) after.push((await stub.consume(policy)).allowed);
    expect(after).toEqual([true, true, true, true, true, false]);
  });

  it("keeps policies apart within one key, and keys apart from each other", async () => {
    const a = stubFor();
    const b = stubFor();
    for (let i = 0; i < 5; i++) await a.consume(policy);
    expect((await a.consume(policy)).allowed).toBe(false);
    expect((await a.consume({ ...policy, policy: "other" })).allowed).toBe(true);
    expect((await b.consume(policy)).allowed).toBe(true);
  });

  it("cost 0 asks without taking", async () => {
    const stub = stubFor();
    for (let i = 0; i < 4; i++) await stub.consume(policy);
    expect(await stub.consume({ ...policy, cost: 0 })).toMatchObject({ allowed: true, remaining: 1 });
    expect(await stub.consume({ ...policy, cost: 0 })).toMatchObject({ allowed: true, remaining: 1 });
    await stub.consume(policy);
    expect(await stub.consume({ ...policy, cost: 0 })).toMatchObject({ allowed: false, remaining: 0 });
  });

  it("200 concurrent callers on one key: exactly `limit` pass", async () => {
    const stub = stubFor();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => stub.consume({ policy: "burst", limit: 37, windowSeconds: 60 })),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(37);
    expect(results.filter((r) => !r.allowed)).toHaveLength(163);
  });

  it("survives eviction: the spent budget is read back from SQLite", async () => {
    const stub = stubFor();
    for (let i = 0; i < 5; i++) await stub.consume(policy);
    await evictDurableObject(stub);
    expect((await stub.consume(policy)).allowed).toBe(false);
    const stored = await runInDurableObject(stub, (_instance: RateLimiter, state) =>
      state.storage.sql.exec<{ policy: string }>("SELECT policy FROM gcra").toArray(),
    );
    expect(stored).toEqual([{ policy: "t" }]);
  });

  it("a budget at most half spent lives in memory only (no row, no alarm); past half, every call is stored", async () => {
    const stub = stubFor();
    const rows = () =>
      runInDurableObject(stub, (_instance: RateLimiter, state) => ({
        rows: state.storage.sql.exec<{ policy: string; tat: number }>("SELECT policy, tat FROM gcra").toArray(),
      }));
    const ten = { policy: "ten", limit: 10, windowSeconds: 60 };
    for (let i = 0; i < 5; i++) expect((await stub.consume(ten)).allowed).toBe(true);
    expect((await rows()).rows).toEqual([]);
    expect(await runInDurableObject(stub, (_i: RateLimiter, state) => state.storage.getAlarm())).toBeNull();
    // The 6th unit takes it past half: stored, and the cleanup alarm is set.
    expect((await stub.consume(ten)).remaining).toBe(4);
    const stored = (await rows()).rows;
    expect(stored).toEqual([{ policy: "ten", tat: expect.any(Number) }]);
    expect((await stub.consume(ten)).remaining).toBe(3);
    expect((await rows()).rows[0]?.tat).toBeGreaterThan(stored[0]?.tat ?? Number.POSITIVE_INFINITY);
  });

  it("after an eviction, a key that was past half keeps its spent budget; one below half gets at most half back", async () => {
    const stub = stubFor();
    const ten = { policy: "ten", limit: 10, windowSeconds: 60 };
    const four = { policy: "four", limit: 10, windowSeconds: 60 };
    for (let i = 0; i < 8; i++) await stub.consume(ten);
    for (let i = 0; i < 4; i++) await stub.consume(four);
    await evictDurableObject(stub);
    expect((await stub.consume(ten)).remaining).toBe(1);
    expect((await stub.consume(four)).remaining).toBe(9);
  });

  it("reset forgets one policy", async () => {
    const stub = stubFor();
    for (let i = 0; i < 5; i++) await stub.consume(policy);
    await stub.reset("t");
    expect((await stub.consume(policy)).remaining).toBe(4);
  });

  it("the alarm deletes rows whose budget is fully restored and keeps the rest", async () => {
    const stub = stubFor();
    await stub.consume({ policy: "short", limit: 1, windowSeconds: 1 });
    await stub.consume({ policy: "long", limit: 1, windowSeconds: 3600 });
    const real = Date.now();
    freezeClock(real + 2_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const rows = await runInDurableObject(stub, (_i: RateLimiter, state) =>
      state.storage.sql.exec<{ policy: string }>("SELECT policy FROM gcra ORDER BY policy").toArray(),
    );
    expect(rows).toEqual([{ policy: "long" }]);
    const alarm = await runInDurableObject(stub, (_i: RateLimiter, state) => state.storage.getAlarm());
    expect(alarm).toBeGreaterThan(real + 3_000_000);
  });
});

describe("RateLimiter: the session book's order notes", () => {
  it("a note arms the cleanup alarm; the alarm deletes the notes past their window and re-arms for the live ones", async () => {
    const stub = stubFor();
    const window = LIMITS.ownOrdersSettleMs;
    const real = Date.now();
    const userId = `notes-${crypto.randomUUID()}`;
    const sid = crypto.randomUUID();
    await stub.openSession({
      userId,
      sid,
      epoch: 0,
      now: real,
      expiresAt: real + 86_400_000,
      account: { roles: ["attendee"], email: "notes@example.com", name: "Notes" },
    });
    const check = { userId, sid, idleMs: 3_600_000, touchMs: 60_000, settleMs: window };
    const alarm = () => runInDurableObject(stub, (_i: RateLimiter, state) => state.storage.getAlarm());
    const notes = () =>
      runInDurableObject(stub, (_i: RateLimiter, state) =>
        state.storage.sql.exec<{ event_id: string }>("SELECT event_id FROM session_orders ORDER BY at").toArray(),
      );
    // A check that orders nothing arms nothing.
    await stub.authorize({ ...check, now: real });
    expect(await alarm()).toBeNull();
    await stub.authorize({ ...check, now: real, ordering: "event-1" });
    expect(await alarm()).toBe(real + window);
    // A pending alarm is kept as it is.
    await stub.authorize({ ...check, now: real + 1_000, ordering: "event-2" });
    expect(await alarm()).toBe(real + window);

    freezeClock(real + window);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await notes()).toEqual([{ event_id: "event-2" }]);
    expect(await alarm()).toBe(real + 1_000 + window);
    setClock(real + 1_000 + window);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await notes()).toEqual([]);
    // Nothing left to clean but the account of a live session: the alarm waits for its end.
    expect(await alarm()).toBe(real + 86_400_000);
  });
});

describe("RateLimiter lockout", () => {
  const otp = { policy: "otp", limit: 5, windowSeconds: 900, lockSeconds: 900 };

  it("the 5th failure locks the key for 15 minutes; then the budget starts fresh", async () => {
    const start = Date.UTC(2030, 3, 1);
    freezeClock(start);
    const stub = stubFor();
    for (let i = 0; i < 4; i++) expect((await stub.consume(otp)).allowed).toBe(true);
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: true, remaining: 1 });
    expect(await stub.consume(otp)).toMatchObject({ allowed: true, remaining: 0, resetSeconds: 900 });
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: false, retryAfterSeconds: 900 });
    setClock(start + 899_000);
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    setClock(start + 900_000);
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: true, remaining: 5 });
  });
});

describe("RateLimiter storage schema", () => {
  it("brings a table written by the first schema version forward, keeping its budgets", async () => {
    const stub = stubFor();
    await stub.ping();
    await runInDurableObject(stub, (_i: RateLimiter, state) => {
      state.storage.sql.exec("DROP TABLE gcra");
      state.storage.sql.exec(
        "CREATE TABLE gcra (policy TEXT PRIMARY KEY, tat REAL NOT NULL, expires_at REAL NOT NULL)",
      );
      state.storage.sql.exec("INSERT INTO gcra VALUES ('t', ?, ?)", Date.now() + 60_000, Date.now() + 60_000);
      state.storage.sql.exec("DELETE FROM schema_version");
    });
    await evictDurableObject(stub);
    expect((await stub.consume(policy)).allowed).toBe(false);
    const columns = await runInDurableObject(stub, (_i: RateLimiter, state) =>
      state.storage.sql
        .exec<{ name: string }>("PRAGMA table_info(gcra)")
        .toArray()
        .map((c) => c.name),
    );
    expect(columns).toContain("locked_until");
  });
});

describe("RateLimiter sliding window (failure counters)", () => {
  const failures = { policy: "fail", limit: 5, windowSeconds: 900, algorithm: "window" as const };

  it("trips on 5 failures within 15 minutes however they are spaced (GCRA would refill)", async () => {
    const start = Date.UTC(2030, 5, 1);
    freezeClock(start);
    const stub = stubFor();
    for (let i = 0; i < 5; i++) {
      setClock(start + i * 3.5 * 60_000);
      expect((await stub.consume(failures)).allowed).toBe(true);
    }
    setClock(start + 14.5 * 60_000);
    const denied = await stub.consume({ ...failures, cost: 0 });
    expect(denied).toMatchObject({ allowed: false, remaining: 0 });
    // The oldest failure leaves the window at 15 min: 30 s from now.
    expect(denied.retryAfterSeconds).toBe(30);
    setClock(start + 15 * 60_000);
    expect(await stub.consume({ ...failures, cost: 0 })).toMatchObject({ allowed: true, remaining: 1 });
  });

  it("with a lock, the 5th failure locks for the lock period even when spaced out", async () => {
    const start = Date.UTC(2030, 6, 1);
    freezeClock(start);
    const stub = stubFor();
    const otp = { ...failures, policy: "otp-w", lockSeconds: 900 };
    for (let i = 0; i < 5; i++) {
      setClock(start + i * 3.5 * 60_000);
      expect((await stub.consume(otp)).allowed).toBe(true);
    }
    const lockedAt = start + 4 * 3.5 * 60_000;
    setClock(lockedAt + 899_000);
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    setClock(lockedAt + 900_000);
    expect(await stub.consume({ ...otp, cost: 0 })).toMatchObject({ allowed: true, remaining: 5 });
  });

  it("200 concurrent failures on one key: exactly `limit` are counted as allowed", async () => {
    const stub = stubFor();
    const results = await Promise.all(Array.from({ length: 200 }, () => stub.consume({ ...failures, limit: 7 })));
    expect(results.filter((r) => r.allowed)).toHaveLength(7);
  });

  it("reset clears the log", async () => {
    const stub = stubFor();
    for (let i = 0; i < 4; i++) await stub.consume(failures);
    await stub.reset("fail");
    expect((await stub.consume({ ...failures, cost: 0 })).remaining).toBe(5);
  });
});

describe("RateLimiter giveBack", () => {
  it("returns the newest unit of a window policy", async () => {
    const stub = stubFor();
    const attempts = { policy: "attempts", limit: 3, windowSeconds: 900, algorithm: "window" as const };
    for (let i = 0; i < 3; i++) await stub.consume(attempts);
    expect((await stub.consume({ ...attempts, cost: 0 })).allowed).toBe(false);
    await stub.giveBack("attempts");
    expect(await stub.consume({ ...attempts, cost: 0 })).toMatchObject({ allowed: true, remaining: 1 });
  });
});

describe("RateLimiter as a session book: names and addresses of accounts with no session left", () => {
  const account = (name: string) => ({ roles: ["attendee"], email: `${name}@example.com`, name });
  const accounts = (stub: ReturnType<typeof stubFor>) =>
    runInDurableObject(stub, (_i: RateLimiter, state) =>
      state.storage.sql
        .exec<{ user_id: string; epoch: number; email: string | null; name: string | null }>(
          "SELECT user_id, epoch, email, name FROM session_accounts ORDER BY user_id",
        )
        .toArray(),
    );
  const alarm = (stub: ReturnType<typeof stubFor>) =>
    runInDurableObject(stub, (_i: RateLimiter, state) => state.storage.getAlarm());

  it("go at the shard's alarm once every session of theirs has ended or been revoked; the epoch stays; a sign-in brings them back", async () => {
    const t0 = Date.now() + 30 * 24 * 60 * 60 * 1000;
    freezeClock(t0);
    const stub = stubFor();
    const open = (userId: string, sid: string, expiresAt: number, epoch = 0) =>
      stub.openSession({ userId, sid, epoch, now: Date.now(), expiresAt, account: account(userId) });
    expect((await open("a-expired", "s-a", t0 + 1_000)).ok).toBe(true);
    expect((await open("b-live", "s-b", t0 + 60 * 60 * 1000)).ok).toBe(true);
    expect((await open("c-revoked", "s-c", t0 + 60 * 60 * 1000, 3)).ok).toBe(true);
    stub.revokeSession({ userId: "c-revoked", sid: "s-c", reason: "logout", now: t0, expiresAt: t0 + 60 * 60 * 1000 });
    // A budget row, so the shard has a cleanup alarm.
    for (let i = 0; i < 5; i++) await stub.consume(policy);

    setClock(t0 + 1_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await accounts(stub)).toEqual([
      { user_id: "a-expired", epoch: 0, email: null, name: null },
      { user_id: "b-live", epoch: 0, email: "b-live@example.com", name: "b-live" },
      { user_id: "c-revoked", epoch: 3, email: null, name: null },
    ]);
    // Once the budget row is gone too, the alarm waits for the last session to end, then clears that
    // account as well.
    const rowsEnd = (await alarm(stub)) as number;
    expect(rowsEnd).toBeLessThan(t0 + 60 * 60 * 1000);
    setClock(rowsEnd);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await alarm(stub)).toBe(t0 + 60 * 60 * 1000);
    setClock(t0 + 60 * 60 * 1000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await accounts(stub)).map((a) => a.email)).toEqual([null, null, null]);
    expect(await alarm(stub)).toBeNull();

    // Signing in again brings them back.
    expect((await open("a-expired", "s-a2", t0 + 2 * 60 * 60 * 1000)).ok).toBe(true);
    expect((await accounts(stub))[0]).toMatchObject({ email: "a-expired@example.com", name: "a-expired" });
  });
});
