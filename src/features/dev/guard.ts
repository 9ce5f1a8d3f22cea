/**
 * Who may reach a development route. Three conditions, all required: the configuration enables them
 * (DEV_ROUTES=1, which config ignores in production), the environment is not production, and the
 * request names a loopback host. An environment name alone is not enough: a staging deploy set to
 * "development" would otherwise publish live sign-in codes (/dev/mailbox) and a known demo password
 * (/dev/seed). A refused request gets the same answer as a path that does not exist.
 */
import type { MiddlewareHandler } from "hono";
import type { AppContext, AppEnv } from "../../context";
import { problem } from "../../http/problem";
import { isLoopbackUrl } from "../../lib/loopback";

export function devRouteAllowed(c: AppContext): boolean {
  const config = c.get("config");
  return config.devRoutes && !config.isProduction && isLoopbackUrl(c.req.url);
}

export function devOnly(): MiddlewareHandler<AppEnv> {
  return async function devOnly(c, next) {
    // The app's own not-found answer, word for word: nothing tells a refused /dev path from a missing one.
    if (!devRouteAllowed(c)) return problem(c, "not-found", `No route for ${c.req.method} ${c.req.path}.`);
    await next();
  };
}
