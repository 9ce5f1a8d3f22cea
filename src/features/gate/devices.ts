/**
 * Scanner devices: registered per event by its host, each with a 256-bit token shown once and
 * stored as SHA-256, revocable at once (the event's object checks every device call; see
 * authenticator.ts).
 * Registration and revocation are audited.
 */
import type { EventInventory } from "../../../durable-objects/event-inventory/contract";
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { gateDevices } from "../../db/schema-gate";
import { randomId, randomToken, sha256Hex } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { iso } from "../../lib/time";
import { auditStatement, type RequestMeta } from "../audit";
import { type Caller, inventoryOf, ownedEvent } from "../events";
import type { DEVICE_ROLES } from "./schema";

export type DeviceRole = (typeof DEVICE_ROLES)[number];

/** Prefix of device tokens: tells a leaked credential apart in logs and secret scanners. */
export const DEVICE_TOKEN_PREFIX = "gdt_";
/** Random bytes behind a device token: 256 bits, beyond guessing. */
const DEVICE_TOKEN_BYTES = 32;
/**
 * A device token exactly as registerDevice mints it: the prefix, then 32 bytes as unpadded base64url
 * (RFC 4648 §5): 43 characters, the last of which carries only 4 bits, so its 2 low bits are zero.
 */
const DEVICE_TOKEN_FORMAT = new RegExp(`^${DEVICE_TOKEN_PREFIX}[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$`);

export type DeviceRow = RowOf<typeof gateDevices>;

export interface DevicesDeps {
  db: D1Database;
  inventory: DurableObjectNamespace<EventInventory>;
  config: Config;
  meta: RequestMeta;
}

function toApiDevice(row: DeviceRow) {
  return {
    deviceId: row.id,
    name: row.name,
    role: row.role,
    createdAt: iso(row.created_at) as string,
    revokedAt: iso(row.revoked_at),
  };
}

export async function registerDevice(
  deps: DevicesDeps,
  host: Caller,
  eventId: string,
  input: { name: string; role: DeviceRole },
) {
  const event = await ownedEvent(deps, host, eventId);
  if (event.status === "cancelled") throw new DomainError("invalid-transition", "The event is cancelled.");
  const now = Date.now();
  const id = randomId();
  const token = DEVICE_TOKEN_PREFIX + randomToken(DEVICE_TOKEN_BYTES);
  // One conditional insert: concurrent registrations cannot overshoot the per-event cap.
  const [inserted] = await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO gate_devices (id, event_id, name, role, token_hash, created_by, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?
         WHERE (SELECT COUNT(*) FROM gate_devices WHERE event_id = ? AND revoked_at IS NULL) < ?`,
      )
      .bind(
        id,
        event.id,
        input.name,
        input.role,
        await sha256Hex(token),
        host.id,
        now,
        event.id,
        LIMITS.gateDevicesPerEvent,
      ),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      {
        action: "gate.device-register",
        outcome: "success",
        userId: host.id,
        detail: { eventId: event.id, deviceId: id, role: input.role },
      },
      now,
      { sql: "EXISTS (SELECT 1 FROM gate_devices WHERE id = ?)", bindings: [id] },
    ),
  ]);
  if (inserted?.meta.changes !== 1) {
    throw new DomainError("limit-exceeded", `At most ${LIMITS.gateDevicesPerEvent} active devices per event.`);
  }
  return { deviceId: id, token, eventId: event.id, name: input.name, role: input.role, createdAt: iso(now) as string };
}

export async function listDevices(deps: DevicesDeps, host: Caller, eventId: string) {
  const event = await ownedEvent(deps, host, eventId);
  const rows = await deps.db
    .prepare("SELECT * FROM gate_devices WHERE event_id = ? ORDER BY created_at, id")
    .bind(event.id)
    .all<DeviceRow>();
  return { items: rows.results.map(toApiDevice) };
}

/**
 * Revokes a device: its next request is refused, and its live sockets are closed now. Revoking an
 * already revoked device changes nothing; a device of another event is 404.
 */
export async function revokeDevice(deps: DevicesDeps, host: Caller, eventId: string, deviceId: string): Promise<void> {
  const event = await ownedEvent(deps, host, eventId);
  const device = await deps.db
    .prepare("SELECT revoked_at FROM gate_devices WHERE id = ? AND event_id = ?")
    .bind(deviceId, event.id)
    .first<{ revoked_at: number | null }>();
  if (!device) throw new DomainError("not-found", "No such device.");
  // The event's object first: it is where the revocation takes effect (Workers may still know the
  // device from their cache), and its live sockets close now. Should D1 fail after it, the device is
  // refused all the same and the host's retry completes the record (both steps are idempotent).
  await inventoryOf(deps.inventory, event.id).revokeDevice({ deviceId });
  if (device.revoked_at !== null) return;
  const now = Date.now();
  // Conditional on the row still being active: a concurrent revocation records (and audits) it once.
  await deps.db.batch([
    deps.db
      .prepare(
        "UPDATE gate_devices SET revoked_at = ?, revoked_by = ? WHERE id = ? AND event_id = ? AND revoked_at IS NULL",
      )
      .bind(now, host.id, deviceId, event.id),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "gate.device-revoke", outcome: "success", userId: host.id, detail: { eventId: event.id, deviceId } },
      now,
      // The UPDATE just before it in the batch changed the row: only the revocation that did records it
      // (concurrent ones read the same millisecond, so comparing revoked_at would audit each).
      { sql: "changes() = 1", bindings: [] },
    ),
  ]);
}

/**
 * Whether `token` has the exact shape registerDevice mints: anything else cannot be a device token
 * and is refused without a limiter call or a D1 read.
 */
export function deviceTokenShape(token: string): boolean {
  return DEVICE_TOKEN_FORMAT.test(token);
}

/** The active device whose token hashes to `tokenHash` (SHA-256 hex), or null (unknown or revoked). */
export async function activeDevice(db: D1Database, tokenHash: string): Promise<DeviceRow | null> {
  return db
    .prepare(
      "SELECT id, event_id, name, role, created_at, revoked_at FROM gate_devices WHERE token_hash = ? AND revoked_at IS NULL",
    )
    .bind(tokenHash)
    .first<DeviceRow>();
}
