/**
 * Offline scans for EventInventory: uploads of what devices scanned while the network was down,
 * reconciled inside the object's transactionSync with the same rules as live scans
 * (./redeem.ts). Applied in the devices' time order and idempotent per nonce; among
 * admissions of one ticket the earliest counts, and a double admission is a conflict: both scans
 * are kept and flagged, never merged away. So is an admission of a ticket refunded or voided before
 * the upload reached the object: admitted and given back.
 */
import type { OfflineScan, ScanAnswer, ScanningDevice } from "../contract";
import { evaluate, nonceMismatch, outsideWindow, replay, settle } from "./redeem";
import {
  type GateContext,
  type GateTicketRow,
  logScan,
  recordRedemption,
  redemptionOf,
  scanOf,
  ticketRow,
  view,
} from "./tickets";

/**
 * Offline scans, applied in the device's time order, idempotently per nonce. Only the device's own
 * admissions change state. Among admissions of one ticket the earliest counts: an offline admission
 * earlier than the one on record takes its place; a later one is answered already_redeemed. Either
 * way both scans are flagged as a conflict.
 */
export function applyOffline(
  ctx: GateContext,
  device: ScanningDevice,
  scans: readonly OfflineScan[],
): { answers: ScanAnswer[]; changed: boolean } {
  const order = scans
    .map((scan, index) => ({ scan, index }))
    .sort((a, b) => a.scan.scannedAt - b.scan.scannedAt || (a.scan.nonce < b.scan.nonce ? -1 : 1));
  const answers: ScanAnswer[] = new Array(scans.length);
  let changed = false;
  for (const { scan, index } of order) {
    const outcome = applyOne(ctx, device, scan);
    answers[index] = outcome.answer;
    changed ||= outcome.changed;
  }
  return { answers, changed };
}

function applyOne(
  ctx: GateContext,
  device: ScanningDevice,
  scan: OfflineScan,
): { answer: ScanAnswer; changed: boolean } {
  const { nonce, ticketId, scannedAt: at } = scan;
  const { deviceId, deviceName } = device;
  const previous = replay(ctx, deviceId, nonce, ticketId);
  if (previous === "mismatch")
    return { answer: nonceMismatch(ctx, device, ticketId, at, "offline", nonce), changed: true };
  if (previous) return admittedDespite(ctx, deviceId, scan, previous);
  const base = {
    ticketId,
    deviceId,
    deviceName,
    nonce,
    scannedAt: at,
    mode: "offline" as const,
    deviceResult: scan.deviceResult,
  };

  if (scan.rejected) {
    logScan(ctx, { ...base, result: scan.rejected });
    return { answer: { nonce, result: scan.rejected, scannedAt: at }, changed: true };
  }
  if (scan.deviceResult !== "admitted") {
    // The device turned the holder away: record what happened, change nothing.
    logScan(ctx, { ...base, result: scan.deviceResult });
    return { answer: { nonce, result: scan.deviceResult, scannedAt: at }, changed: true };
  }

  const e = evaluate(ctx, ticketId, deviceId, at);
  if (e.kind === "reject" && e.ticket && (e.result === "not_active" || e.result === "refund_pending")) {
    // The holder got in while the ticket was (or was about to be) given back: a refund, or a void,
    // the device could not know of. Nothing here can undo either, so the host is told: a conflict.
    logScan(ctx, { ...base, result: e.result, conflict: true });
    return {
      answer: { nonce, result: e.result, scannedAt: at, ticket: view(e.ticket), conflict: true },
      changed: true,
    };
  }
  if (e.kind !== "taken") return settle(ctx, e, base, device);
  // Taken by another scan: the earlier of the two admissions counts, and both are flagged.
  const other = scanOf(e.first);
  if (e.first.scan_id) ctx.sql.exec("UPDATE gate_scans SET conflict = 1 WHERE id = ?", e.first.scan_id);
  if (at < e.first.at && !outsideWindow(ctx.event, at)) {
    // This admission happened first: it is the one that counts.
    const scanId = logScan(ctx, { ...base, result: "admitted", conflict: true });
    recordRedemption(ctx, e.ticket, scanId, device, at, "offline");
    const ticket = ticketRow(ctx, e.ticket.id) as GateTicketRow;
    const firstScan = { at, deviceId, deviceName: device.deviceName };
    return {
      answer: {
        nonce,
        result: "admitted",
        scannedAt: at,
        ticket: view(ticket),
        firstScan,
        conflict: true,
        conflictWith: other,
      },
      changed: true,
    };
  }
  logScan(ctx, { ...base, result: "already_redeemed", conflict: true });
  return {
    answer: {
      nonce,
      result: "already_redeemed",
      scannedAt: at,
      ticket: view(e.ticket),
      firstScan: other,
      conflict: true,
      conflictWith: other,
    },
    changed: true,
  };
}

/** Refusals of a ticket that admitting its holder anyway makes a conflict (as an offline admission would be). */
const CONFLICTING_REFUSALS = new Set<ScanAnswer["result"]>(["already_redeemed", "not_active", "refund_pending"]);

/**
 * An uploaded scan whose nonce the object already answered. Usually a re-upload: the stored answer,
 * nothing changed. But the scanner app decides a scan offline, under the same nonce, when an online
 * scan's answer does not reach it in time: the object may have refused the ticket (admitted elsewhere
 * already, refunded, voided) while the device, not knowing, let the holder in. That admission is a
 * conflict like any other: this scan is flagged with what the device did, and for a ticket admitted
 * elsewhere the admission on record is flagged too. Once flagged, a re-upload is a replay again.
 */
function admittedDespite(
  ctx: GateContext,
  deviceId: string,
  scan: OfflineScan,
  previous: ScanAnswer,
): { answer: ScanAnswer; changed: boolean } {
  if (scan.deviceResult !== "admitted" || previous.conflict || !CONFLICTING_REFUSALS.has(previous.result)) {
    return { answer: previous, changed: false };
  }
  ctx.sql.exec(
    "UPDATE gate_scans SET conflict = 1, device_result = 'admitted' WHERE device_id = ? AND nonce = ?",
    deviceId,
    scan.nonce,
  );
  const ticket = ticketRow(ctx, scan.ticketId);
  const first = ticket && previous.result === "already_redeemed" ? redemptionOf(ctx, ticket) : null;
  if (first?.scan_id) ctx.sql.exec("UPDATE gate_scans SET conflict = 1 WHERE id = ?", first.scan_id);
  return { answer: replay(ctx, deviceId, scan.nonce, scan.ticketId) as ScanAnswer, changed: true };
}
