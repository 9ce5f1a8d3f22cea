/** The Hono environment shared by every route and middleware: bindings plus per-request variables. */
import type { Context } from "hono";
import type { Config } from "./config";

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
  };
}

export type AppContext = Context<AppEnv>;
