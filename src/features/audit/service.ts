/**
 * Audit log (ASVS 16.3): security events with time, user, pseudonymised address, user agent,
 * request id and outcome. Never secrets, raw tokens or plaintext addresses.
 */
import type { Config } from "../../config";
import { hmacHex, randomId } from "../../lib/crypto";
import { ipKey } from "../../lib/ip";

export interface RequestMeta {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditEntry {
  action: string;
  outcome: "success" | "failure" | "denied";
  userId?: string | null;
  detail?: Record<string, unknown>;
}

export async function ipHash(config: Config, ip: string | null): Promise<string | null> {
  return ip ? (await hmacHex(config.hashPepper, ipKey(ip))).slice(0, 32) : null;
}

export interface Condition {
  sql: string;
  bindings: unknown[];
}

/** The audit insert as a statement, to batch with the change it records (optionally conditional). */
export async function auditStatement(
  db: D1Database,
  config: Config,
  meta: RequestMeta,
  entry: AuditEntry,
  now = Date.now(),
  onlyIf?: Condition,
): Promise<D1PreparedStatement> {
  return db
    .prepare(
      `INSERT INTO audit_log (id, at, user_id, action, outcome, ip_hash, user_agent, request_id, detail)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?${onlyIf ? ` WHERE ${onlyIf.sql}` : ""}`,
    )
    .bind(
      randomId(),
      now,
      entry.userId ?? null,
      entry.action,
      entry.outcome,
      await ipHash(config, meta.ip),
      meta.userAgent?.slice(0, 512) ?? null,
      meta.requestId,
      JSON.stringify(entry.detail ?? {}),
      ...(onlyIf?.bindings ?? []),
    );
}

export async function audit(db: D1Database, config: Config, meta: RequestMeta, entry: AuditEntry): Promise<void> {
  await (await auditStatement(db, config, meta, entry)).run();
}
