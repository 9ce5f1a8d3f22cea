/**
 * The gate's rows inside EventInventory: the context a gate decision runs in, reads of a ticket with
 * its admission, and the two writes every scan makes (the scan log, the redemption). Every function
 * here runs inside the object's `transactionSync` on its SQLite, synchronously: no await, so no other
 * call can interleave between reading a ticket's state and writing its redemption.
 */
import type { EventSnapshot, ScanningDevice, ScanRef, ScanResult, TicketStatus } from "../contract";
import type { TicketRow } from "../rows";

/** What the gate needs from its object, for one transaction. */
export interface GateContext {
  sql: SqlStorage;
  event: EventSnapshot | null;
  now: number;
  /** Writes the ticket's current row to the outbox, for the D1 read model. */
  emitTicket(row: TicketRow): void;
}

export type GateTicketRow = {
  id: string;
  serial: number;
  status: TicketStatus;
  redeemed_at: number | null;
  updated_at: number;
};
export type RedemptionRow = {
  ticket_id: string;
  scan_id: number;
  device_id: string;
  device_name: string | null;
  at: number;
  mode: "online" | "offline";
};
export type ScanRow = {
  id: number;
  ticket_id: string | null;
  device_id: string;
  device_name: string | null;
  nonce: string | null;
  scanned_at: number;
  result: ScanResult;
  is_repeat: number;
  conflict: number;
};

// ---------------------------------------------------------------- reads

export function ticketRow(ctx: GateContext, id: string | null): GateTicketRow | null {
  if (!id) return null;
  return (
    ctx.sql
      .exec<GateTicketRow>("SELECT id, serial, status, redeemed_at, updated_at FROM tickets WHERE id = ?", id)
      .toArray()[0] ?? null
  );
}

export function redemptionOf(ctx: GateContext, ticket: GateTicketRow): RedemptionRow | null {
  const row = ctx.sql.exec<RedemptionRow>("SELECT * FROM gate_redemptions WHERE ticket_id = ?", ticket.id).toArray()[0];
  return row ?? missingRedemption(ticket);
}

/** A ticket row with its redemption's columns (null when it has none), from ticketWithRedemption. */
type TicketRedemptionRow = GateTicketRow & {
  r_scan_id: number | null;
  r_device_id: string | null;
  r_device_name: string | null;
  r_at: number | null;
  r_mode: RedemptionRow["mode"] | null;
};

/** A ticket with its redemption (first admission), in one read: what every scan decides on. */
export function ticketWithRedemption(
  ctx: GateContext,
  id: string | null,
): { ticket: GateTicketRow; first: RedemptionRow | null } | null {
  if (!id) return null;
  const row = ctx.sql
    .exec<TicketRedemptionRow>(
      `SELECT t.id, t.serial, t.status, t.redeemed_at, t.updated_at, r.scan_id AS r_scan_id, r.device_id AS r_device_id,
              r.device_name AS r_device_name, r.at AS r_at, r.mode AS r_mode
       FROM tickets t LEFT JOIN gate_redemptions r ON r.ticket_id = t.id WHERE t.id = ?`,
      id,
    )
    .toArray()[0];
  if (!row) return null;
  const ticket: GateTicketRow = {
    id: row.id,
    serial: row.serial,
    status: row.status,
    redeemed_at: row.redeemed_at,
    updated_at: row.updated_at,
  };
  const first: RedemptionRow | null =
    row.r_scan_id !== null && row.r_device_id !== null && row.r_at !== null && row.r_mode !== null
      ? {
          ticket_id: row.id,
          scan_id: row.r_scan_id,
          device_id: row.r_device_id,
          device_name: row.r_device_name,
          at: row.r_at,
          mode: row.r_mode,
        }
      : missingRedemption(ticket);
  return { ticket, first };
}

function missingRedemption(ticket: GateTicketRow): RedemptionRow | null {
  // A redeemed ticket always has its redemption row; this only guards against a hand-edited object.
  if (ticket.status === "redeemed") {
    return {
      ticket_id: ticket.id,
      scan_id: 0,
      device_id: "unknown",
      device_name: null,
      at: ticket.redeemed_at ?? ticket.updated_at,
      mode: "online",
    };
  }
  return null;
}

export const view = (t: GateTicketRow) => ({ id: t.id, serial: t.serial, status: t.status });
export const scanOf = (r: RedemptionRow): ScanRef => ({ at: r.at, deviceId: r.device_id, deviceName: r.device_name });

// ---------------------------------------------------------------- writes

export function logScan(
  ctx: GateContext,
  scan: {
    ticketId: string | null;
    deviceId: string;
    deviceName: string | null;
    nonce: string | null;
    scannedAt: number;
    mode: "online" | "offline";
    result: ScanResult;
    repeat?: boolean;
    conflict?: boolean;
    deviceResult?: ScanResult;
  },
): number {
  return ctx.sql
    .exec<{ id: number }>(
      `INSERT INTO gate_scans (ticket_id, device_id, device_name, nonce, scanned_at, received_at, mode, result, is_repeat, conflict, device_result)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      scan.ticketId,
      scan.deviceId,
      scan.deviceName,
      scan.nonce,
      scan.scannedAt,
      ctx.now,
      scan.mode,
      scan.result,
      scan.repeat ? 1 : 0,
      scan.conflict ? 1 : 0,
      scan.deviceResult ?? null,
    )
    .one().id;
}

export function recordRedemption(
  ctx: GateContext,
  ticket: GateTicketRow,
  scanId: number,
  device: ScanningDevice,
  at: number,
  mode: "online" | "offline",
): void {
  ctx.sql.exec(
    `INSERT INTO gate_redemptions (ticket_id, scan_id, device_id, device_name, at, mode) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (ticket_id) DO UPDATE SET scan_id = excluded.scan_id, device_id = excluded.device_id,
       device_name = excluded.device_name, at = excluded.at, mode = excluded.mode`,
    ticket.id,
    scanId,
    device.deviceId,
    device.deviceName,
    at,
    mode,
  );
  // The updated row comes back with the update itself, for the outbox.
  const updated = ctx.sql
    .exec<TicketRow>(
      "UPDATE tickets SET status = 'redeemed', redeemed_at = ?, updated_at = ? WHERE id = ? RETURNING *",
      at,
      ctx.now,
      ticket.id,
    )
    .toArray()[0];
  if (updated) ctx.emitTicket(updated);
}
