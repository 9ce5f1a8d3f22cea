/**
 * Request id: every response carries `X-Request-Id`. A well-formed incoming id is kept so a client
 * or upstream proxy can correlate; otherwise Cloudflare's `cf-ray`; otherwise a random id.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../context";
import { randomId } from "../../lib/crypto";

export const REQUEST_ID_HEADER = "X-Request-Id";
/** Printable token characters only, bounded: an id is echoed into logs and headers. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestId(c, next) {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const ray = c.req.header("cf-ray");
    const id =
      incoming && REQUEST_ID_PATTERN.test(incoming) ? incoming : ray && REQUEST_ID_PATTERN.test(ray) ? ray : randomId();
    c.set("requestId", id);
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, id);
  };
}
