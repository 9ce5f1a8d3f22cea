/**
 * `Authorization: Device <token>`: scanner devices. The device row is read on every request, so a
 * revocation takes effect on the very next one. A request carrying the scheme with an unknown or
 * revoked token is refused, never downgraded to anonymous, and counts against its address under
 * the `scanner-auth` policy: device requests skip the per-address `api` policy (a gate shares one
 * address), so made-up tokens must be bounded somewhere.
 */
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { byIp } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { consumeRate, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { activeDevice, type DeviceRole } from "./devices";

const SCHEME = /^Device\s+/i;

export interface DeviceCaller {
  id: string;
  eventId: string;
  role: DeviceRole;
  name: string;
}

async function countFailure(c: AppContext): Promise<void> {
  const policy = c.get("config").ratePolicies["scanner-auth"];
  try {
    const decision = await consumeRate(c.env.RATE_LIMITER, byIp(c), policy);
    if (!decision.allowed) {
      throw new DomainError(
        "rate-limited",
        `Too many failed device credentials. Retry after ${decision.retryAfterSeconds} s.`,
        {
          policy: policy.name,
          retryAfter: decision.retryAfterSeconds,
        },
      );
    }
  } catch (error) {
    // The policy fails open: a 256-bit token cannot be guessed, the limit only bounds the load.
    if (!(error instanceof RateLimiterUnavailable)) throw error;
  }
}

export const deviceAuthenticator: Authenticator = async (c) => {
  const header = c.req.header("Authorization");
  if (!header || !SCHEME.test(header)) return undefined;
  const device = await activeDevice(c.env.DB, header.replace(SCHEME, "").trim());
  if (!device) {
    await countFailure(c);
    throw new DomainError("unauthorized", "Unknown or revoked device.");
  }
  return {
    kind: "device",
    id: device.id,
    roles: [device.role],
    via: "device",
    claims: { eventId: device.event_id, role: device.role, name: device.name },
  } satisfies Principal;
};

/** The calling device, for device routes (after requireAuth({ kind: "device" })). */
export function deviceCaller(c: AppContext): DeviceCaller {
  const principal = c.get("principal");
  const eventId = principal?.claims?.eventId;
  if (principal?.kind !== "device" || typeof eventId !== "string") {
    throw new DomainError("unauthorized", "This route is for scanner devices.");
  }
  return {
    id: principal.id,
    eventId,
    role: principal.claims?.role as DeviceRole,
    name: String(principal.claims?.name ?? ""),
  };
}

/** A device may act only on its own event; another event's id answers 404 (no cross-event oracle). */
export function deviceForEvent(c: AppContext, eventId: string): DeviceCaller {
  const device = deviceCaller(c);
  if (device.eventId !== eventId) throw new DomainError("not-found", "No such event for this device.");
  return device;
}
