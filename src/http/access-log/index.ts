/**
 * Access log: one JSON line per request with request id, method, route pattern (not the raw path,
 * which can carry ids and tokens), status, duration and a keyed hash of the user id. Nothing from
 * headers or bodies is logged. Requests slower than LIMITS.slowRequestMs are logged at warn.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { LIMITS } from "../../config/limits";
import type { AppEnv } from "../../context";
import { BoundedCache } from "../../lib/bounded-cache";
import { hmacHex } from "../../lib/crypto";
import { log } from "../../lib/log";

export interface AccessLogOptions {
  slowMs?: number;
}

/** Principal → its keyed hash, for the pepper they were made with (a device scans thousands of times). */
const userTags = new BoundedCache<string, string>(LIMITS.accessLogTagCacheEntries);
let tagsPepper: string | null = null;

async function userTag(pepper: string, principal: { kind: string; id: string }): Promise<string> {
  if (pepper !== tagsPepper) {
    userTags.clear();
    tagsPepper = pepper;
  }
  const key = `${principal.kind}:${principal.id}`;
  let tag = userTags.get(key);
  if (tag === undefined) {
    tag = (await hmacHex(pepper, key)).slice(0, 16);
    userTags.set(key, tag);
  }
  return tag;
}

export function accessLog(options: AccessLogOptions = {}): MiddlewareHandler<AppEnv> {
  const slowMs = options.slowMs ?? LIMITS.slowRequestMs;
  return async function accessLog(c, next) {
    const started = performance.now();
    await next();
    // Workers freezes timers between I/O; performance.now() still advances across awaits.
    const ms = Math.round(performance.now() - started);
    // A key's requests are the host's, whether or not the route let the key act.
    const principal = c.get("principal") ?? c.get("scopedPrincipal");
    const config = c.get("config");
    const user = principal && config ? await userTag(config.hashPepper, principal) : null;
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
