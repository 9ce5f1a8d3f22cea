/**
 * CSRF defence for cookie-authenticated requests (browsers). Bearer and device credentials are never
 * sent automatically by a browser, so only principals that arrived `via: "cookie"` are checked.
 * An unsafe method must pass both:
 * 1. origin: `Origin` is this site or an allowlisted origin, or `Sec-Fetch-Site: same-origin`;
 * 2. double submit: the `X-CSRF-Token` header equals the `__Host-csrf` cookie (constant-time).
 * OWASP CSRF Prevention Cheat Sheet: "Signed Double-Submit Cookie" with Fetch Metadata as defence
 * in depth.
 */
import type { MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../../context";
import { timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";

export const CSRF_COOKIE = "__Host-csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function csrf(): MiddlewareHandler<AppEnv> {
  return async function csrf(c, next) {
    const principal = c.get("principal");
    if (SAFE_METHODS.has(c.req.method) || principal?.via !== "cookie") return next();

    const origin = c.req.header("Origin");
    const fetchSite = c.req.header("Sec-Fetch-Site");
    const self = new URL(c.req.url).origin;
    const trusted = c.get("config").corsOrigins;
    const originOk = origin ? origin === self || trusted.includes(origin) : fetchSite === "same-origin";
    if (!originOk) throw new DomainError("csrf-failed", "Cross-site request refused.");

    const cookie = getCookie(c, CSRF_COOKIE);
    const header = c.req.header(CSRF_HEADER);
    if (!cookie || !header || !timingSafeEqual(cookie, header)) {
      throw new DomainError("csrf-failed", "Missing or invalid CSRF token.");
    }
    await next();
  };
}
