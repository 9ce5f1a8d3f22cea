/**
 * The one writer of `webhook_events`, the outbox of outgoing webhooks. A feature that changes a host's
 * resource adds `webhookEventStatement` to the D1 batch that records the change, so the webhook exists
 * exactly when the fact does (never lost, never sent for a change that rolled back). After the batch
 * commits it calls `wakeWebhookEvents` (best effort: a message the queue did not take is found by the
 * cron sweep). EventInventory's push uses both, like the email outbox writer; it does not know the
 * event's host, so `eventWebhookStatement` reads it from D1's events row inside the same statement.
 *
 * A fact is written only for a host with an enabled endpoint subscribed to its type: the fan-out
 * (./fanout.ts) would find nobody to deliver it to, and most hosts have no endpoint, so every order,
 * check-in and tip of theirs would otherwise cost a row, a queue message and a consumer run for
 * nothing.
 *
 * The row's id is the `webhook-id` of every delivery and retry. It is derived from the fact
 * (`msg_<type>_<fact id>`), so a replayed writer (a retried push, a webhook processed twice) inserts
 * the row once. Every insert returns the id of a row it wrote under WEBHOOK_EVENT_ID_COLUMN, so the
 * writer wakes exactly the new ones (`insertedWebhookEventIds`).
 */
import type { WebhookEventType } from "../../db/schema-integrations";
import { log } from "../../lib/log";

/** The message on OUTGOING_WEBHOOK_QUEUE: a wake-up naming a row; the row is the truth. */
export type OutgoingWebhookMessage = { webhookEventId: string } | { deliveryId: string };

/**
 * The type of a test ping (POST /api/v1/me/webhook-endpoints/:id/test): delivered to that one endpoint,
 * never fanned out, so it is not one of WEBHOOK_EVENT_TYPES an endpoint subscribes to.
 */
export const WEBHOOK_TEST_EVENT_TYPE = "webhook.test";

/** Column name under which inserts return the new row's id. */
export const WEBHOOK_EVENT_ID_COLUMN = "webhook_event_id";

export interface WebhookEventInput {
  type: WebhookEventType;
  /** The host whose endpoints receive it (the event's host, the tip's creator). */
  hostId: string;
  /** The id of the fact (order, refund, ticket, event, tip, offer): makes the row id deterministic. */
  factId: string;
  /** The body's `data`: what a host's system needs, never another person's secrets. */
  data: Record<string, unknown>;
  at: number;
}

/** A SQL condition with its bindings: the row is written only when it holds inside the batch. */
export interface WebhookCondition {
  sql: string;
  bindings: readonly unknown[];
}

/**
 * Whether the host `hostSql` names has an enabled endpoint subscribed to the type bound at `?`: the
 * fan-out's own match (./fanout.ts), served by webhook_endpoints_host.
 */
const subscribed = (hostSql: string) =>
  `EXISTS (SELECT 1 FROM webhook_endpoints ep WHERE ep.host_id = ${hostSql} AND ep.enabled = 1
     AND EXISTS (SELECT 1 FROM json_each(ep.event_types) WHERE json_each.value = ?))`;

export function webhookEventId(type: WebhookEventType, factId: string): string {
  return `msg_${type}_${factId}`;
}

/**
 * INSERT OR IGNORE of the webhook event; batch it with the statements that record the fact. With
 * `onlyIf` the row is written only when the condition holds after the batch's earlier statements (the
 * conditional UPDATE that records the fact took effect).
 */
export function webhookEventStatement(
  db: D1Database,
  input: WebhookEventInput,
  options: { onlyIf?: WebhookCondition } = {},
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT OR IGNORE INTO webhook_events (id, host_id, type, data, created_at)
       SELECT ?, ?, ?, ?, ? WHERE (${options.onlyIf?.sql ?? "1"}) AND ${subscribed("?")}
       RETURNING id AS ${WEBHOOK_EVENT_ID_COLUMN}`,
    )
    .bind(
      webhookEventId(input.type, input.factId),
      input.hostId,
      input.type,
      JSON.stringify(input.data),
      input.at,
      ...(options.onlyIf?.bindings ?? []),
      input.hostId,
      input.type,
    );
}

export interface EventWebhookInput extends Omit<WebhookEventInput, "hostId"> {
  /** The Gatehouse event whose host receives it (read from D1's events row). */
  eventId: string;
  /** Adds `ticketIds`: the order's tickets as D1 holds them when the statement runs, by serial. */
  ticketIdsOfOrder?: string;
}

/**
 * The same insert for a fact of one event, its host read from D1's events row in the statement (no
 * row, no webhook: an event D1 does not know has no host to tell). Put it after the statements that
 * write the order's tickets when `ticketIdsOfOrder` is set.
 */
export function eventWebhookStatement(db: D1Database, input: EventWebhookInput): D1PreparedStatement {
  const data = JSON.stringify(input.data);
  // json() gives the subquery's text its JSON subtype back, so json_set nests an array, not a string.
  const dataSql =
    input.ticketIdsOfOrder === undefined
      ? "?"
      : "json_set(?, '$.ticketIds', json((SELECT json_group_array(id) FROM (SELECT id FROM tickets WHERE order_id = ? ORDER BY serial))))";
  return db
    .prepare(
      `INSERT OR IGNORE INTO webhook_events (id, host_id, type, data, created_at)
       SELECT ?, host_id, ?, ${dataSql}, ? FROM events WHERE id = ? AND ${subscribed("events.host_id")}
       RETURNING id AS ${WEBHOOK_EVENT_ID_COLUMN}`,
    )
    .bind(
      webhookEventId(input.type, input.factId),
      input.type,
      data,
      ...(input.ticketIdsOfOrder === undefined ? [] : [input.ticketIdsOfOrder]),
      input.at,
      input.eventId,
      input.type,
    );
}

/** Ids returned under WEBHOOK_EVENT_ID_COLUMN by a committed batch: the webhook events it wrote. */
export function insertedWebhookEventIds(results: readonly D1Result[]): string[] {
  const ids: string[] = [];
  for (const result of results) {
    for (const row of result.results ?? []) {
      const id = (row as Record<string, unknown>)[WEBHOOK_EVENT_ID_COLUMN];
      if (typeof id === "string") ids.push(id);
    }
  }
  return ids;
}

/**
 * Sends one wake-up per webhook event id. Never throws: a row the queue did not take still has
 * `fanned_out_at` null, and the cron sweep hands it over later. A missing queue (a caller built
 * without one) leaves the rows to the sweep too.
 */
export async function wakeWebhookEvents(
  queue: Queue<OutgoingWebhookMessage> | undefined,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0 || !queue) return;
  try {
    for (let i = 0; i < ids.length; i += 100) {
      await queue.sendBatch(ids.slice(i, i + 100).map((webhookEventId) => ({ body: { webhookEventId } })));
    }
  } catch (error) {
    log("warn", "webhook wake-up failed; the sweep will hand the events over", { count: ids.length, error });
  }
}
