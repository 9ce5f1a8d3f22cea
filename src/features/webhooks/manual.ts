/**
 * What a host starts by hand: replaying a delivery (one more attempt now, the same `webhook-id` and
 * body) and a test ping (a `webhook.test` event delivered to that endpoint only, never fanned out).
 * Both attempt at once, inside the request, and answer the delivery as the log shows it: the host sees
 * straight away what the endpoint said. Neither follows the retry schedule: a failed ping stays failed,
 * and a failed replay leaves the delivery's own schedule as it was. A disabled endpoint refuses both
 * (enable it first), so a manual attempt never runs against what the host switched off.
 */
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { attemptDelivery, type DeliveryDeps } from "./delivery";
import { type ApiDelivery, DELIVERY_LOG_SELECT, type DeliveryLogRow, findEndpoint, toApiDelivery } from "./endpoints";
import { WEBHOOK_TEST_EVENT_TYPE } from "./outbox";

async function deliveryLog(db: D1Database, deliveryId: string): Promise<ApiDelivery> {
  const row = await db.prepare(`${DELIVERY_LOG_SELECT} WHERE d.id = ?`).bind(deliveryId).first<DeliveryLogRow>();
  if (!row) throw new DomainError("not-found", "No such delivery.");
  return toApiDelivery(row);
}

function refuseDisabled(endpoint: { enabled: number }): void {
  if (endpoint.enabled !== 1) {
    throw new DomainError("invalid-transition", "The endpoint is disabled: enable it before sending to it.");
  }
}

/** One more attempt of the host's delivery, now. */
export async function replayDelivery(deps: DeliveryDeps, hostId: string, deliveryId: string): Promise<ApiDelivery> {
  const owned = await deps.db
    .prepare(
      `SELECT ep.enabled FROM webhook_deliveries d JOIN webhook_endpoints ep ON ep.id = d.endpoint_id
       WHERE d.id = ? AND ep.host_id = ?`,
    )
    .bind(deliveryId, hostId)
    .first<{ enabled: number }>();
  if (!owned) throw new DomainError("not-found", "No such delivery.");
  refuseDisabled(owned);
  await attemptDelivery(deps, deliveryId, "manual");
  return deliveryLog(deps.db, deliveryId);
}

/**
 * A test ping to one endpoint: a `webhook.test` event (data: the endpoint's id and a note), stored
 * fanned out already with its one delivery, then attempted.
 */
export async function pingEndpoint(deps: DeliveryDeps, hostId: string, endpointId: string): Promise<ApiDelivery> {
  const endpoint = await findEndpoint(deps.db, hostId, endpointId);
  refuseDisabled(endpoint);
  const now = Date.now();
  const eventId = `msg_${WEBHOOK_TEST_EVENT_TYPE}_${randomId()}`;
  const deliveryId = `dlv_${randomId()}`;
  const data = { endpointId, note: "A test ping sent from Gatehouse: no resource changed." };
  await deps.db.batch([
    deps.db
      .prepare(
        "INSERT INTO webhook_events (id, host_id, type, data, created_at, fanned_out_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
      .bind(eventId, hostId, WEBHOOK_TEST_EVENT_TYPE, JSON.stringify(data), now, now),
    deps.db
      .prepare(
        `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, 'pending', 0, NULL, ?, ?)`,
      )
      .bind(deliveryId, eventId, endpointId, now, now),
  ]);
  const outcome = await attemptDelivery(deps, deliveryId, "manual");
  // A ping is not retried: one that did not get a 2xx is failed at once.
  if (outcome.kind === "attempted" && !outcome.ok) {
    await deps.db
      .prepare("UPDATE webhook_deliveries SET status = 'failed' WHERE id = ? AND status = 'pending'")
      .bind(deliveryId)
      .run();
  }
  return deliveryLog(deps.db, deliveryId);
}
