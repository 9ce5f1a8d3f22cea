/**
 * Security headers for an API that serves JSON: nothing may be loaded or framed from a response
 * (CSP default-src 'none'), HTTPS pinned for a year including subdomains, no MIME sniffing, no
 * referrer, and the response isolated from other origins (COOP/CORP). Routes that serve a page
 * (/docs) set their own CSP, which this middleware leaves alone; none allows 'unsafe-inline' script
 * (/docs runs its one inline script by a per-response nonce; test/features/docs.test.ts checks every route).
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../context";

export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

const HEADERS: Record<string, string> = {
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "X-Frame-Options": "DENY",
};

export function securityHeaders(): MiddlewareHandler<AppEnv> {
  return async function securityHeaders(c, next) {
    await next();
    // Responses from a fetch() can be immutable; copy once when needed.
    try {
      applyHeaders(c.res.headers);
    } catch {
      c.res = new Response(c.res.body, c.res);
      applyHeaders(c.res.headers);
    }
  };
}

function applyHeaders(headers: Headers): void {
  for (const [name, value] of Object.entries(HEADERS)) headers.set(name, value);
  if (!headers.has("Content-Security-Policy")) headers.set("Content-Security-Policy", API_CSP);
  // Signed media URLs may be embedded cross-origin (the signature is the access control): the media
  // route sets its own CORP, everything else stays same-origin.
  if (!headers.has("Cross-Origin-Resource-Policy")) headers.set("Cross-Origin-Resource-Policy", "same-origin");
  headers.delete("X-Powered-By");
  headers.delete("Server");
}
