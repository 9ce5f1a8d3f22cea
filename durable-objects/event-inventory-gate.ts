/**
 * The gate inside EventInventory: redemption (first scan wins), the scan log, offline scan
 * reconciliation, the manifest and gate stats. Every function here runs inside the object's
 * `transactionSync` on its SQLite, synchronously: no await, so no other call can interleave between
 * reading a ticket's state and writing its redemption. The Worker verifies the QR signature; this
 * module decides what the scan means for the ticket; ./event-inventory-offline.ts reconciles uploads
 * of offline scans with the same primitives.
 *
 * Time: an online scan is timed by the object's clock, so the first scan in arrival order is also
 * the earliest in time. Offline scans carry the device's clock; among admissions, the earliest
 * counts, and a ticket admitted twice is a conflict, kept and counted, never merged away.
 */
import { LIMITS } from "../src/config/limits";
import type { EventSnapshot, TicketRow, TicketStatus } from "./event-inventory";

export const SCAN_RESULTS = [
  "admitted",
  "already_redeemed",
  "invalid",
  "expired_code",
  "wrong_event",
  "not_active",
  "outside_window",
  /** A refund of the ticket is in flight (see EventInventory.reserveRefund): not admissible. */
  "refund_pending",
] as const;
export type ScanResult = (typeof SCAN_RESULTS)[number];
/** Results the Worker decides from the token alone, before the ticket is looked at. */
export type TokenRejection = "invalid" | "expired_code" | "wrong_event";

export interface ScanAnswer {
  nonce: string;
  result: ScanResult;
  /** When the scan happened: the object's clock online, the device's clock offline. */
  scannedAt: number;
  ticket?: { id: string; serial: number; status: TicketStatus };
  /** The admission that counts (already_redeemed, a repeat, a conflict). */
  firstScan?: ScanRef;
  /** The same device re-reading its own admission within the repeat window: the same admission. */
  repeat?: true;
  /** This device sent this nonce before: the stored answer, nothing changed. */
  replayed?: true;
  /**
   * Found while reconciling offline scans: a double admission (both scans are kept), or an admission
   * of a ticket that was refunded or voided (the holder got in and the ticket was given back).
   */
  conflict?: true;
  /** For a conflict: the other admission of the same ticket. */
  conflictWith?: ScanRef;
}

/** Which device scanned, and when. */
export interface ScanRef {
  at: number;
  deviceId: string;
  /** The device's name when it scanned (as registered by the host). */
  deviceName: string | null;
}

/** The scanning device, as the Worker authenticated it. */
export interface ScanningDevice {
  deviceId: string;
  deviceName: string;
}

export interface RedeemRequest extends ScanningDevice {
  ticketId: string;
  /** The device's id for this scan: a retry with the same nonce gets the same answer. */
  nonce: string;
}

export interface RejectedScanRequest extends ScanningDevice {
  nonce: string;
  /** The ticket the token named, when it could be read. */
  ticketId: string | null;
  result: TokenRejection;
}

export interface OfflineScan {
  nonce: string;
  ticketId: string | null;
  /** The device's clock when it scanned. */
  scannedAt: number;
  /** What the device decided on its own; only its admissions change state here. */
  deviceResult: ScanResult;
  /** Set when the Worker refused the token (signature, expiry at scannedAt, event). */
  rejected?: TokenRejection;
}

export interface GateStats {
  scans: number;
  byResult: Record<ScanResult, number>;
  /** Tickets admitted more than once, or admitted offline and refunded or voided (offline reconciliation). */
  conflicts: number;
  offlineScans: number;
}

