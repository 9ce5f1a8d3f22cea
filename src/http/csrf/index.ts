/**
 * CSRF defence for cookie-authenticated requests (browsers). Bearer and device credentials are never
 * sent automatically by a browser, so only principals that arrived `via: "cookie"` are checked, plus a
 * refresh by cookie (which has no principal yet) through `assertCsrf`, and the email confirmation form
 * (no session at all) through the origin check alone, `assertSameOrigin`.
 * An unsafe method must pass both:
 * 1. origin: `Origin` is this site or an allowlisted origin, or `Sec-Fetch-Site: same-origin`;
 * 2. signed double submit: the `X-CSRF-Token` header equals the `__Host-csrf` cookie (constant-time)
 *    and carries our HMAC, so a token planted by anyone else is refused.
 * OWASP CSRF Prevention Cheat Sheet ("Signed Double-Submit Cookie", Fetch Metadata as defence in depth).
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { AppEnv } from "../../context";
import { hmacHex, randomToken, timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";

export const CSRF_COOKIE = "__Host-csrf";
export const CSRF_HEADER = "X-CSRF-Token";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** A fresh token: random part plus its HMAC under the cookie secret. */
export async function issueCsrfToken(secret: string): Promise<string> {
  const nonce = randomToken(24);
  return `${nonce}.${(await hmacHex(secret, `csrf:${nonce}`)).slice(0, 43)}`;
}

async function signatureValid(secret: string, token: string): Promise<boolean> {
  const [nonce, mac, extra] = token.split(".");
  if (!nonce || !mac || extra !== undefined) return false;
  return timingSafeEqual(mac, (await hmacHex(secret, `csrf:${nonce}`)).slice(0, 43));
}

/**
 * Check 1 alone: for forms that carry no session (a cross-site page must still not submit them).
 * Throws csrf-failed.
 */
export function assertSameOrigin(c: Context<AppEnv>): void {
  const origin = c.req.header("Origin");
  const fetchSite = c.req.header("Sec-Fetch-Site");
  const self = new URL(c.req.url).origin;
  const trusted = c.get("config").corsOrigins;
  const originOk = origin ? origin === self || trusted.includes(origin) : fetchSite === "same-origin";
  if (!originOk) throw new DomainError("csrf-failed", "Cross-site request refused.");
}

/** Throws csrf-failed unless the request passes both checks above. */
export async function assertCsrf(c: Context<AppEnv>): Promise<void> {
  assertSameOrigin(c);

  const cookie = getCookie(c, CSRF_COOKIE);
  const header = c.req.header(CSRF_HEADER);
  if (
    !cookie ||
    !header ||
    !timingSafeEqual(cookie, header) ||
    !(await signatureValid(c.get("config").cookieSecret, header))
  ) {
    throw new DomainError("csrf-failed", "Missing or invalid CSRF token. Fetch one from GET /api/v1/auth/csrf.");
  }
}

export function csrf(): MiddlewareHandler<AppEnv> {
  return async function csrf(c, next) {
    if (!SAFE_METHODS.has(c.req.method) && c.get("principal")?.via === "cookie") await assertCsrf(c);
    await next();
  };
}
