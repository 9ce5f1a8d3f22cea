/**
 * Browser sessions with the real cookies from a real login: cookie attributes, and the CSRF matrix
 * (cross-site refused, same-origin with the signed double-submit token accepted, bearer never
 * CSRF-checked), cookie refresh and cookie logout.
 */
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/lib/crypto";
import { call, freshIp, problemOf } from "../../helpers";
import { codeOf, rows } from "../../support/db";
import { cookieHeader, parseSetCookies } from "./cookies";
import { auditForUser, bearer, createUser, PASSWORD, postJson } from "./helpers";

const SELF = "https://gatehouse.test";
const EVIL = "https://evil.example";

async function browserLogin(options: { verified?: boolean } = {}) {
  const user = await createUser(options);
  const res = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD, cookie: true });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { accessToken: string; refreshToken: string };
  const set = parseSetCookies(res);
  const access = set.get("__Host-access");
  const refresh = set.get("__Host-refresh");
  if (!access || !refresh) throw new Error("login did not set both session cookies");
  return { user, body, set, access: access.value, refresh: refresh.value };
}

async function csrfToken(cookies: Record<string, string>) {
  const res = await call("/api/v1/auth/csrf", { headers: { Cookie: cookieHeader(cookies) } });
  expect(res.status).toBe(200);
  const { csrfToken: token } = (await res.json()) as { csrfToken: string };
  const cookie = parseSetCookies(res).get("__Host-csrf");
  return { token, cookie, res };
}

async function rolesOf(id: string) {
  const [row] = await rows<{ roles: string }>("SELECT roles FROM users WHERE id = ?", id);
  return JSON.parse(row?.roles ?? "null") as string[];
}

async function expectCsrfFailed(res: Response) {
  expect(res.status).toBe(403);
  expect(codeOf(await problemOf(res))).toBe("csrf-failed");
}

describe("login with cookie: true", () => {
  it("sets __Host-access and __Host-refresh: HttpOnly, Secure, SameSite=Lax, Path=/, no Domain", async () => {
    const { set, body } = await browserLogin();
    for (const [name, maxAge] of [
      ["__Host-access", "900"],
      ["__Host-refresh", String(30 * 24 * 3600)],
    ] as const) {
      const cookie = set.get(name);
      expect(cookie?.attributes.has("httponly")).toBe(true);
      expect(cookie?.attributes.has("secure")).toBe(true);
      expect(cookie?.attributes.get("samesite")).toBe("Lax");
      expect(cookie?.attributes.get("path")).toBe("/");
      expect(cookie?.attributes.has("domain")).toBe(false);
      expect(cookie?.attributes.get("max-age")).toBe(maxAge);
    }
    expect(set.get("__Host-access")?.value).toBe(body.accessToken);
    expect(set.get("__Host-refresh")?.value).toBe(body.refreshToken);
  });

  it("without cookie: true sets no cookie", async () => {
    const user = await createUser();
    const res = await postJson("/api/v1/auth/login", { email: user.email, password: PASSWORD });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie()).toEqual([]);
  });
});

describe("GET /api/v1/auth/csrf", () => {
  it("returns a token and sets the same value as a script-readable __Host-csrf cookie", async () => {
    const { token, cookie, res } = await csrfToken({});
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[0-9a-f]{43}$/);
    expect(cookie?.value).toBe(token);
    expect(cookie?.attributes.has("secure")).toBe(true);
    expect(cookie?.attributes.get("path")).toBe("/");
    expect(cookie?.attributes.get("samesite")).toBe("Lax");
    expect(cookie?.attributes.has("httponly")).toBe(false);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
  });
});

describe("cookie-authenticated requests", () => {
  it("GET /api/v1/me works with the cookies alone", async () => {
    const { user, access, refresh } = await browserLogin();
    const res = await call("/api/v1/me", {
      headers: { Cookie: cookieHeader({ "__Host-access": access, "__Host-refresh": refresh }) },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(user.id);
  });

  it("a cross-site POST is refused even with the right CSRF token, and changes nothing", async () => {
    const { user, access } = await browserLogin();
    const { token } = await csrfToken({ "__Host-access": access });
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: {
        Cookie: cookieHeader({ "__Host-access": access, "__Host-csrf": token }),
        Origin: EVIL,
        "X-CSRF-Token": token,
      },
    });
    await expectCsrfFailed(res);
    expect(await rolesOf(user.id)).toEqual(["attendee"]);
    expect(await auditForUser(user.id, "role.grant")).toEqual([]);
  });

  it("a same-origin POST without the X-CSRF-Token header is refused", async () => {
    const { user, access } = await browserLogin();
    const { token } = await csrfToken({ "__Host-access": access });
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: { Cookie: cookieHeader({ "__Host-access": access, "__Host-csrf": token }), Origin: SELF },
    });
    await expectCsrfFailed(res);
    expect(await rolesOf(user.id)).toEqual(["attendee"]);
  });

  it("a same-origin POST with a token that does not match the cookie is refused", async () => {
    const { user, access } = await browserLogin();
    const { token } = await csrfToken({});
    const { token: other } = await csrfToken({});
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: {
        Cookie: cookieHeader({ "__Host-access": access, "__Host-csrf": token }),
        Origin: SELF,
        "X-CSRF-Token": other,
      },
    });
    await expectCsrfFailed(res);
    expect(await rolesOf(user.id)).toEqual(["attendee"]);
  });

  it("a same-origin POST with the token from GET /api/v1/auth/csrf passes", async () => {
    const { user, access } = await browserLogin();
    const { token } = await csrfToken({ "__Host-access": access });
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: {
        Cookie: cookieHeader({ "__Host-access": access, "__Host-csrf": token }),
        Origin: SELF,
        "X-CSRF-Token": token,
      },
    });
    expect(res.status).toBe(200);
    expect(await rolesOf(user.id)).toEqual(["attendee", "host"]);
  });

  it("the same cross-site POST with a bearer token and no cookies is not CSRF-checked", async () => {
    const { user, body } = await browserLogin();
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: { ...bearer(body.accessToken), Origin: EVIL },
    });
    expect(res.status).toBe(200);
    expect(await rolesOf(user.id)).toEqual(["attendee", "host"]);
  });
});

