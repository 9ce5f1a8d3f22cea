/**
 * Authentication hook: resolves the caller into `c.var.principal` (null when anonymous). Each
 * authenticator owns one credential scheme (bearer JWT, session cookie, device token) and answers
 * `undefined` when the request does not carry its scheme, a Principal when the credential is good,
 * or throws DomainError("unauthorized") when it carries the scheme with a bad credential — a bad
 * credential an app sent on purpose is never silently downgraded to anonymous. The one exception is a
 * browser's session cookie, sent to every page whether wanted or not: its authenticator ignores a
 * stale one (and clears it) so it cannot lock the browser out of signing in. Routes demand a
 * principal with `requireAuth()`.
 *
 * A principal with `scopes` (a host's API key) is held in `c.var.scopedPrincipal`, not `principal`:
 * a route meets it only by naming a scope it holds (`requireAuth({ scope })`, or `acceptScope` on a
 * route anyone may read). A route that demands a principal without naming a scope refuses it (403
 * insufficient-scope), and the many that merely read `principal` see an anonymous request: no route
 * is opened to keys by accident, only by saying so.
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
    if (principal?.scopes) {
      c.set("scopedPrincipal", principal);
      principal = null;
    }
    c.set("principal", principal);
    await next();
  };
}

export interface RequireAuthOptions {
  kind?: Principal["kind"];
  /** At least one of these roles. */
  roles?: readonly string[];
  /** The API-key scope that opens this route to keys; without one, keys are refused (insufficient-scope). */
  scope?: string;
}

/** Lets the request's scoped principal act on this route if it holds `scope`; refuses it otherwise. */
function admitScoped(c: AppContext, scope: string | undefined): void {
  const scoped = c.get("scopedPrincipal");
  if (!scoped) return;
  if (!scope) throw new DomainError("insufficient-scope", "API keys cannot use this route.");
  if (!scoped.scopes?.includes(scope)) {
    throw new DomainError("insufficient-scope", `This API key lacks the scope ${scope}.`, { scope });
  }
  // The scope it acts under goes with it (claims.scope): the use of a write scope is audited by it.
  c.set("principal", { ...scoped, claims: { ...scoped.claims, scope } });
}

/**
 * For routes anyone may call that show a signed-in caller more (an event's draft to its host): an API
 * key acts there only with `scope`, and is refused without it rather than treated as anonymous.
 */
export function acceptScope(scope: string): MiddlewareHandler<AppEnv> {
  return async function acceptScope(c, next) {
    admitScoped(c, scope);
    await next();
  };
}

export function requireAuth(options: RequireAuthOptions = {}): MiddlewareHandler<AppEnv> {
  return async function requireAuth(c, next) {
    admitScoped(c, options.scope);
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