export interface ManifestTicket {
  id: string;
  serial: number;
  status: TicketStatus;
  redeemedAt: number | null;
}

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
type ScanRow = {
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

/** Storage schema v3: the redemption column on tickets, the scan log and the redemptions. */
export function migrateGate(sql: SqlStorage): void {
  // Guarded so the step is safe to re-run, whichever migration steps ran before it.
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(tickets)").toArray();
  if (!columns.some((c) => c.name === "redeemed_at")) sql.exec("ALTER TABLE tickets ADD COLUMN redeemed_at INTEGER");
  sql.exec(`
    CREATE TABLE IF NOT EXISTS gate_scans (
      id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT, device_id TEXT NOT NULL, device_name TEXT, nonce TEXT,
      scanned_at INTEGER NOT NULL, received_at INTEGER NOT NULL, mode TEXT NOT NULL, result TEXT NOT NULL,
      is_repeat INTEGER NOT NULL DEFAULT 0, conflict INTEGER NOT NULL DEFAULT 0, device_result TEXT);
    CREATE UNIQUE INDEX IF NOT EXISTS gate_scans_nonce ON gate_scans (device_id, nonce) WHERE nonce IS NOT NULL;
    CREATE INDEX IF NOT EXISTS gate_scans_ticket ON gate_scans (ticket_id);
    CREATE INDEX IF NOT EXISTS gate_scans_conflicts ON gate_scans (ticket_id) WHERE conflict = 1;
    CREATE TABLE IF NOT EXISTS gate_redemptions (
      ticket_id TEXT PRIMARY KEY, scan_id INTEGER NOT NULL, device_id TEXT NOT NULL, device_name TEXT,
      at INTEGER NOT NULL, mode TEXT NOT NULL);
  `);
}

/**
 * Storage schema v4: devices revoked by the host. The object is where a revocation takes effect
 * (the Worker may know a device from its cache): every device call checks this table first.
 */
export function migrateRevokedDevices(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS gate_revoked_devices (device_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL)");
}

/** Records a revocation (idempotent: the first time stays). */
export function revokeDevice(sql: SqlStorage, deviceId: string, at: number): void {
  sql.exec("INSERT OR IGNORE INTO gate_revoked_devices (device_id, revoked_at) VALUES (?, ?)", deviceId, at);
}

/** What a device's call answers once the device is revoked; the Worker turns it into 401. */
export const DEVICE_REVOKED = { deviceRevoked: true } as const;
export type DeviceRevoked = typeof DEVICE_REVOKED;

export function isRevoked(sql: SqlStorage, deviceId: string): boolean {
  return sql.exec("SELECT 1 FROM gate_revoked_devices WHERE device_id = ?", deviceId).toArray().length > 0;
}

// ---------------------------------------------------------------- reads
// Exported for ./event-inventory-offline.ts, which applies offline uploads with the same rules.

export function ticketRow(ctx: GateContext, id: string | null): GateTicketRow | null {
  if (!id) return null;
  return (
    ctx.sql
      .exec<GateTicketRow>("SELECT id, serial, status, redeemed_at, updated_at FROM tickets WHERE id = ?", id)
      .toArray()[0] ?? null
  );
}

function redemptionOf(ctx: GateContext, ticket: GateTicketRow): RedemptionRow | null {
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
function ticketWithRedemption(
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

// ---------------------------------------------------------------- decisions

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

// ---------------------------------------------------------------- manifest and stats

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

export function gateStats(sql: SqlStorage): GateStats {
  const byResult = Object.fromEntries(SCAN_RESULTS.map((r) => [r, 0])) as Record<ScanResult, number>;
  let scans = 0;
  for (const row of sql.exec<{ result: ScanResult; n: number }>(
    "SELECT result, COUNT(*) AS n FROM gate_scans GROUP BY result",
  )) {
    byResult[row.result] = row.n;
    scans += row.n;
  }
  const conflicts = sql
    .exec<{ n: number }>("SELECT COUNT(DISTINCT ticket_id) AS n FROM gate_scans WHERE conflict = 1")
    .one().n;
  const offlineScans = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM gate_scans WHERE mode = 'offline'").one().n;
  return { scans, byResult, conflicts, offlineScans };
}
