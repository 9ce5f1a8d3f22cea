/**
 * What the gate reports: the manifest (tickets for offline checks, no personal data) and the scan
 * totals. Reads only.
 */
import { type GateStats, type ManifestTicket, SCAN_RESULTS, type ScanResult, type TicketStatus } from "../contract";

/** Tickets after `afterSerial` in serial order (ids, status and redemption state; no personal data). */
export function manifestPage(sql: SqlStorage, afterSerial: number, limit: number) {
  const rows = sql
    .exec<{ id: string; serial: number; status: TicketStatus; redeemed_at: number | null }>(
      "SELECT id, serial, status, redeemed_at FROM tickets WHERE serial > ? ORDER BY serial LIMIT ?",
      afterSerial,
      limit + 1,
    )
    .toArray();
  const page = rows.slice(0, limit);
  const tickets: ManifestTicket[] = page.map((r) => ({
    id: r.id,
    serial: r.serial,
    status: r.status,
    redeemedAt: r.redeemed_at,
  }));
  return { tickets, nextSerial: rows.length > limit ? (page[page.length - 1]?.serial ?? null) : null };
}

/** An admission as the gate recorded it: the first scan that let the ticket in, and by which device. */
export interface CheckIn {
  ticketId: string;
  serial: number;
  redeemedAt: number;
  deviceId: string;
}

/**
 * Admitted tickets after `afterSerial`, in serial order (for the host's own systems, through their API
 * keys): from the redemptions, the one record of which device let each ticket in.
 */
export function checkInPage(sql: SqlStorage, afterSerial: number, limit: number) {
  const rows = sql
    .exec<{ id: string; serial: number; at: number; device_id: string }>(
      `SELECT t.id, t.serial, r.at, r.device_id FROM gate_redemptions r JOIN tickets t ON t.id = r.ticket_id
       WHERE t.serial > ? ORDER BY t.serial LIMIT ?`,
      afterSerial,
      limit + 1,
    )
    .toArray();
  const page = rows.slice(0, limit);
  const items: CheckIn[] = page.map((r) => ({
    ticketId: r.id,
    serial: r.serial,
    redeemedAt: r.at,
    deviceId: r.device_id,
  }));
  return { items, nextSerial: rows.length > limit ? (page[page.length - 1]?.serial ?? null) : null };
}

/** Tickets with a conflicting admission (double admissions, admissions of given-back tickets). */
export function conflictCount(sql: SqlStorage): number {
  return sql.exec<{ n: number }>("SELECT COUNT(DISTINCT ticket_id) AS n FROM gate_scans WHERE conflict = 1").one().n;
}

export function gateStats(sql: SqlStorage): GateStats {
  const byResult = Object.fromEntries(SCAN_RESULTS.map((r) => [r, 0])) as Record<ScanResult, number>;
  let scans = 0;
  for (const row of sql.exec<{ result: ScanResult; n: number }>(
    "SELECT result, COUNT(*) AS n FROM gate_scans GROUP BY result",
  )) {
    byResult[row.result] = row.n;
    scans += row.n;
  }
  const offlineScans = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM gate_scans WHERE mode = 'offline'").one().n;
  return { scans, byResult, conflicts: conflictCount(sql), offlineScans };
}
