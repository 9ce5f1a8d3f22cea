/**
 * Keeps a browser signed in across page loads. The access cookie lives 15 minutes; when a page is
 * opened without a valid one but with the refresh cookie, the session is refreshed here, on the
 * server, before the page renders (rotation, reuse detection, idle and absolute lifetimes all apply
 * as for POST /api/v1/auth/refresh). Only on GET: a top-level navigation, which SameSite=Lax sends
 * the cookie with and which changes nothing a cross-site page could use (the new tokens go to the
 * browser's cookie jar only).
 */

import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../context";
import { REFRESH_COOKIE } from "../features/auth/authenticators";
import { clearSessionCookies, setSessionCookies } from "../features/auth/cookies";
import { authDeps } from "../features/auth/deps";
import { refresh } from "../features/auth/login";
import { DomainError } from "../lib/errors";

export function pageSession(): MiddlewareHandler<AppEnv> {
  return async function pageSession(c, next) {
    const presented = getCookie(c, REFRESH_COOKIE);
    if (c.req.method === "GET" && !c.get("principal") && presented) {
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
