/** The Hono environment shared by every route and middleware: bindings plus per-request variables. */
import type { Context } from "hono";
import type { Config } from "./config";
import type { Defer } from "./http/after-response";
import type { RateLimitDecision } from "./lib/rate-limit-client";

/** Who is calling, as established by the auth middleware. */
export interface Principal {
  kind: "user" | "device";
  id: string;
  roles: readonly string[];
  /** How the credential arrived: cookie-authenticated requests are the only CSRF-able ones. */
  via: "bearer" | "cookie" | "device" | "api-key";
  /**
   * What a host's API key may do (`events:read` …): present only on a key's principal, which routes
   * see only where they name one of these (src/http/auth). Sessions carry none: no scope restriction.
   */
  scopes?: readonly string[];
  /** Scheme-specific claims (session id, event id of a device, …). */
  claims?: Record<string, unknown>;
}

/** What a server-rendered page needs (src/web/page.tsx sets it on the first render of a request). */
export interface PageState {
  /** The per-response CSP nonce every <script> and <style> of the page carries. */
  nonce: string;
  /** The signed double-submit token forms carry as `_csrf` and scripts send as X-CSRF-Token. */
  csrfToken: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    principal: Principal | null;
    /**
     * A scoped principal (an API key), held back from `principal` until the route names a scope it
     * holds (requireAuth's `scope`, acceptScope): a route that does not opt in never meets a key.
     */
    scopedPrincipal: Principal | undefined;
    /** Runs a task after the response is built (src/http/after-response). */
    defer: Defer;
    /**
     * Rate decisions already taken for this request by an earlier call (the session check takes the
     * user's own budgets), by the limiter's state name (`orders-user|user:…`): rateLimit() answers
     * from here instead of asking again.
     */
    takenBudgets: ReadonlyMap<string, RateLimitDecision> | undefined;
    /**
     * Events the signed-in user ordered at moments ago, whose objects may still be pushing the order
     * to D1: reads of the user's orders and tickets let them settle first (src/features/orders/settle.ts).
     */
    settleEvents: readonly string[] | undefined;
    /**
     * The event this request's session check noted the user as ordering at: taken back when the
     * request is refused, so a refused buyer's reads do not wait on that event (src/features/orders/settle.ts).
     */
    orderingNoted: { userId: string; eventId: string } | undefined;
    /** Set for page requests (src/web): errors answer as friendly HTML pages, never problem JSON. */
    page: PageState | undefined;
  };
}

export type AppContext = Context<AppEnv>;
