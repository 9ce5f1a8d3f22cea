/**
 * Authentication hook: resolves the caller into `c.var.principal` (null when anonymous). Each
 * authenticator owns one credential scheme (bearer JWT, session cookie, device token) and answers
 * `undefined` when the request does not carry its scheme, a Principal when the credential is good,
 * or throws DomainError("unauthorized") when it carries the scheme with a bad credential — a bad
 * credential an app sent on purpose is never silently downgraded to anonymous. The one exception is a
 * browser's session cookie, sent to every page whether wanted or not: its authenticator ignores a
 * stale one (and clears it) so it cannot lock the browser out of signing in. Routes demand a
 * principal with `requireAuth()`.
 */
import type { MiddlewareHandler } from "hono";
import type { AppContext, AppEnv, Principal } from "../../context";
import { DomainError } from "../../lib/errors";

export type Authenticator = (c: AppContext) => Promise<Principal | undefined>;

export function authenticate(authenticators: readonly Authenticator[]): MiddlewareHandler<AppEnv> {
  return async function authenticate(c, next) {
    let principal: Principal | null = null;
    for (const authenticator of authenticators) {
      const result = await authenticator(c);
      if (result) {
        principal = result;
        break;
      }
    }
    c.set("principal", principal);
    await next();
  };
}

export interface RequireAuthOptions {
  kind?: Principal["kind"];
  /** At least one of these roles. */
  roles?: readonly string[];
}

export function requireAuth(options: RequireAuthOptions = {}): MiddlewareHandler<AppEnv> {
  return async function requireAuth(c, next) {
    const principal = c.get("principal");
    if (!principal || (options.kind && principal.kind !== options.kind)) {
      throw new DomainError("unauthorized", "Sign in to continue.");
    }
    if (options.roles && !options.roles.some((role) => principal.roles.includes(role))) {
      throw new DomainError("forbidden", "You do not have permission to do this.");
    }
    await next();
  };
}
