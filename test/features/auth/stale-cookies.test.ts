/**
 * A stale session cookie (after a reset, a revoked session, a lost refresh answer) used to lock a
 * browser out of everything, even /auth/login, until it expired. Failed cookie credentials are now
 * ignored on public and auth routes and cleared with the answer; a refresh retried within 10 s of a
 * lost answer gets the same new pair instead of revoking the family, and reuse later still revokes it.
 */
import { describe, expect, it } from "vitest";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOf, rows } from "../../support/db";
import { cookieHeader, parseSetCookies } from "./cookies";
import { createUser, PASSWORD, postJson, tokenFromMail } from "./helpers";

const SELF = "https://gatehouse.test";
const T0 = Date.UTC(2032, 6, 1, 10, 0, 0);

async function browserLogin(email: string, password = PASSWORD) {
  const res = await postJson("/api/v1/auth/login", { email, password, cookie: true });
  expect(res.status).toBe(200);
  const set = parseSetCookies(res);
  return { access: set.get("__Host-access")?.value ?? "", refresh: set.get("__Host-refresh")?.value ?? "" };
}

async function resetPassword(email: string, password: string) {
  expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
  const token = await tokenFromMail(email, "reset-password");
  expect((await postJson("/api/v1/auth/reset-password", { token, password })).status).toBe(200);
}

function expectCleared(res: Response, name: string) {
  const cookie = parseSetCookies(res).get(name);
  expect(cookie?.value).toBe("");
  expect(cookie?.attributes.get("max-age")).toBe("0");
}

async function cookieRefresh(refresh: string) {
  const csrf = await call("/api/v1/auth/csrf");
  const { csrfToken } = (await csrf.json()) as { csrfToken: string };
  return call("/api/v1/auth/refresh", {
    method: "POST",
    ip: freshIp(),
    headers: {
      Cookie: cookieHeader({ "__Host-refresh": refresh, "__Host-csrf": csrfToken }),
      Origin: SELF,
      "X-CSRF-Token": csrfToken,
    },
  });
}

describe("a browser holding cookies of a session a reset ended", () => {
  it("can sign in again: the stale cookie is ignored on /auth/login and the new cookies replace it", async () => {
    const user = await createUser();
    const stale = await browserLogin(user.email);
    await resetPassword(user.email, "a-fresh-passphrase");

    const res = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: "a-fresh-passphrase", cookie: true },
      { headers: { Cookie: cookieHeader({ "__Host-access": stale.access, "__Host-refresh": stale.refresh }) } },
    );
    expect(res.status).toBe(200);
    const set = parseSetCookies(res);
    expect(set.get("__Host-access")?.value).toBeTruthy();
    expect(set.get("__Host-access")?.value).not.toBe(stale.access);
    expect(
      (await call("/api/v1/me", { headers: { Cookie: `__Host-access=${set.get("__Host-access")?.value}` } })).status,
    ).toBe(200);
  });

  it("reads public routes as anonymous and is told to forget the access cookie; private routes stay 401", async () => {
    const user = await createUser();
    const stale = await browserLogin(user.email);
    await resetPassword(user.email, "a-fresh-passphrase");
    const cookies = { Cookie: cookieHeader({ "__Host-access": stale.access, "__Host-refresh": stale.refresh }) };

    const events = await call("/api/v1/events", { headers: cookies });
    expect(events.status).toBe(200);
    expectCleared(events, "__Host-access");

    const csrf = await call("/api/v1/auth/csrf", { headers: cookies });
    expect(csrf.status).toBe(200);

    const me = await call("/api/v1/me", { headers: cookies });
    expect(me.status).toBe(401);
    expect(codeOf(await problemOf(me))).toBe("unauthorized");
  });

  it("a refresh with the dead refresh cookie is 401 and clears both session cookies", async () => {
    const user = await createUser();
    const stale = await browserLogin(user.email);
    await resetPassword(user.email, "a-fresh-passphrase");
    const res = await cookieRefresh(stale.refresh);
    expect(res.status).toBe(401);
    expectCleared(res, "__Host-access");
    expectCleared(res, "__Host-refresh");
  });

  it("a bearer token that is no longer valid is still an error, never anonymous", async () => {
    const user = await createUser();
    const login = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD });
    const { accessToken } = (await login.json()) as { accessToken: string };
    await resetPassword(user.email, "a-fresh-passphrase");
    const events = await call("/api/v1/events", { headers: { Authorization: `Bearer ${accessToken}` } });
    expect(events.status).toBe(401);
  });
});

describe("a refresh whose answer was lost", () => {
  it("retried within 10 s gets the same new pair and the session lives on", async () => {
    freezeClock(T0);
    const user = await createUser();
    const { refresh } = await browserLogin(user.email);
    const first = await cookieRefresh(refresh);
    expect(first.status).toBe(200);
    const lost = (await first.json()) as { accessToken: string; refreshToken: string };

    setClock(T0 + 10_000);
    const retry = await cookieRefresh(refresh);
    expect(retry.status).toBe(200);
    const again = (await retry.json()) as { accessToken: string; refreshToken: string };
    expect(again).toEqual(lost);
    expect(parseSetCookies(retry).get("__Host-refresh")?.value).toBe(lost.refreshToken);

    const [session] = await rows<{ revoked_at: number | null }>(
      "SELECT revoked_at FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(session?.revoked_at).toBeNull();
    expect(
      await rows(
        "SELECT token_hash FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.user_id = ?",
        user.id,
      ),
    ).toHaveLength(2);
    const next = await cookieRefresh(again.refreshToken);
    expect(next.status).toBe(200);
  });

  it("presented again after the 10 s grace, the rotated token revokes the whole family", async () => {
    freezeClock(T0);
    const user = await createUser();
    const { refresh } = await browserLogin(user.email);
    const first = await cookieRefresh(refresh);
    const pair = (await first.json()) as { accessToken: string; refreshToken: string };

    setClock(T0 + 10_001);
    const late = await cookieRefresh(refresh);
    expect(late.status).toBe(401);
    const [session] = await rows<{ revoke_reason: string | null }>(
      "SELECT revoke_reason FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(session?.revoke_reason).toBe("token-reuse");
    expect((await cookieRefresh(pair.refreshToken)).status).toBe(401);
  });
});
