/**
 * Devices the host revoked, as this event's object knows them. The object is where a revocation takes
 * effect (the Worker may know a device from its cache): every device call checks here first and
 * answers DEVICE_REVOKED (./contract.ts), which the Worker turns into 401.
 */

/** Records a revocation (idempotent: the first time stays). */
export function revokeDevice(sql: SqlStorage, deviceId: string, at: number): void {
  sql.exec("INSERT OR IGNORE INTO gate_revoked_devices (device_id, revoked_at) VALUES (?, ?)", deviceId, at);
}

export function isRevoked(sql: SqlStorage, deviceId: string): boolean {
  return sql.exec("SELECT 1 FROM gate_revoked_devices WHERE device_id = ?", deviceId).toArray().length > 0;
}
