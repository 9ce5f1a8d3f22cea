/**
 * CSRF defence for cookie-authenticated requests (browsers). Bearer and device credentials are never
 * sent automatically by a browser, so only principals that arrived `via: "cookie"` are checked, plus a
 * refresh by cookie (which has no principal yet) and every page form, signed in or not (src/web/forms.ts),
 * through `assertCsrf`.
 * An unsafe method must pass both:
 * 1. origin: `Origin` is this site or an allowlisted origin, or `Sec-Fetch-Site: same-origin`;
 * 2. signed double submit: the `X-CSRF-Token` header (or an HTML form's `_csrf` field) equals the
 *    `__Host-csrf` cookie (constant-time) and carries our HMAC, so a token planted by anyone else is
 *    refused.
 * OWASP CSRF Prevention Cheat Sheet ("Signed Double-Submit Cookie", Fetch Metadata as defence in depth).
 */
import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { AppEnv } from "../../context";
import { hmacHex, randomToken, timingSafeEqual } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";

export const CSRF_COOKIE = "__Host-csrf";
export const CSRF_HEADER = "X-CSRF-Token";
/** HTML forms cannot send headers: a form carries the same token in this field. */
export const CSRF_FIELD = "_csrf";
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

/** The token a request presents: the header, or for an HTML form its `_csrf` field. */
async function presentedToken(c: Context<AppEnv>): Promise<string | undefined> {
  const header = c.req.header(CSRF_HEADER);
  if (header) return header;
  const type = c.req.header("Content-Type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return;
  // Hono caches the parsed body: the route reads the same form afterwards.
  const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
  const field = form[CSRF_FIELD];
  return typeof field === "string" ? field : undefined;
}

/**
 * The token for a page about to render a form: the browser's `__Host-csrf` cookie when it is one of
 * ours, else a fresh one set as that cookie with this response.
 */
export async function ensureCsrfToken(c: Context<AppEnv>): Promise<string> {
  const secret = c.get("config").cookieSecret;
  const current = getCookie(c, CSRF_COOKIE);
  if (current && (await signatureValid(secret, current))) return current;
  const token = await issueCsrfToken(secret);
  // Readable by the page's script (not HttpOnly): it copies it into X-CSRF-Token.
  setCookie(c, CSRF_COOKIE, token, { secure: true, sameSite: "Lax", path: "/" });
  return token;
}

/** Throws csrf-failed unless the request passes both checks above. */
export async function assertCsrf(c: Context<AppEnv>): Promise<void> {
  assertSameOrigin(c);

  const cookie = getCookie(c, CSRF_COOKIE);
  const header = await presentedToken(c);
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