describe("cookie refresh", () => {
  it("without a CSRF token is 403 and does not rotate the refresh token", async () => {
    const { access, refresh } = await browserLogin();
    const jars: Record<string, string>[] = [
      { "__Host-access": access, "__Host-refresh": refresh },
      { "__Host-refresh": refresh },
    ];
    for (const cookies of jars) {
      const res = await call("/api/v1/auth/refresh", {
        method: "POST",
        headers: { Cookie: cookieHeader(cookies), Origin: SELF },
      });
      await expectCsrfFailed(res);
    }
    const [row] = await rows<{ used_at: number | null }>(
      "SELECT used_at FROM refresh_tokens WHERE token_hash = ?",
      await sha256Hex(refresh),
    );
    expect(row?.used_at).toBeNull();
  });

  it("cross-site with a CSRF token is 403", async () => {
    const { refresh } = await browserLogin();
    const { token } = await csrfToken({});
    const res = await call("/api/v1/auth/refresh", {
      method: "POST",
      headers: {
        Cookie: cookieHeader({ "__Host-refresh": refresh, "__Host-csrf": token }),
        Origin: EVIL,
        "X-CSRF-Token": token,
      },
    });
    await expectCsrfFailed(res);
  });

  it("same-origin with a CSRF token rotates and sets new cookies", async () => {
    const { user, refresh } = await browserLogin();
    const { token } = await csrfToken({});
    const res = await call("/api/v1/auth/refresh", {
      method: "POST",
      ip: freshIp(),
      headers: {
        Cookie: cookieHeader({ "__Host-refresh": refresh, "__Host-csrf": token }),
        Origin: SELF,
        "X-CSRF-Token": token,
      },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; refreshToken: string };
    const set = parseSetCookies(res);
    expect(set.get("__Host-refresh")?.value).toBe(body.refreshToken);
    expect(set.get("__Host-refresh")?.value).not.toBe(refresh);
    expect(set.get("__Host-access")?.value).toBe(body.accessToken);
    expect(set.get("__Host-access")?.attributes.has("httponly")).toBe(true);

    const [old] = await rows<{ used_at: number | null }>(
      "SELECT used_at FROM refresh_tokens WHERE token_hash = ?",
      await sha256Hex(refresh),
    );
    expect(old?.used_at).not.toBeNull();
    const me = await call("/api/v1/me", { headers: { Cookie: cookieHeader({ "__Host-access": body.accessToken }) } });
    expect(((await me.json()) as { id: string }).id).toBe(user.id);
  });
});

describe("cookie logout", () => {
  it("without a CSRF token is 403 and the session stays", async () => {
    const { user, access, refresh } = await browserLogin();
    const res = await call("/api/v1/auth/logout", {
      method: "POST",
      headers: { Cookie: cookieHeader({ "__Host-access": access, "__Host-refresh": refresh }), Origin: SELF },
    });
    await expectCsrfFailed(res);
    const [session] = await rows<{ revoked_at: number | null }>(
      "SELECT revoked_at FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(session?.revoked_at).toBeNull();
  });

  it("with a CSRF token revokes the session and expires both cookies", async () => {
    const { user, access, refresh } = await browserLogin();
    const { token } = await csrfToken({});
    const cookies = { "__Host-access": access, "__Host-refresh": refresh, "__Host-csrf": token };
    const res = await call("/api/v1/auth/logout", {
      method: "POST",
      headers: { Cookie: cookieHeader(cookies), Origin: SELF, "X-CSRF-Token": token },
    });
    expect(res.status).toBe(204);
    const set = parseSetCookies(res);
    for (const name of ["__Host-access", "__Host-refresh"]) {
      const cookie = set.get(name);
      expect(cookie?.value).toBe("");
      expect(cookie?.attributes.get("max-age")).toBe("0");
      expect(cookie?.attributes.get("path")).toBe("/");
      expect(cookie?.attributes.has("secure")).toBe(true);
    }
    const [session] = await rows<{ revoked_at: number | null; revoke_reason: string | null }>(
      "SELECT revoked_at, revoke_reason FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(session?.revoke_reason).toBe("logout");
    // A copy of the old cookies no longer works.
    const replay = await call("/api/v1/me", { headers: { Cookie: cookieHeader({ "__Host-access": access }) } });
    expect(replay.status).toBe(401);
  });
});
