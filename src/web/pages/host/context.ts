/**
 * What every host page handler needs: the signed-in host (as the services' Caller), the services'
 * dependencies built as the API builds them, and the API's write budget for dashboards, so a form
 * and a script calling the API draw on one allowance.
 */
import type { AppContext } from "../../../context";
import { eventsDeps } from "../../../features/events/routes";
import type { Caller } from "../../../features/events/service";
import type { DevicesDeps } from "../../../features/gate/devices";
import { DomainError, rateLimitedError } from "../../../lib/errors";
import { clientIp } from "../../../lib/ip";
import { consumeRate, RateLimiterUnavailable } from "../../../lib/rate-limit-client";

export { apiKeysDeps } from "../../../features/api-keys/routes";
export { deliveryDeps, endpointsDeps } from "../../../features/webhooks/routes";
export { eventsDeps };

/** The signed-in person; a signed-out GET becomes a trip to sign-in and back (src/web/errors.tsx). */
export function signedIn(c: AppContext): Caller {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to manage your events.");
  return { id: principal.id, roles: principal.roles };
}

/** A signed-in host; anyone else is sent to /host, which offers the role. */
export function hostCaller(c: AppContext): Caller {
  const caller = signedIn(c);
  if (!caller.roles.includes("host"))
    throw new DomainError("forbidden", "Only hosts can do this: become one at /host.");
  return caller;
}

export function devicesDeps(c: AppContext): DevicesDeps {
  return {
    db: c.env.DB,
    inventory: c.env.EVENT_INVENTORY,
    config: c.get("config"),
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
  };
}

/**
 * One unit of the `dashboard-write` policy, the same per-user budget the API's host writes take.
 * Open when the limiter cannot answer, as the policy is.
 */
export async function spendWrite(c: AppContext, caller: Caller): Promise<void> {
  const policy = c.get("config").ratePolicies["dashboard-write"];
  try {
    const decision = await consumeRate(c.env.RATE_LIMITER, `user:${caller.id}`, policy);
    if (!decision.allowed) throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many changes at once.");
  } catch (error) {
    if (error instanceof RateLimiterUnavailable) return;
    throw error;
  }
}

/** Where a QR code sends a device to pair: the public origin when configured, else this request's. */
export function publicOrigin(c: AppContext): string {
  return c.get("config").publicUrl ?? new URL(c.req.url).origin;
}
