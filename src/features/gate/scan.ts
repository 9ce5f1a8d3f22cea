/**
 * Scanning: the Worker's half of a scan. It checks the QR token (signature, kid, algorithm, type,
 * times) and the event it names, then hands the decision to the event's EventInventory object:
 * `redeem` for a good token, `recordRejectedScan` for a bad one (every scan is logged there). Also
 * offline uploads (tokens checked at the device's scan time) and the manifest. Gate stats are read
 * straight from the object by ./routes.ts.
 */
import type {
  DeviceRevoked,
  EventInventory,
  OfflineScan,
  ScanAnswer,
  ScanRef,
  ScanResult,
} from "../../../durable-objects/event-inventory/contract";
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { log } from "../../lib/log";
import { iso } from "../../lib/time";
import { inventoryOf } from "../events";
import { type DeviceCaller, unauthorizedDevice } from "./authenticator";
import { ticketKeyRing } from "./keys";
import { eventRef, verifyTicketToken } from "./token";

export interface GateDeps {
  db: D1Database;
  inventory: DurableObjectNamespace<EventInventory>;
  config: Config;
  requestId: string;
}

const scanOf = (s: ScanRef) => ({ at: iso(s.at) as string, deviceId: s.deviceId, deviceName: s.deviceName });

/** The object's answer to a device, or 401 when the object knows the device as revoked. */
export function unlessRevoked<T>(answer: T): Exclude<T, DeviceRevoked> {
  if (typeof answer === "object" && answer !== null && "deviceRevoked" in answer) throw unauthorizedDevice();
  return answer as Exclude<T, DeviceRevoked>;
}

/** An answer as the API shows it (ISO times). */
function present(a: ScanAnswer) {
  return {
    result: a.result,
    nonce: a.nonce,
    scannedAt: iso(a.scannedAt) as string,
    ...(a.ticket ? { ticket: a.ticket } : {}),
    ...(a.firstScan ? { firstScan: scanOf(a.firstScan) } : {}),
    ...(a.repeat ? { repeat: true } : {}),
    ...(a.replayed ? { replayed: true } : {}),
    ...(a.conflict ? { conflict: true } : {}),
    ...(a.conflictWith ? { conflictWith: scanOf(a.conflictWith) } : {}),
  };
}

/** A live scan at the gate: 200 with the result, whatever it is (the device shows it). */
export async function scanTicket(deps: GateDeps, device: DeviceCaller, body: { token: string; nonce: string }) {
  const ring = await ticketKeyRing(deps.config);
  const check = await verifyTicketToken(ring.verifiers, body.token, {
    at: Date.now(),
    skewSeconds: LIMITS.ticketTokenSkewSeconds,
  });
  const inventory = inventoryOf(deps.inventory, device.eventId);
  let answer: ScanAnswer | DeviceRevoked;
  if (!check.ok) {
    // The reason stays in the log; the device only learns invalid or expired_code.
    log(check.result === "invalid" ? "warn" : "info", "ticket token refused", {
      requestId: deps.requestId,
      deviceId: device.id,
      reason: check.reason,
    });
    answer = await inventory.recordRejectedScan({
      deviceId: device.id,
      deviceName: device.name,
      nonce: body.nonce,
      ticketId: null,
      result: check.result,
    });
  } else if (check.eventRef !== (await eventRef(device.eventId))) {
    answer = await inventory.recordRejectedScan({
      deviceId: device.id,
      deviceName: device.name,
      nonce: body.nonce,
      ticketId: check.ticketId,
      result: "wrong_event",
    });
  } else {
    answer = await inventory.redeem({
      ticketId: check.ticketId,
      deviceId: device.id,
      deviceName: device.name,
      nonce: body.nonce,
    });
  }
  return present(unlessRevoked(answer));
}

/**
 * Scans a device made offline, uploaded later. Each token is checked as of the device's scan time
 * (it was valid when shown, not now); a scan time in the future or older than the offline bound is
 * invalid. The object applies them in time order and reports double admissions as conflicts.
 */
export async function uploadOfflineScans(
  deps: GateDeps,
  device: DeviceCaller,
  scans: readonly { token: string; nonce: string; scannedAt: string; deviceResult: ScanResult }[],
) {
  const ring = await ticketKeyRing(deps.config);
  const ref = await eventRef(device.eventId);
  const now = Date.now();
  const skew = LIMITS.ticketTokenSkewSeconds * 1000;
  const prepared = await Promise.all(
    scans.map(async (scan): Promise<OfflineScan> => {
      const at = Date.parse(scan.scannedAt);
      const base = { nonce: scan.nonce, scannedAt: at, deviceResult: scan.deviceResult };
      if (at > now + skew || at < now - LIMITS.gateOfflineMaxAgeMs)
        return { ...base, ticketId: null, rejected: "invalid" };
      const check = await verifyTicketToken(ring.verifiers, scan.token, {
        at,
        skewSeconds: LIMITS.ticketTokenSkewSeconds,
      });
      if (!check.ok) return { ...base, ticketId: null, rejected: check.result };
      if (check.eventRef !== ref) return { ...base, ticketId: check.ticketId, rejected: "wrong_event" };
      return { ...base, ticketId: check.ticketId };
    }),
  );
  const answers = unlessRevoked(
    await inventoryOf(deps.inventory, device.eventId).syncOfflineScans({
      deviceId: device.id,
      deviceName: device.name,
      scans: prepared,
    }),
  );
  return { results: answers.map(present), conflicts: answers.filter((a) => a.conflict).length };
}

/** Everything a device needs to keep admitting when the network drops; no personal data. */
export async function gateManifest(
  deps: GateDeps,
  device: DeviceCaller,
  eventId: string,
  query: { cursor?: string; limit: number },
) {
  const ring = await ticketKeyRing(deps.config);
  const page = unlessRevoked(
    await inventoryOf(deps.inventory, eventId).manifest({
      afterSerial: query.cursor ? Number(query.cursor) : 0,
      limit: query.limit,
      deviceId: device.id,
    }),
  );
  return {
    eventId,
    eventRef: await eventRef(eventId),
    eventStatus: page.eventStatus,
    checkIn: { opensAt: iso(page.checkInOpensAt), closesAt: iso(page.checkInClosesAt) },
    generatedAt: iso(page.generatedAt) as string,
    keys: ring.jwks,
    tickets: page.tickets.map((t) => ({ id: t.id, serial: t.serial, status: t.status, redeemedAt: iso(t.redeemedAt) })),
    nextCursor: page.nextSerial === null ? null : String(page.nextSerial),
  };
}
