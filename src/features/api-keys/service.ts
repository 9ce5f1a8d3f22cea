/**
 * Hosts' API keys: created with a name and scopes (the key shown once, only its hash kept), listed
 * without the key, revoked at once (every request reads the row: src/features/api-keys/authenticator.ts).
 * At most LIMITS.apiKeysPerHost live keys per host, enforced in the insert itself so concurrent
 * creations cannot overshoot. Creating and revoking are audited in the same batch as the change.
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import type { RowOf } from "../../db/rows";
import type { ApiKeyScope, apiKeys } from "../../db/schema-integrations";
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { iso } from "../../lib/time";
import { auditStatement, type RequestMeta } from "../audit";
import { openEmail, openName } from "../auth";
import { type EmailQueue, emailStatements, enqueueCommitted } from "../email";
import { mintApiKey } from "./keys";

export type ApiKeyRow = RowOf<typeof apiKeys>;

export interface ApiKeysDeps {
  db: D1Database;
  config: Config;
  meta: RequestMeta;
  /** Where the new key's notice to its host is sent from (without it, the email sweep sends it). */
  emailQueue?: EmailQueue;
  now?: number;
}

export function toApiKey(row: ApiKeyRow) {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as ApiKeyScope[],
    prefix: row.prefix,
    createdAt: iso(row.created_at),
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}

export async function createApiKey(deps: ApiKeysDeps, hostId: string, input: { name: string; scopes: ApiKeyScope[] }) {
  const now = deps.now ?? Date.now();
  const id = randomId();
  const minted = await mintApiKey();
  const host = await deps.db
    .prepare("SELECT email, name FROM users WHERE id = ?")
    .bind(hostId)
    .first<{ email: string; name: string }>();
  const written = { sql: "EXISTS (SELECT 1 FROM api_keys WHERE id = ?)", bindings: [id] };
  // One conditional insert: concurrent creations cannot overshoot the per-host cap. The audit row and
  // the host's notice are written only if the key was: a key outlives sessions (a password reset does
  // not revoke it), so one made from a stolen session must not go unnoticed.
  const results = await deps.db.batch([
    deps.db
      .prepare(
        `INSERT INTO api_keys (id, host_id, name, prefix, key_hash, scopes, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?
         WHERE (SELECT COUNT(*) FROM api_keys WHERE host_id = ? AND revoked_at IS NULL) < ?`,
      )
      .bind(
        id,
        hostId,
        input.name,
        minted.prefix,
        minted.hash,
        JSON.stringify(input.scopes),
        now,
        hostId,
        LIMITS.apiKeysPerHost,
      ),
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      {
        action: "api-key.create",
        outcome: "success",
        userId: hostId,
        detail: { apiKeyId: id, prefix: minted.prefix, scopes: input.scopes },
      },
      now,
      written,
    ),
    ...(host
      ? emailStatements(
          deps.db,
          deps.config,
          openEmail(deps.config.pii, host.email),
          {
            template: "api-key-created",
            name: openName(deps.config.pii, host.name),
            keyName: input.name,
            prefix: minted.prefix,
            scopes: input.scopes,
          },
          now,
          { onlyIf: written },
        )
      : []),
  ]);
  if (results[0]?.meta.changes !== 1) {
    throw new DomainError("limit-exceeded", `At most ${LIMITS.apiKeysPerHost} active API keys per host.`, {
      limit: LIMITS.apiKeysPerHost,
    });
  }
  if (deps.emailQueue) await enqueueCommitted(deps.db, deps.emailQueue, results);
  return {
    id,
    name: input.name,
    scopes: input.scopes,
    prefix: minted.prefix,
    key: minted.key,
    createdAt: iso(now),
  };
}

/** The host's keys (revoked ones too, marked), newest first, keyset-paged on (created_at, id). */
export async function listApiKeys(db: D1Database, hostId: string, query: { limit: number; cursor?: string }) {
  let after: { at: number; id: string } | null = null;
  if (query.cursor) {
    const [at, id] = decodeCursor(query.cursor)?.split("|") ?? [];
    if (!at || !id || !/^\d+$/.test(at)) throw invalidCursorError();
    after = { at: Number(at), id };
  }
  const { results } = await db
    .prepare(
      `SELECT id, host_id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at FROM api_keys
       WHERE host_id = ?1 AND (?2 IS NULL OR created_at < ?2 OR (created_at = ?2 AND id < ?3))
       ORDER BY created_at DESC, id DESC LIMIT ?4`,
    )
    .bind(hostId, after?.at ?? null, after?.id ?? "", query.limit + 1)
    .all<ApiKeyRow>();
  const page = results.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(toApiKey),
    nextCursor: results.length > query.limit && last ? encodeCursor(`${last.created_at}|${last.id}`) : null,
  };
}

/**
 * Revokes one of the host's keys: refused from its next request on (the authenticator reads the row
 * every time). Another host's key, or none, is 404; revoking a revoked key changes nothing.
 */
export async function revokeApiKey(deps: ApiKeysDeps, hostId: string, id: string): Promise<void> {
  const now = deps.now ?? Date.now();
  const [updated] = await deps.db.batch([
    deps.db
      .prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND host_id = ? AND revoked_at IS NULL")
      .bind(now, id, hostId),
    // Only if the UPDATE just before it (same batch, same connection) revoked the key: concurrent
    // revocations, which may well read the same clock, record and audit it once.
    await auditStatement(
      deps.db,
      deps.config,
      deps.meta,
      { action: "api-key.revoke", outcome: "success", userId: hostId, detail: { apiKeyId: id } },
      now,
      { sql: "changes() = 1", bindings: [] },
    ),
  ]);
  if (updated?.meta.changes === 1) return;
  const exists = await deps.db
    .prepare("SELECT 1 AS found FROM api_keys WHERE id = ? AND host_id = ?")
    .bind(id, hostId)
    .first<{ found: number }>();
  if (!exists) throw new DomainError("not-found", "No such API key.");
}
