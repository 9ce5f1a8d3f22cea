/**
 * `Authorization: Device <token>`: scanner devices. Which device and event a token belongs to never
 * changes, so the isolate remembers it (LIMITS.deviceCacheEntries, re-read after deviceCacheMs) and
 * a scan needs no D1 read. Whether the device is still allowed is decided where it acts: every
 * device call into the event's EventInventory object checks the object's revocations (a revocation
 * lands there first), and the one device route that does not reach the object confirms in D1 with
 * `confirmDevice`. So a revocation takes effect on the very next request, cache or not.
 *
 * A request carrying the scheme with a bad token is refused, never downgraded to anonymous. Device
 * requests skip the per-address `api` policy (a gate shares one address) and are limited per device
 * (`scanner`, src/app.ts) only once authenticated, so made-up tokens are bounded here, cheapest
 * first: a token not shaped as registerDevice mints it is refused outright (no limiter, no D1); a
 * well-shaped one this isolate does not know is looked up in D1 only while its address is not
 * blocked under `scanner-auth` (this isolate's memory of the block first, then the address's
 * object), and an unknown one counts against the address there.
 */

import { LIMITS } from "../../config/limits";
import type { AppContext, Principal } from "../../context";
import type { Authenticator } from "../../http/auth";
import { byIp } from "../../http/rate-limit";
import { BoundedCache } from "../../lib/bounded-cache";
import { sha256Hex } from "../../lib/crypto";
import { DomainError, rateLimitedError } from "../../lib/errors";
import { consumeRate, type RateLimitDecision, RateLimiterUnavailable } from "../../lib/rate-limit-client";
import { activeDevice, type DeviceRole, type DeviceRow, deviceTokenShape } from "./devices";

const SCHEME = /^Device\s+/i;

/**
 * Whether the request presents the `Device` scheme with something after it: app.ts hands this to
 * the per-address `api` policy as its skip rule (a whole gate shares one address), so the scheme's
 * spelling stays here, next to the authenticator that reads it, and src/http knows no device.
 */
export function isDeviceRequest(c: AppContext): boolean {
  return /^Device\s+\S/i.test(c.req.header("Authorization") ?? "");
}

export interface DeviceCaller {
  id: string;
  eventId: string;
  role: DeviceRole;
  name: string;
}

/**
 * Takes `cost` units of the address's `scanner-auth` budget (0: only asks whether it is blocked) and
 * throws 429 when it is spent. consumeRate answers a block this isolate remembers without reaching
 * the object. Fails open: a 256-bit token cannot be guessed, the limit only bounds the load.
 */
async function scannerAuth(c: AppContext, cost: 0 | 1): Promise<void> {
  const policy = c.get("config").ratePolicies["scanner-auth"];
  let decision: RateLimitDecision;
  try {
    decision = await consumeRate(c.env.RATE_LIMITER, byIp(c), policy, cost);
  } catch (error) {
    if (error instanceof RateLimiterUnavailable) return;
    throw error;
  }
  if (!decision.allowed) {
    throw rateLimitedError(policy.name, decision.retryAfterSeconds, "Too many failed device credentials.");
  }
}

/** Token hash → the device as D1 last had it active, and until when to trust that mapping. */
const known = new BoundedCache<string, DeviceRow>(LIMITS.deviceCacheEntries, LIMITS.deviceCacheMs);

/** Forgets a device in this isolate (its revocation is already in force in the event's object). */
export function forgetDevice(deviceId: string): void {
  known.deleteWhere((device) => device.id === deviceId);
}

export const unauthorizedDevice = () => new DomainError("unauthorized", "Unknown or revoked device.");

const tokenHashes = new WeakMap<Request, Promise<string>>();

/**
 * SHA-256 (hex) of the request's device token (`Authorization: Device <token>`), computed once per
 * request: the device lookup and confirmDevice both use it.
 */
export function deviceTokenHash(c: AppContext): Promise<string> {
  let hash = tokenHashes.get(c.req.raw);
  if (!hash) {
    hash = sha256Hex((c.req.header("Authorization") ?? "").replace(SCHEME, "").trim());
    tokenHashes.set(c.req.raw, hash);
  }
  return hash;
}

/**
 * Lookups in flight, by token hash. A gate's devices reaching a cold isolate at once (doors opening,
 * a deploy) send hundreds of scans before the first lookup returns: they share one block check and
 * one D1 read instead of each asking an address's limiter object and D1. Entries leave when their
 * lookup settles, so the map is bounded by what is in flight.
 */
const inFlight = new Map<string, Promise<DeviceRow>>();

async function lookUp(c: AppContext, hash: string): Promise<DeviceRow> {
  // Before D1: a blocked address gets no lookup at all.
  await scannerAuth(c, 0);
  const row = await activeDevice(c.env.DB, hash);
  if (!row) {
    known.delete(hash);
    await scannerAuth(c, 1);
    throw unauthorizedDevice();
  }
  known.set(hash, row);
  return row;
}

export const deviceAuthenticator: Authenticator = async (c) => {
  const header = c.req.header("Authorization");
  if (!header || !SCHEME.test(header)) return undefined;
  // Not a token we could have minted: nothing to look up, and nothing worth counting (answering it
  // costs no object and no D1 read).
  if (!deviceTokenShape(header.replace(SCHEME, "").trim())) throw unauthorizedDevice();
  const hash = await deviceTokenHash(c);
  const now = Date.now();
  const entry = known.get(hash, now);
  let device: DeviceRow;
  let cached = false;
  if (entry) {
    // A device this isolate knows is not held back by its address's block: made-up tokens sent from
    // a gate's shared address must not lock the gate's own devices out.
    device = entry;
    cached = true;
  } else {
    // Concurrent requests with one token share one lookup. A follower adds no object or D1 work, so
    // it needs no block check of its own, unless the lookup it joined was refused for the leader's
    // address: then it asks for its own.
    const flight = inFlight.get(hash);
    if (flight) {
      device = await flight.catch((error: unknown) => {
        if (error instanceof DomainError && error.code === "rate-limited") return lookUp(c, hash);
        throw error;
      });
    } else {
      const mine = lookUp(c, hash).finally(() => inFlight.delete(hash));
      inFlight.set(hash, mine);
      device = await mine;
    }
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
