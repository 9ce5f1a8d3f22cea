/**
 * The web front door: server-rendered pages on the same Worker as the API (README, "Web pages").
 * Everything outside the API's own paths is a page. Page requests get the session kept alive
 * (./session.ts) and errors as pages (./errors.tsx); /assets/* comes from the static assets binding
 * with our security headers (the Worker runs first for every request).
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { AppEnv } from "../context";
import { clearSessionCookies } from "../features/auth/cookies";
import { authDeps } from "../features/auth/deps";
import { logout } from "../features/auth/login";
import { readForm } from "./forms";
import { seeOther } from "./page";
import { accountPages } from "./pages/account";
import { attendeePages } from "./pages/attendee";
import { creatorPages } from "./pages/creators/routes";
import { hostPages } from "./pages/host";
import { billingPages } from "./pages/money/billing";
import { scannerPages } from "./pages/scan";
import { socialPages } from "./pages/social";
import { pageSession } from "./session";

/** Paths the API, media, operations and tooling own; everything else is a page. */
const NOT_PAGES = /^\/(api|media|dev|health|openapi\.json|docs|auth|assets)(\/|$)/;

export function isPagePath(path: string): boolean {
  return !NOT_PAGES.test(path);
}

/** Runs `middleware` on page paths only (a sub-app's own `use("*")` would reach the API too). */
export function onPages(middleware: MiddlewareHandler<AppEnv>): MiddlewareHandler<AppEnv> {
  return async (c, next) => (isPagePath(c.req.path) ? middleware(c, next) : next());
}

export const pageMiddleware = onPages(pageSession());

/** Static files change with a deploy: cached an hour, then revalidated (ETag). */
const ASSET_CACHE = "public, max-age=3600, stale-while-revalidate=86400";

export const webRoutes = new Hono<AppEnv>()
  .get("/assets/*", async (c) => {
    const response = await c.env.ASSETS.fetch(c.req.raw);
    const headers = new Headers(response.headers);
    if (response.ok) headers.set("Cache-Control", ASSET_CACHE);
    return new Response(response.body, { status: response.status, headers });
  })
  .post("/logout", async (c) => {
    await readForm(c);
    const principal = c.get("principal");
    const sid = principal?.claims?.sid;
    if (principal && typeof sid === "string") await logout(authDeps(c), sid, principal.id);
    clearSessionCookies(c);
    return seeOther(c, "/login?signedOut=1");
  })
  .route("/", accountPages)
  .route("/", attendeePages)
  .route("/", hostPages)
  .route("/", scannerPages)
  .route("/", creatorPages)
  .route("/", billingPages)
  .route("/", socialPages);
