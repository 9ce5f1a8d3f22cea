/**
 * What a paired scanner device may know about itself: its own name and role, the event it scans for
 * (title, start, venue, status: what the scanner app shows at the top of its screen) and the gate's
 * check-in count. It is how the app learns its event id after pairing (the manifest and offline
 * uploads are addressed by it) and checks that a pasted token is a live device. Reads only; a
 * revoked device is refused by the event's object like on every other device call.
 */
import { z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import { iso } from "../../lib/time";
import { findEvent, inventoryOf } from "../events";
import type { DeviceCaller } from "./authenticator";
import { type GateDeps, unlessRevoked } from "./scan";
import { DEVICE_ROLES } from "./schema";

export async function deviceInfo(deps: GateDeps, device: DeviceCaller) {
  const [event, stats] = await Promise.all([
    findEvent(deps.db, device.eventId),
    inventoryOf(deps.inventory, device.eventId).gateStats({ deviceId: device.id }),
  ]);
  const counts = unlessRevoked(stats);
  return {
    deviceId: device.id,
    name: device.name,
    role: device.role,
    event: {
      id: device.eventId,
      title: event?.title ?? null,
      startsAt: iso(event?.starts_at ?? null),
      venueName: event?.venue_name ?? null,
      status: event?.status ?? null,
      checkInOpensAt: iso(event?.check_in_opens_at ?? null),
      checkInClosesAt: iso(event?.check_in_closes_at ?? null),
    },
    // Only the gate's total: the full breakdown (results, conflicts) stays with supervisors and hosts.
    gate: { checkedIn: counts.checkedIn, sold: counts.sold },
    skewSeconds: LIMITS.ticketTokenSkewSeconds,
  };
}

export const DeviceInfoSchema = z
  .object({
    deviceId: z.string(),
    name: z.string(),
    role: z.enum(DEVICE_ROLES),
    event: z.object({
      id: z.string(),
      title: z.string().nullable(),
      startsAt: z.string().nullable(),
      venueName: z.string().nullable(),
      status: z.string().nullable(),
      checkInOpensAt: z.string().nullable(),
      checkInClosesAt: z.string().nullable(),
    }),
    gate: z.object({
      checkedIn: z.number().int().openapi({ description: "Tickets of the event admitted so far, by any device" }),
      sold: z.number().int(),
    }),
    skewSeconds: z.number().int().openapi({ description: "Clock skew allowed when checking a ticket token's times" }),
  })
  .openapi("ScannerDevice");
