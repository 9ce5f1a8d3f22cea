/**
 * Loads the typed configuration into `c.var.config`. An invalid configuration fails closed: 503
 * problem to the client, one log line naming the offending keys (never their values).
 */
import type { MiddlewareHandler } from "hono";
import { ConfigError, getConfig } from "../../config";
import type { AppEnv } from "../../context";
import { unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";
import { domainErrorResponse } from "../problem";

export function loadConfig(): MiddlewareHandler<AppEnv> {
  return async function loadConfig(c, next) {
    try {
      c.set("config", getConfig(c.env));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      log("error", "configuration invalid: refusing requests", {
        requestId: c.get("requestId"),
        keys: error.keys,
      });
      // No Retry-After: a configuration is fixed by a deploy, not by waiting a few seconds.
      return domainErrorResponse(c, unavailableError("The service is not configured. Please retry later.", null));
    }
    await next();
  };
}
