/**
 * Credential schemes for the auth hook: `Authorization: Bearer <access token>` (apps) and the
 * `__Host-access` cookie (browsers, CSRF-checked). Both verify the JWT, then the session behind it.
 */
import { getCookie } from "hono/cookie";
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { DomainError } from "../../lib/errors";
import { activeSession } from "./sessions";
import { verifyAccessToken } from "./tokens";

export const ACCESS_COOKIE = "__Host-access";
export const REFRESH_COOKIE = "__Host-refresh";

async function principalFor(c: AppContext, token: string, via: "bearer" | "cookie"): Promise<Principal> {
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
  if (!claims || !session) throw new DomainError("unauthorized", "Your session has ended. Sign in again.");
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
  return principalFor(c, header.replace(/^Bearer\s+/i, "").trim(), "bearer");
};

export const cookieAuthenticator: Authenticator = async (c) => {
  const token = getCookie(c, ACCESS_COOKIE);
  if (!token) return undefined;
  return principalFor(c, token, "cookie");
};

export const userAuthenticators: readonly Authenticator[] = [bearerAuthenticator, cookieAuthenticator];
