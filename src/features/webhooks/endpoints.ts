/**
 * A host's webhook endpoints: create (the secret shown once), list, read, edit, delete, rotate the
 * secret, and the delivery log. Every read and write is scoped to the host: another host's endpoint is
 * 404, never 403 (no existence oracle). URLs pass the shared outgoing-URL rules (src/lib/safe-url.ts)
 * and are stored in their parsed form; the same rules run again before every attempt (./delivery.ts).
 */
import { LIMITS } from "../../config/limits";
import type { WebhookEventType } from "../../db/schema-integrations";
import { decodeCursor, encodeCursor, randomId } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import { checkSafeUrl } from "../../lib/safe-url";
import { newSigningSecret, overlapEnd, WEBHOOK_SECRET_CONTEXT } from "./signing";

export interface EndpointRow {
  id: string;
  host_id: string;
  url: string;
  description: string | null;
  event_types: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  enabled: number;
  disabled_reason: string | null;
  failing_since: number | null;
  created_at: number;
  updated_at: number;
}

/** An endpoint as its host sees it: never the secret, which is shown once (create, rotate). */
export interface ApiEndpoint {
  id: string;
  url: string;
  description: string | null;
  events: WebhookEventType[];
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  /** While a rotation overlaps: until when the previous secret still signs. */
  previousSecretExpiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface EndpointsDeps {
  db: D1Database;
  /** OUTGOING_ALLOW_LOOPBACK=1 outside production (src/config). */
  allowLoopback: boolean;
  /** Seals the signing secrets stored (a copy of D1 alone cannot sign in a host's name). */
  pii: PiiCipher;
  now?: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function toApiEndpoint(row: EndpointRow, now = Date.now()): ApiEndpoint {
  const overlap = row.previous_secret_expires_at;
  return {
    id: row.id,
    url: row.url,
    description: row.description,
    events: JSON.parse(row.event_types) as WebhookEventType[],
    enabled: row.enabled === 1,
    disabledReason: row.disabled_reason,
    failingSince: iso(row.failing_since),
    previousSecretExpiresAt: overlap !== null && overlap > now ? iso(overlap) : null,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** The parsed URL to store, or 422 invalid-url with the reason (the same rules as creators' links). */
export function endpointUrl(input: string, allowLoopback: boolean): string {
  const checked = checkSafeUrl(input, { allowLoopback });
  if (!checked.ok) {
    throw new DomainError("invalid-url", `The URL is not allowed (${checked.reason}).`, { reason: checked.reason });
  }
  return checked.url.href;
}

/** Each type once, in the order given. */
const distinct = (types: readonly WebhookEventType[]) => [...new Set(types)];

export async function findEndpoint(db: D1Database, hostId: string, id: string): Promise<EndpointRow> {
  const row = await db
    .prepare("SELECT * FROM webhook_endpoints WHERE id = ? AND host_id = ?")
    .bind(id, hostId)
    .first<EndpointRow>();
  if (!row) throw new DomainError("not-found", "No such webhook endpoint.");
  return row;
}

export interface NewEndpoint {
  url: string;
  events: WebhookEventType[];
  description?: string;
}

/**
 * Creates an endpoint with a fresh secret, returned this once. The cap is checked inside the insert
 * (one statement), so concurrent creations never pass it.
 */
export async function createEndpoint(
  deps: EndpointsDeps,
  hostId: string,
  input: NewEndpoint,
): Promise<{ endpoint: ApiEndpoint; secret: string }> {
  const url = endpointUrl(input.url, deps.allowLoopback);
  const now = deps.now ?? Date.now();
  const id = `ep_${randomId()}`;
  const secret = newSigningSecret();
  const row = await deps.db
    .prepare(
      `INSERT INTO webhook_endpoints (id, host_id, url, description, event_types, secret, enabled, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, 1, ?, ?
       WHERE (SELECT COUNT(*) FROM webhook_endpoints WHERE host_id = ?) < ?
       RETURNING *`,
    )
    .bind(
      id,
      hostId,
      url,
      input.description ?? null,
      JSON.stringify(distinct(input.events)),
      deps.pii.seal(secret, WEBHOOK_SECRET_CONTEXT),
      now,
      now,
      hostId,
      LIMITS.webhookEndpointsPerHost,
    )
    .first<EndpointRow>();
  if (!row) {
    throw new DomainError(
      "too-many-webhook-endpoints",
      `A host may have at most ${LIMITS.webhookEndpointsPerHost} webhook endpoints; delete one first.`,
      { limit: LIMITS.webhookEndpointsPerHost },
    );
  }
  return { endpoint: toApiEndpoint(row, now), secret };
}

export async function listEndpoints(db: D1Database, hostId: string): Promise<ApiEndpoint[]> {
  const { results } = await db
    .prepare("SELECT * FROM webhook_endpoints WHERE host_id = ? ORDER BY created_at, id")
    .bind(hostId)
    .all<EndpointRow>();
  return results.map((row) => toApiEndpoint(row));
}

export async function getEndpoint(db: D1Database, hostId: string, id: string): Promise<ApiEndpoint> {
  return toApiEndpoint(await findEndpoint(db, hostId, id));
}

export interface EndpointEdit {
  url?: string;
  events?: WebhookEventType[];
  /** null clears it. */
  description?: string | null;
  enabled?: boolean;
}

/**
 * Edits an endpoint. Disabling records `host` as the reason; enabling clears the reason and the
 * failing run, so an endpoint we disabled starts over with a full 5 days.
 */
export async function updateEndpoint(
  deps: EndpointsDeps,
  hostId: string,
  id: string,
  edit: EndpointEdit,
): Promise<ApiEndpoint> {
  const before = await findEndpoint(deps.db, hostId, id);
  const now = deps.now ?? Date.now();
  const url = edit.url === undefined ? before.url : endpointUrl(edit.url, deps.allowLoopback);
  const events = edit.events === undefined ? before.event_types : JSON.stringify(distinct(edit.events));
  const description = edit.description === undefined ? before.description : edit.description;
  let enabled = before.enabled;
  let reason = before.disabled_reason;
  let failingSince = before.failing_since;
  if (edit.enabled === true && before.enabled === 0) {
    enabled = 1;
    reason = null;
    failingSince = null;
  } else if (edit.enabled === false && before.enabled === 1) {
    enabled = 0;
    reason = "host";
  }
  const row = await deps.db
    .prepare(
      `UPDATE webhook_endpoints SET url = ?, event_types = ?, description = ?, enabled = ?, disabled_reason = ?,
         failing_since = ?, updated_at = ? WHERE id = ? AND host_id = ? RETURNING *`,
    )
    .bind(url, events, description, enabled, reason, failingSince, now, id, hostId)
    .first<EndpointRow>();
  if (!row) throw new DomainError("not-found", "No such webhook endpoint.");
  return toApiEndpoint(row, now);
}

/** Deletes the endpoint with its deliveries and their attempts (foreign keys cascade). */
export async function deleteEndpoint(db: D1Database, hostId: string, id: string): Promise<void> {
  // RETURNING, not meta.changes: D1 counts the cascaded deliveries and attempts there too.
  const deleted = await db
    .prepare("DELETE FROM webhook_endpoints WHERE id = ? AND host_id = ? RETURNING id")
    .bind(id, hostId)
    .first<{ id: string }>();
  if (!deleted) throw new DomainError("not-found", "No such webhook endpoint.");
}

/**
 * A new secret, returned this once; the current one becomes the previous and keeps signing until
 * the overlap ends (LIMITS.webhookSecretOverlapMs). A second rotation within the overlap drops the
 * oldest: only the two newest ever sign.
 */
export async function rotateSecret(
  deps: EndpointsDeps,
  hostId: string,
  id: string,
): Promise<{ endpoint: ApiEndpoint; secret: string }> {
  const now = deps.now ?? Date.now();
  const secret = newSigningSecret();
  const row = await deps.db
    .prepare(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_expires_at = ?, secret = ?, updated_at = ?
       WHERE id = ? AND host_id = ? RETURNING *`,
    )
    .bind(overlapEnd(now), deps.pii.seal(secret, WEBHOOK_SECRET_CONTEXT), now, id, hostId)
    .first<EndpointRow>();
  if (!row) throw new DomainError("not-found", "No such webhook endpoint.");
  return { endpoint: toApiEndpoint(row, now), secret };
}

/** One delivery in the log, with what its latest attempt got back. */
export interface ApiDelivery {
  id: string;
  /** The webhook event's id: the `webhook-id` header of every attempt. */
  eventId: string;
  type: string;
  status: "pending" | "succeeded" | "failed";
  attempts: number;
  lastStatusCode: number | null;
  lastLatencyMs: number | null;
  lastError: string | null;
  responseSnippet: string | null;
  nextAttemptAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface DeliveryLogRow {
  id: string;
  event_id: string;
  type: string;
  status: ApiDelivery["status"];
  attempts: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_latency_ms: number | null;
  last_error: string | null;
  response_snippet: string | null;
  created_at: number;
  updated_at: number;
}

/** The delivery log's row: the delivery, its event's type, the newest attempt's snippet. */
export const DELIVERY_LOG_SELECT = `SELECT d.id, d.event_id, e.type, d.status, d.attempts, d.next_attempt_at,
    d.last_status_code, d.last_latency_ms, d.last_error, d.created_at, d.updated_at,
    (SELECT a.response_snippet FROM webhook_attempts a WHERE a.delivery_id = d.id ORDER BY a.attempt DESC LIMIT 1)
      AS response_snippet
  FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id`;

export function toApiDelivery(row: DeliveryLogRow): ApiDelivery {
  return {
    id: row.id,
    eventId: row.event_id,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    lastStatusCode: row.last_status_code,
    lastLatencyMs: row.last_latency_ms,
    lastError: row.last_error,
    responseSnippet: row.response_snippet,
    // A pending delivery's next attempt; a claim in flight shows its lease's end, near enough.
    nextAttemptAt: row.status === "pending" ? iso(row.next_attempt_at) : null,
    createdAt: iso(row.created_at) as string,
    updatedAt: iso(row.updated_at) as string,
  };
}

/** Cursor: `<created_at>:<id>` of the last item shown, newest first. */
function parseCursor(raw: string): { at: number; id: string } {
  const text = decodeCursor(raw);
  const match = text === null ? null : /^(\d{1,15}):([A-Za-z0-9_-]{1,64})$/.exec(text);
  if (!match) throw invalidCursorError();
  return { at: Number(match[1]), id: match[2] as string };
}

/** The endpoint's deliveries, newest first, a page at a time. */
export async function listDeliveries(
  db: D1Database,
  hostId: string,
  endpointId: string,
  query: { limit: number; cursor?: string },
): Promise<{ items: ApiDelivery[]; nextCursor: string | null }> {
  await findEndpoint(db, hostId, endpointId);
  const after = query.cursor === undefined ? null : parseCursor(query.cursor);
  const { results } = await db
    .prepare(
      `${DELIVERY_LOG_SELECT}
       WHERE d.endpoint_id = ? AND (? IS NULL OR d.created_at < ? OR (d.created_at = ? AND d.id < ?))
       ORDER BY d.created_at DESC, d.id DESC LIMIT ?`,
    )
    .bind(endpointId, after?.at ?? null, after?.at ?? null, after?.at ?? null, after?.id ?? null, query.limit + 1)
    .all<DeliveryLogRow>();
  const page = results.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(toApiDelivery),
    nextCursor: results.length > query.limit && last ? encodeCursor(`${last.created_at}:${last.id}`) : null,
  };
}
