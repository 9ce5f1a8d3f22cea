/**
 * `Authorization: Device <token>`: scanner devices. Which device and event a token belongs to never
 * changes, so the isolate remembers it (LIMITS.deviceCacheEntries, re-read after deviceCacheMs) and
 * a scan needs no D1 read. Whether the device is still allowed is decided where it acts: every
 * device call into the event's EventInventory object checks the object's revocations (a revocation
 * lands there first), and the one device route that does not reach the object confirms in D1 with
 * `confirmDevice`. So a revocation takes effect on the very next request, cache or not.
 *
 * A request carrying the scheme with an unknown or revoked token is refused, never downgraded to
 * anonymous, and counts against its address under the `scanner-auth` policy: device requests skip
 * the per-address `api` policy (a gate shares one address), so made-up tokens must be bounded
 * somewhere.
 */

import { LIMITS } from "../../config/limits";
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { byIp } from "../../http/rate-limit";
import { sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { consumeRate, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { activeDevice, type DeviceRole, type DeviceRow, deviceTokenShape } from "./devices";

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

/** Token hash → the device as D1 last had it active, and until when to trust that mapping. */
const known = new Map<string, { device: DeviceRow; until: number }>();

function remember(hash: string, device: DeviceRow, now: number): void {
  known.delete(hash);
  if (known.size >= LIMITS.deviceCacheEntries) {
    // Insertion order: the oldest entry goes first.
    const oldest = known.keys().next().value;
    if (oldest !== undefined) known.delete(oldest);
  }
  known.set(hash, { device, until: now + LIMITS.deviceCacheMs });
}

/** Forgets a device in this isolate (its revocation is already in force in the event's object). */
export function forgetDevice(deviceId: string): void {
  for (const [hash, entry] of known) if (entry.device.id === deviceId) known.delete(hash);
}

export const unauthorizedDevice = () => new DomainError("unauthorized", "Unknown or revoked device.");

const tokenHashes = new WeakMap<Request, Promise<string>>();

/**
 * SHA-256 (hex) of the request's device token (`Authorization: Device <token>`), computed once per
 * request: the scanner rate-limit key (src/app.ts) and the device lookup both use it.
 */
export function deviceTokenHash(c: AppContext): Promise<string> {
  let hash = tokenHashes.get(c.req.raw);
  if (!hash) {
    hash = sha256Hex((c.req.header("Authorization") ?? "").replace(SCHEME, "").trim());
    tokenHashes.set(c.req.raw, hash);
  }
  return hash;
}

export const deviceAuthenticator: Authenticator = async (c) => {
  const header = c.req.header("Authorization");
  if (!header || !SCHEME.test(header)) return undefined;
  const token = header.replace(SCHEME, "").trim();
  const now = Date.now();
  let device: DeviceRow | null = null;
  let cached = false;
  if (deviceTokenShape(token)) {
    const hash = await deviceTokenHash(c);
    const entry = known.get(hash);
    if (entry && entry.until > now) {
      device = entry.device;
      cached = true;
    } else {
      device = await activeDevice(c.env.DB, hash);
      if (device) remember(hash, device, now);
      else known.delete(hash);
    }
  }
  if (!device) {
    await countFailure(c);
    throw unauthorizedDevice();
  }
  return {
    kind: "device",
    id: device.id,
    roles: [device.role],
    via: "device",
    // `cached`: D1 was not asked on this request; see confirmDevice.
    claims: { eventId: device.event_id, role: device.role, name: device.name, cached },
  } satisfies Principal;
};

/**
 * For device routes that do not reach the event's object (which checks revocation itself): when
 * the device came from the isolate's memory, D1 confirms it is still active.
 */
export async function confirmDevice(c: AppContext): Promise<DeviceCaller> {
  const device = deviceCaller(c);
  if (c.get("principal")?.claims?.cached !== true) return device;
  const row = await activeDevice(c.env.DB, await deviceTokenHash(c));
  if (!row) {
    forgetDevice(device.id);
    throw unauthorizedDevice();
  }
  return device;
}

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
