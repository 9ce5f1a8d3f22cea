/**
 * CORS from the configured origin allowlist (CORS_ORIGINS). Credentials are allowed, so the
 * allowed origin is always echoed exactly, never "*"; unknown origins get no CORS headers at all
 * (hono's cors would still send Allow-Credentials to them).
 */
import type { MiddlewareHandler } from "hono";
import { cors as honoCors } from "hono/cors";
import { LIMITS } from "../../config/limits";
import type { AppEnv } from "../../context";

export function cors(): MiddlewareHandler<AppEnv> {
  const handlers = new WeakMap<readonly string[], MiddlewareHandler>();
  return async function cors(c, next) {
    const origins = c.get("config").corsOrigins;
    const origin = c.req.header("Origin");
    if (!origin || !origins.includes(origin)) {
      // Not ours (or not cross-origin): no CORS headers at all, but caches must still key on Origin.
      await next();
      c.res.headers.append("Vary", "Origin");
      return;
    }
    let handler = handlers.get(origins);
    if (!handler) {
      handler = honoCors({
        origin: (origin) => (origins.includes(origin) ? origin : null),
        credentials: true,
        allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        allowHeaders: ["Authorization", "Content-Type", "Idempotency-Key", "X-CSRF-Token", "X-Request-Id"],
        exposeHeaders: [
          "X-Request-Id",
          "RateLimit",
          "RateLimit-Policy",
          "Retry-After",
          "Idempotent-Replayed",
          "Location",
        ],
        maxAge: LIMITS.corsMaxAgeSeconds,
      });
      handlers.set(origins, handler);
    }
    return handler(c, next);
  };
}
