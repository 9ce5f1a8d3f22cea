/**
 * Redemption inside EventInventory: what a scan means for its ticket (first scan wins), replays of a
 * nonce already used, and the outcomes online and offline scans settle alike. The Worker verifies the
 * QR signature; this module decides; ./offline.ts reconciles uploads of offline scans with the same
 * primitives. Everything runs inside the object's `transactionSync` (see ./tickets.ts).
 *
 * Time: an online scan is timed by the object's clock, so the first scan in arrival order is also
 * the earliest in time. Offline scans carry the device's clock; among admissions, the earliest
 * counts, and a ticket admitted twice is a conflict, kept and counted, never merged away.
 */
import { LIMITS } from "../../../src/config/limits";
import type { EventSnapshot, RedeemRequest, RejectedScanRequest, ScanAnswer, ScanningDevice } from "../contract";
import {
  type GateContext,
  type GateTicketRow,
  logScan,
  type RedemptionRow,
  recordRedemption,
  redemptionOf,
  type ScanRow,
  scanOf,
  ticketRow,
  ticketWithRedemption,
  view,
} from "./tickets";

export type Evaluation =
  | {
      kind: "reject";
      result: "invalid" | "not_active" | "outside_window" | "refund_pending";
      ticket: GateTicketRow | null;
    }
  | { kind: "repeat"; ticket: GateTicketRow; first: RedemptionRow }
  | { kind: "taken"; ticket: GateTicketRow; first: RedemptionRow }
  | { kind: "admit"; ticket: GateTicketRow };

export function outsideWindow(event: EventSnapshot | null, at: number): boolean {
  return !event || at < event.checkInOpensAt || at > event.checkInClosesAt;
}

/**
 * What a scan of `ticketId` by `deviceId` at `at` means, without writing. Order: an unknown ticket
 * is invalid; one being refunded refund_pending (its refund was reserved before Stripe was asked, so
 * admitting it now would be admitted and refunded); a void (refunded, cancelled) one not active; a
 * redeemed one is a repeat or taken, whatever the time (so a late re-scan still says who admitted
 * it); only new admissions are held to the check-in window.
 */
export function evaluate(ctx: GateContext, ticketId: string | null, deviceId: string, at: number): Evaluation {
  const found = ticketWithRedemption(ctx, ticketId);
  if (!found) return { kind: "reject", result: "invalid", ticket: null };
  const { ticket, first } = found;
  if (ticket.status === "refunding") return { kind: "reject", result: "refund_pending", ticket };
  if (ticket.status !== "active" && ticket.status !== "redeemed")
    return { kind: "reject", result: "not_active", ticket };
  if (first) {
    const repeat = first.device_id === deviceId && Math.abs(at - first.at) <= LIMITS.gateRepeatWindowMs;
    return { kind: repeat ? "repeat" : "taken", ticket, first };
  }
  if (outsideWindow(ctx.event, at)) return { kind: "reject", result: "outside_window", ticket };
  return { kind: "admit", ticket };
}

/**
 * The stored answer for a nonce this device already used. "mismatch" when both name a ticket and
 * they differ (the stored answer is about someone else). A retry whose token no longer verifies
 * (say its key was retired since) still gets the stored answer: a replay never changes anything.
 */
export function replay(
  ctx: GateContext,
  deviceId: string,
  nonce: string,
  ticketId: string | null,
): ScanAnswer | "mismatch" | null {
  const row = ctx.sql
    .exec<ScanRow>("SELECT * FROM gate_scans WHERE device_id = ? AND nonce = ?", deviceId, nonce)
    .toArray()[0];
  if (!row) return null;
  if (row.ticket_id !== null && ticketId !== null && row.ticket_id !== ticketId) return "mismatch";
  const ticket = ticketRow(ctx, row.ticket_id);
  const answer: ScanAnswer = { nonce, result: row.result, scannedAt: row.scanned_at, replayed: true };
  if (ticket) {
    answer.ticket = view(ticket);
    const first = redemptionOf(ctx, ticket);
    if (first && (row.result === "already_redeemed" || row.is_repeat || row.conflict)) answer.firstScan = scanOf(first);
  }
  if (row.is_repeat) answer.repeat = true;
  if (row.conflict) {
    answer.conflict = true;
    // The other admission: the one on record, or (if this scan is it) the other flagged scan.
    const other = ctx.sql
      .exec<ScanRow>(
        "SELECT * FROM gate_scans WHERE ticket_id = ? AND conflict = 1 AND id != ? ORDER BY scanned_at LIMIT 1",
        row.ticket_id,
        row.id,
      )
      .toArray()[0];
    if (row.result === "already_redeemed" && answer.firstScan) answer.conflictWith = answer.firstScan;
    else if (other)
      answer.conflictWith = { at: other.scanned_at, deviceId: other.device_id, deviceName: other.device_name };
  }
  return answer;
}

