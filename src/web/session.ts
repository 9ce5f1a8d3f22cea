/**
 * Keeps a browser signed in across page loads. The access cookie lives 15 minutes; when a page is
 * opened without a valid one but with the refresh cookie, the session is refreshed here, on the
 * server, before the page runs (rotation, reuse detection, idle and absolute lifetimes all apply as
 * for POST /api/v1/auth/refresh):
 * - on GET, a top-level navigation, which SameSite=Lax sends the cookie with and which changes
 *   nothing a cross-site page could use (the new tokens go to the browser's cookie jar only);
 * - on a form POST only once the form passed the CSRF checks every page form passes anyway (a form
 *   filled in for longer than 15 minutes must not arrive signed out and lose what was typed).
 */

import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../context";
import { REFRESH_COOKIE } from "../features/auth/authenticators";
import { clearSessionCookies, setSessionCookies } from "../features/auth/cookies";
import { authDeps } from "../features/auth/deps";
import { refresh } from "../features/auth/login";
import { assertCsrf } from "../http/csrf";
import { DomainError } from "../lib/errors";

/** A POST that passes the page forms' CSRF checks (same origin, signed `_csrf` token). */
async function isGenuineForm(c: Context<AppEnv>): Promise<boolean> {
  if (c.req.method !== "POST") return false;
  try {
    await assertCsrf(c);
    return true;
  } catch (error) {
    if (error instanceof DomainError) return false;
    throw error;
  }
}

export function pageSession(): MiddlewareHandler<AppEnv> {
  return async function pageSession(c, next) {
    const presented = getCookie(c, REFRESH_COOKIE);
    if (presented && !c.get("principal") && (c.req.method === "GET" || (await isGenuineForm(c)))) {
      try {
        const { tokens, user } = await refresh(authDeps(c), presented);
        setSessionCookies(c, tokens);
        c.set("principal", {
          kind: "user",
          id: user.id,
          roles: user.roles,
          via: "cookie",
          claims: { sid: tokens.sessionId, email: user.email, name: user.name },
        });
      } catch (error) {
        if (!(error instanceof DomainError)) throw error;
        // Expired, revoked or reused: the browser forgets it and the page renders signed out.
        clearSessionCookies(c);
      }
    }
    await next();
  };
}
