/**
 * Request body size limit: 1 MB by default (LIMITS.jsonBodyBytes); routes that take larger bodies
 * (media uploads) are listed with their own limit. Checked on Content-Length and while streaming,
 * so a chunked body cannot slip past. Over the limit: 413 problem, or the
 * answer `tooLarge` gives (the app gives a browser its error page).
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { LIMITS } from "../../config/limits";
import type { AppEnv } from "../../context";
import { problem } from "../problem";

export interface BodyLimitOptions {
  defaultBytes?: number;
  /** Path prefix → limit in bytes, for routes that accept more (or less) than the default. */
  routes?: Record<string, number>;
  /** The answer over the limit when it is not the problem document (the app's error page for a browser). */
  tooLarge?: (c: Context<AppEnv>, maxSize: number) => Response | Promise<Response> | undefined;
}

export function bodyLimit(options: BodyLimitOptions = {}): MiddlewareHandler<AppEnv> {
  const defaultBytes = options.defaultBytes ?? LIMITS.jsonBodyBytes;
  const routes = Object.entries(options.routes ?? {}).sort((a, b) => b[0].length - a[0].length);
  const limiters = new Map<number, MiddlewareHandler<AppEnv>>();
  const limiterFor = (maxSize: number) => {
    let limiter = limiters.get(maxSize);
    if (!limiter) {
      limiter = honoBodyLimit({
        maxSize,
        onError: (c) =>
          options.tooLarge?.(c, maxSize) ??
          problem(c, "payload-too-large", `The request body must not exceed ${maxSize} bytes.`, {
            limitBytes: maxSize,
          }),
      });
      limiters.set(maxSize, limiter);
    }
    return limiter;
  };
  return async function bodyLimit(c, next) {
    const path = c.req.path;
    const match = routes.find(([prefix]) => path === prefix || path.startsWith(`${prefix}/`));
    return limiterFor(match ? match[1] : defaultBytes)(c, next);
  };
}
