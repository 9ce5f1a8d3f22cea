/** The Hono environment shared by every route and middleware: bindings plus per-request variables. */
import type { Context } from "hono";
import type { Config } from "./config";
import type { Defer } from "./http/after-response";

/** Who is calling, as established by the auth middleware. */
export interface Principal {
  kind: "user" | "device";
  id: string;
  roles: readonly string[];
  /** How the credential arrived: cookie-authenticated requests are the only CSRF-able ones. */
  via: "bearer" | "cookie" | "device";
  /** Scheme-specific claims (session id, event id of a device, …). */
  claims?: Record<string, unknown>;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: Config;
    principal: Principal | null;
    /** Runs a task after the response is built (src/http/after-response). */
    defer: Defer;
  };
}

export type AppContext = Context<AppEnv>;
