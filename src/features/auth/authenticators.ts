/**
 * Credential schemes for the auth hook: `Authorization: Bearer <access token>` (apps) and the
 * `__Host-access` cookie (browsers, CSRF-checked). Both verify the JWT, then the session behind it
 * in the user's shard object, which in the same call takes the user's own rate budgets the route
 * declares (`UserBudgets`: ordering's `orders-user`), left in `c.var.takenBudgets` for the route's
 * rateLimit() to answer from. No D1 read on the way (sessions.ts). A request that may place an order
 * names its event in the same call (`OrderingEvent`); the events the user's reads must let settle
 * first come back in it and are left in `c.var.settleEvents` (src/features/orders/settle.ts).
 */
import { deleteCookie, getCookie } from "hono/cookie";
import type { RatePolicyName } from "../../config/limits";
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { DomainError } from "../../lib/errors";
import { placement } from "../../lib/rate-limit-client";
import { activeSession } from "./sessions";
import { verifyAccessToken } from "./tokens";

/** The user-keyed rate policies a request takes (the route's own `user:` budgets), decided by path. */
export type UserBudgets = (c: AppContext) => readonly RatePolicyName[];

/** The event a request may place an order at, decided by path (undefined: none). */
export type OrderingEvent = (c: AppContext) => string | undefined;

export const ACCESS_COOKIE = "__Host-access";
export const REFRESH_COOKIE = "__Host-refresh";

async function principalFor(
  c: AppContext,
  token: string,
  via: "bearer" | "cookie",
  budgets: UserBudgets,
  ordering: OrderingEvent,
): Promise<Principal | null> {
  const config = c.get("config");
  const claims = await verifyAccessToken(config.jwtKeys, token);
  if (!claims) return null;
  const policies = budgets(c).map((name) => config.ratePolicies[name]);
  const eventId = ordering(c);
  const { session, decisions, settle } = await activeSession(
    { db: c.env.DB, sessions: c.env.RATE_LIMITER },
    config,
    claims,
    policies,
    Date.now(),
    eventId,
  );
  if (!session) return null;
  c.set("settleEvents", settle);
  // The book answers the event it just noted among those to settle (not when D1's copy decided).
  if (eventId && settle.includes(eventId)) c.set("orderingNoted", { userId: session.userId, eventId });
  const taken = new Map(c.get("takenBudgets"));
  for (const [i, decision] of decisions.entries()) {
    const policy = policies[i];
    if (policy) taken.set(placement(`user:${session.userId}`, policy.name).policy, decision);
  }
  c.set("takenBudgets", taken);
  return {
    kind: "user",
    id: session.userId,
    roles: session.roles,
    via,
    claims: { sid: claims.sid, email: session.email, name: session.name },
  };
}

const noBudgets: UserBudgets = () => [];
const noOrdering: OrderingEvent = () => undefined;

export const bearerAuthenticator =
  (budgets: UserBudgets = noBudgets, ordering: OrderingEvent = noOrdering): Authenticator =>
  async (c) => {
    const header = c.req.header("Authorization");
    if (!header || !/^Bearer\s/i.test(header)) return undefined;
    const principal = await principalFor(c, header.replace(/^Bearer\s+/i, "").trim(), "bearer", budgets, ordering);
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
export const cookieAuthenticator =
  (budgets: UserBudgets = noBudgets, ordering: OrderingEvent = noOrdering): Authenticator =>
  async (c) => {
    const token = getCookie(c, ACCESS_COOKIE);
    if (!token) return undefined;
    const principal = await principalFor(c, token, "cookie", budgets, ordering);
    if (principal) return principal;
    deleteCookie(c, ACCESS_COOKIE, { path: "/", secure: true });
    return undefined;
  };

/**
 * Bearer, then cookie; `budgets` names the user-keyed policies each request takes with its session
 * check, `ordering` the event it may place an order at.
 */
export function userAuthenticators(
  budgets: UserBudgets = noBudgets,
  ordering: OrderingEvent = noOrdering,
): readonly Authenticator[] {
  return [bearerAuthenticator(budgets, ordering), cookieAuthenticator(budgets, ordering)];
}
