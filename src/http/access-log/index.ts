/**
 * Access log: one JSON line per request with request id, method, route pattern (not the raw path,
 * which can carry ids and tokens), status, duration and a keyed hash of the user id. Nothing from
 * headers or bodies is logged. Requests slower than LIMITS.slowRequestMs are logged at warn.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { LIMITS } from "../../config/limits";
import type { AppEnv } from "../../context";
import { hmacHex } from "../../lib/crypto";
import { log } from "../../lib/log";

export interface AccessLogOptions {
  slowMs?: number;
}

export function accessLog(options: AccessLogOptions = {}): MiddlewareHandler<AppEnv> {
  const slowMs = options.slowMs ?? LIMITS.slowRequestMs;
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    // Workers freezes timers between I/O; performance.now() still advances across awaits.
    const ms = Math.round(performance.now() - started);
    const principal = c.get("principal");
    const config = c.get("config");
    const user =
      principal && config ? (await hmacHex(config.hashPepper, `${principal.kind}:${principal.id}`)).slice(0, 16) : null;
    log(ms > slowMs ? "warn" : "info", "request", {
      requestId: c.get("requestId"),
      method: c.req.method,
      route: routePath(c, -1),
      status: c.res.status,
      ms,
      user,
      ...(ms > slowMs ? { slow: true } : {}),
    });
  };
}
