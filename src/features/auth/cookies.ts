/**
 * Browser session cookies, written by the sign-in routes and by the pages (src/web): `__Host-`
 * prefix (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax. The access cookie lives as long as its
 * token; the refresh cookie as long as the session may.
 */
import { deleteCookie, setCookie } from "hono/cookie";
import { LIMITS } from "../../config/limits";
import type { AppContext } from "../../context";
import { ACCESS_COOKIE, REFRESH_COOKIE } from "./authenticators";
import type { IssuedTokens } from "./sessions";

export function setSessionCookies(c: AppContext, tokens: IssuedTokens): void {
  const base = { httpOnly: true, secure: true, sameSite: "Lax", path: "/" } as const;
  setCookie(c, ACCESS_COOKIE, tokens.accessToken, { ...base, maxAge: LIMITS.accessTokenSeconds });
  setCookie(c, REFRESH_COOKIE, tokens.refreshToken, { ...base, maxAge: c.get("config").sessionMaxSeconds });
}

export function clearSessionCookies(c: AppContext): void {
  for (const name of [ACCESS_COOKIE, REFRESH_COOKIE]) deleteCookie(c, name, { path: "/", secure: true });
}
