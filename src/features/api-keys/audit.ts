/**
 * Every use of a write scope is audited: a request an API key made under a `…:write` scope leaves an
 * audit_log row (`api-key.write`) with the key, the host, the method and route, the status and the
 * outcome, whatever the answer was. Written before the answer leaves (a few writes a minute at most,
 * not a hot path), so a request that changed something is never without its row. Read scopes are not
 * audited per request: their trace is the key's last use.
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../../context";
import { clientIp } from "../../lib/ip";
import { log } from "../../lib/log";
import { audit } from "../audit";

export function auditApiKeyWrites(): MiddlewareHandler<AppEnv> {
  return async function auditApiKeyWrites(c, next) {
    await next();
    const principal = c.get("principal");
    const scope = principal?.claims?.scope;
    if (principal?.via !== "api-key" || typeof scope !== "string" || !scope.endsWith(":write")) return;
    const status = c.res.status;
    try {
      await audit(
        c.env.DB,
        c.get("config"),
        {
          requestId: c.get("requestId"),
          ip: clientIp(c.req.raw.headers),
          userAgent: c.req.header("User-Agent") ?? null,
        },
        {
          action: "api-key.write",
          outcome: status < 400 ? "success" : status === 403 || status === 404 ? "denied" : "failure",
          userId: principal.id,
          detail: {
            apiKeyId: principal.claims?.apiKeyId,
            scope,
            method: c.req.method,
            route: routePath(c, -1),
            path: c.req.path,
            status,
          },
        },
      );
    } catch (error) {
      // The change (if any) is made; the answer must still reach the caller. The log keeps the miss.
      log("error", "api key audit failed", { requestId: c.get("requestId"), error });
    }
  };
}
