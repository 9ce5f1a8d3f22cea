/**
 * Refresh tokens and session lifetime: rotation, reuse detection (also under concurrency), the
 * 30-minute idle timeout and the 30-day absolute lifetime, checked through responses and D1.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { sha256Hex } from "../../../src/lib/crypto";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOf, rows } from "../../support/db";
import { setBookLastUse } from "../../support/sessions";
import { auditForUser, bearer, createUser, login, PASSWORD, postJson } from "./helpers";

const T0 = Date.UTC(2032, 4, 5, 8, 0, 0);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

interface Pair {
  accessToken: string;
  refreshToken: string;
}

function refresh(refreshToken: string) {
  return postJson("/api/v1/auth/refresh", { refreshToken });
}

async function refreshOk(refreshToken: string): Promise<Pair> {
  const res = await refresh(refreshToken);
  expect(res.status).toBe(200);
  return (await res.json()) as Pair;
}

async function expectUnauthorized(res: Response) {
  expect(res.status).toBe(401);
  expect(codeOf(await problemOf(res))).toBe("unauthorized");
}

function me(accessToken: string) {
  return call("/api/v1/me", { headers: bearer(accessToken) });
}

async function sessionOf(userId: string) {
  const all = await rows<{ id: string; revoked_at: number | null; revoke_reason: string | null; last_used_at: number }>(
    "SELECT id, revoked_at, revoke_reason, last_used_at FROM sessions WHERE user_id = ?",
    userId,
  );
  expect(all).toHaveLength(1);
  return all[0] as (typeof all)[number];
}

describe("refresh token rotation", () => {
  it("returns a new pair, records the rotation, and the old refresh token stops working", async () => {
    freezeClock(T0);
    const user = await createUser();
    const first = await login(user.email);
    const second = await refreshOk(first.refreshToken);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect((await me(second.accessToken)).status).toBe(200);

    const session = await sessionOf(user.id);
    const chain = await rows<{ token_hash: string; used_at: number | null; rotated_to: string | null }>(
      "SELECT token_hash, used_at, rotated_to FROM refresh_tokens WHERE session_id = ? ORDER BY created_at, used_at IS NULL",
      session.id,
    );
    const oldHash = await sha256Hex(first.refreshToken);
    const newHash = await sha256Hex(second.refreshToken);
    expect(chain).toHaveLength(2);
    expect(chain.find((r) => r.token_hash === oldHash)).toMatchObject({ rotated_to: newHash });
    expect(chain.find((r) => r.token_hash === oldHash)?.used_at).not.toBeNull();
    expect(chain.find((r) => r.token_hash === newHash)).toMatchObject({ used_at: null, rotated_to: null });

    // Past the 10 s grace for a lost answer, the rotated token is dead.
    setClock(T0 + 10_001);
    await expectUnauthorized(await refresh(first.refreshToken));
  });

  it("reuse of a rotated token revokes the whole session and is audited as token-reuse", async () => {
    freezeClock(T0);
    const user = await createUser();
    const first = await login(user.email);
    const second = await refreshOk(first.refreshToken);

    setClock(T0 + 10_001);
    await expectUnauthorized(await refresh(first.refreshToken));

    // The legitimate newest pair dies with the session.
    await expectUnauthorized(await refresh(second.refreshToken));
    await expectUnauthorized(await me(second.accessToken));
    await expectUnauthorized(await me(first.accessToken));

    const session = await sessionOf(user.id);
    expect(session.revoked_at).not.toBeNull();
    expect(session.revoke_reason).toBe("token-reuse");
    const audit = await auditForUser(user.id, "auth.token-reuse");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ outcome: "denied" });
    expect(JSON.parse(audit[0]?.detail ?? "{}")).toEqual({ sessionId: session.id });
    expect(audit[0]?.detail).not.toContain(first.refreshToken);

    // Other sessions of the same user are untouched.
    const other = await login(user.email);
    expect((await me(other.accessToken)).status).toBe(200);
  });

  it("10 concurrent refreshes with one token all get the same new pair; the family does not fork", async () => {
    const user = await createUser();
    const first = await login(user.email);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(first.refreshToken)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const pairs = (await Promise.all(results.map((r) => r.json()))) as Pair[];
    expect(new Set(pairs.map((p) => p.refreshToken)).size).toBe(1);
    expect(new Set(pairs.map((p) => p.accessToken)).size).toBe(1);

    const session = await sessionOf(user.id);
    expect(session.revoked_at).toBeNull();
    const chain = await rows<{ token_hash: string; used_at: number | null }>(
      "SELECT token_hash, used_at FROM refresh_tokens WHERE session_id = ?",
      session.id,
    );
    expect(chain).toHaveLength(2);
    expect(chain.filter((r) => r.used_at === null).map((r) => r.token_hash)).toEqual([
      await sha256Hex(pairs[0]?.refreshToken ?? ""),
    ]);

    // Once the shared successor is used, the old token is reuse: the whole session goes.
    const third = await refreshOk(pairs[0]?.refreshToken ?? "");
    await expectUnauthorized(await refresh(first.refreshToken));
    expect((await sessionOf(user.id)).revoke_reason).toBe("token-reuse");
    await expectUnauthorized(await me(third.accessToken));
    expect((await auditForUser(user.id, "auth.token-reuse")).length).toBe(1);
  });

  it("a refresh token that was never issued, or none at all, is 401", async () => {
    await expectUnauthorized(await refresh("x".repeat(43)));
    const none = await postJson("/api/v1/auth/refresh", {});
    await expectUnauthorized(none);
  });
});

describe("idle timeout (30 minutes)", () => {
  it("a refresh after 29 min 59 s of inactivity works; after 30 min 1 s it is 401 and revokes the session", async () => {
    freezeClock(T0);
    const active = await createUser();
    const idle = await createUser();
    const a = await login(active.email);
    const b = await login(idle.email);

    setClock(T0 + 30 * MINUTE - 1000);
    await refreshOk(a.refreshToken);

    setClock(T0 + 30 * MINUTE + 1000);
    await expectUnauthorized(await refresh(b.refreshToken));
    const session = await sessionOf(idle.id);
    expect(session.revoke_reason).toBe("idle");
    expect(session.revoked_at).toBe(T0 + 30 * MINUTE + 1000);
  });

  it("each refresh restarts the idle clock (refreshing every 29 minutes keeps the session)", async () => {
    freezeClock(T0);
    const user = await createUser();
    let pair: Pair = await login(user.email);
    for (let i = 1; i <= 4; i++) {
      setClock(T0 + i * 29 * MINUTE);
      pair = await refreshOk(pair.refreshToken);
      expect((await sessionOf(user.id)).last_used_at).toBe(T0 + i * 29 * MINUTE);
    }
    expect((await me(pair.accessToken)).status).toBe(200);
  });
});

/** Requests through a fresh app with extra variables, as a deployment with other settings would see them. */
function appWith(vars: Record<string, string>) {
  const app = createApp();
  const custom = { ...env, ...vars };
  return (path: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) =>
    app.request(
      `https://gatehouse.test${path}`,
      {
        method: init.method ?? (init.body === undefined ? "GET" : "POST"),
        headers: {
          "CF-Connecting-IP": freshIp(),
          ...(init.body === undefined ? {} : { "Content-Type": "application/json" }),
          ...init.headers,
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      },
      custom,
    );
}

describe("the access token and the idle timeout", () => {
  it("an unexpired access token is refused once its session has been idle too long", async () => {
    freezeClock(T0);
    // A 5-minute idle timeout, shorter than the 15-minute token lifetime, separates the two rules.
    const send = appWith({ SESSION_IDLE_SECONDS: "300" });
    const busy = await createUser();
    const quiet = await createUser();
    const signIn = async (email: string) => {
      const res = await send("/api/v1/auth/login", { body: { email, password: PASSWORD } });
      expect(res.status).toBe(200);
      return (await res.json()) as Pair;
    };
    const a = await signIn(busy.email);
    const b = await signIn(quiet.email);

    setClock(T0 + 5 * MINUTE - 1000);
    expect((await send("/api/v1/me", { headers: bearer(a.accessToken) })).status).toBe(200);

    setClock(T0 + 5 * MINUTE + 1000);
    const res = await send("/api/v1/me", { headers: bearer(b.accessToken) });
    await expectUnauthorized(res);
  });
});

describe("absolute session lifetime", () => {
  it("refreshing every 20 minutes keeps working until the lifetime ends, then everything is 401", async () => {
    freezeClock(T0);
    // Same rule, a 2-hour lifetime instead of 30 days so the walk stays short.
    const send = appWith({ SESSION_MAX_SECONDS: "7200" });
    const user = await createUser();
    const res = await send("/api/v1/auth/login", { body: { email: user.email, password: PASSWORD } });
    expect(res.status).toBe(200);
    let pair = (await res.json()) as Pair;
    for (const minutes of [20, 40, 60, 80, 100, 110]) {
      setClock(T0 + minutes * MINUTE);
      const next = await send("/api/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } });
      expect(next.status).toBe(200);
      pair = (await next.json()) as Pair;
    }
    setClock(T0 + 120 * MINUTE);
    // The access token from minute 110 is within its 15 minutes but the session is over.
    await expectUnauthorized(await send("/api/v1/me", { headers: bearer(pair.accessToken) }));
    await expectUnauthorized(await send("/api/v1/auth/refresh", { body: { refreshToken: pair.refreshToken } }));
    const session = await sessionOf(user.id);
    expect(session.revoke_reason).toBe("expired");
  });

  it("with the default settings a session cannot be refreshed at 30 days, however active", async () => {
    freezeClock(T0);
    const user = await createUser();
    const first = await login(user.email);
    const session = await sessionOf(user.id);
    // Stand-in for 30 days of refreshes every 20 minutes: the session was last used a minute ago.
    setClock(T0 + 30 * DAY - 2 * MINUTE);
    await env.DB.prepare("UPDATE sessions SET last_used_at = ? WHERE id = ?")
      .bind(T0 + 30 * DAY - 3 * MINUTE, session.id)
      .run();
    await setBookLastUse(user.id, session.id, T0 + 30 * DAY - 3 * MINUTE);
    const late = await refreshOk(first.refreshToken);

    setClock(T0 + 30 * DAY);
    await expectUnauthorized(await refresh(late.refreshToken));
    await expectUnauthorized(await me(late.accessToken));
    expect((await sessionOf(user.id)).revoke_reason).toBe("expired");
  });
});
