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