/** A nonce reused for a different ticket is a client bug or tampering: never an admission. */
export function nonceMismatch(
  ctx: GateContext,
  device: ScanningDevice,
  ticketId: string | null,
  at: number,
  mode: "online" | "offline",
  nonce: string,
): ScanAnswer {
  logScan(ctx, { ticketId, ...device, nonce: null, scannedAt: at, mode, result: "invalid" });
  return { nonce, result: "invalid", scannedAt: at };
}

type ScanLog = Omit<Parameters<typeof logScan>[1], "result" | "repeat" | "conflict">;

/**
 * The outcomes online and offline scans settle alike: a rejection, a repeat by the same device, a
 * new admission. A ticket already taken by another scan is theirs to decide (offline scans may
 * predate the admission they conflict with).
 */
export function settle(
  ctx: GateContext,
  e: Exclude<Evaluation, { kind: "taken" }>,
  log: ScanLog,
  device: ScanningDevice,
): { answer: ScanAnswer; changed: true } {
  const { nonce, scannedAt: at, mode } = log;
  const answer = (extra: Partial<ScanAnswer> & Pick<ScanAnswer, "result">): ScanAnswer => ({
    nonce: nonce as string,
    scannedAt: at,
    ...extra,
  });
  switch (e.kind) {
    case "reject":
      logScan(ctx, { ...log, result: e.result });
      return { answer: answer({ result: e.result, ...(e.ticket ? { ticket: view(e.ticket) } : {}) }), changed: true };
    case "repeat":
      logScan(ctx, { ...log, result: "admitted", repeat: true });
      return {
        answer: answer({ result: "admitted", ticket: view(e.ticket), firstScan: scanOf(e.first), repeat: true }),
        changed: true,
      };
    case "admit": {
      const scanId = logScan(ctx, { ...log, result: "admitted" });
      recordRedemption(ctx, e.ticket, scanId, device, at, mode);
      return {
        answer: answer({ result: "admitted", ticket: view({ ...e.ticket, status: "redeemed" }) }),
        changed: true,
      };
    }
  }
}

/** An online scan: first scan wins; the answer is final for this nonce. */
export function redeemOnline(ctx: GateContext, request: RedeemRequest): { answer: ScanAnswer; changed: boolean } {
  const { deviceId, deviceName, nonce, ticketId } = request;
  const at = ctx.now;
  const previous = replay(ctx, deviceId, nonce, ticketId);
  if (previous === "mismatch")
    return { answer: nonceMismatch(ctx, request, ticketId, at, "online", nonce), changed: true };
  if (previous) return { answer: previous, changed: false };

  const e = evaluate(ctx, ticketId, deviceId, at);
  const base = { ticketId, deviceId, deviceName, nonce, scannedAt: at, mode: "online" as const };
  if (e.kind !== "taken") return settle(ctx, e, base, request);
  logScan(ctx, { ...base, result: "already_redeemed" });
  return {
    answer: { nonce, result: "already_redeemed", scannedAt: at, ticket: view(e.ticket), firstScan: scanOf(e.first) },
    changed: true,
  };
}

/** Logs a scan the Worker refused from the token alone (bad signature, expired, other event). */
export function recordRejected(ctx: GateContext, request: RejectedScanRequest): ScanAnswer {
  const previous = replay(ctx, request.deviceId, request.nonce, request.ticketId);
  if (previous === "mismatch") return nonceMismatch(ctx, request, request.ticketId, ctx.now, "online", request.nonce);
  if (previous) return previous;
  logScan(ctx, { ...request, scannedAt: ctx.now, mode: "online" });
  return { nonce: request.nonce, result: request.result, scannedAt: ctx.now };
}
