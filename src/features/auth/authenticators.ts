/**
 * Credential schemes for the auth hook: `Authorization: Bearer <access token>` (apps) and the
 * `__Host-access` cookie (browsers, CSRF-checked). Both verify the JWT, then the session behind it.
 */
import { deleteCookie, getCookie } from "hono/cookie";
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { DomainError } from "../../lib/errors";
import { activeSession } from "./sessions";
import { verifyAccessToken } from "./tokens";

export const ACCESS_COOKIE = "__Host-access";
export const REFRESH_COOKIE = "__Host-refresh";

async function principalFor(c: AppContext, token: string, via: "bearer" | "cookie"): Promise<Principal | null> {
  const config = c.get("config");
  const claims = await verifyAccessToken(config.jwtKeys, token);
  const session =
    claims &&
    (await activeSession(c.env.DB, config, claims, Date.now(), (p) => {
      try {
        c.executionCtx.waitUntil(p);
      } catch {
        // No execution context (app.request in tests): let the touch finish on its own.
        void p;
      }
    }));
  if (!claims || !session) return null;
  return {
    kind: "user",
    id: session.userId,
    roles: session.roles,
    via,
    claims: { sid: claims.sid, email: session.email, name: session.name },
  };
}

export const bearerAuthenticator: Authenticator = async (c) => {
  const header = c.req.header("Authorization");
  if (!header || !/^Bearer\s/i.test(header)) return undefined;
  const principal = await principalFor(c, header.replace(/^Bearer\s+/i, "").trim(), "bearer");
  // An app sent this token on purpose: a bad one is an error, never a silent downgrade to anonymous.
  if (!principal) throw new DomainError("unauthorized", "Your session has ended. Sign in again.");
  return principal;
};

/**
 * A browser sends its cookies everywhere, including to sign-in and public pages: a stale one (after a
 * reset, a lost refresh answer, an expiry) must not lock the browser out of signing in again. A cookie
 * credential that fails is ignored (the request goes on as anonymous, so routes that need a user still
 * answer 401) and the access cookie is cleared with the answer; the refresh cookie stays, since an
 * expired access token is what refresh is for (refresh clears both when it fails).
 */
export const cookieAuthenticator: Authenticator = async (c) => {
  const token = getCookie(c, ACCESS_COOKIE);
  if (!token) return undefined;
  const principal = await principalFor(c, token, "cookie");
  if (principal) return principal;
  deleteCookie(c, ACCESS_COOKIE, { path: "/", secure: true });
  return undefined;
};

export const userAuthenticators: readonly Authenticator[] = [bearerAuthenticator, cookieAuthenticator];
