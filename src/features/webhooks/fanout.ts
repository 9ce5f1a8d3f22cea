/**
 * Fan-out: a webhook event becomes one delivery per endpoint of its host that is enabled and
 * subscribed to its type at that moment. One D1 batch inserts the deliveries (INSERT OR IGNORE: the
 * unique (event_id, endpoint_id) makes a second fan-out of the same event, a duplicate message or a
 * racing sweep, insert nothing) and marks the event fanned out; the caller then enqueues one
 * `{ deliveryId }` message per delivery it inserted.
 *
 * Why a message per delivery rather than attempting them here: an endpoint that hangs for its full
 * 10 s must not hold up the host's other endpoints, and each delivery then follows its own retry
 * schedule on its own messages. A crash between the batch and the hand-off leaves pending deliveries
 * whose attempt is due; the cron sweep (./sweep.ts) hands them over.
 */

/** The new deliveries' ids (none when the event is unknown or was fanned out already). */
export async function fanOut(db: D1Database, webhookEventId: string, now = Date.now()): Promise<string[]> {
  const [inserted] = await db.batch([
    db
      .prepare(
        `INSERT OR IGNORE INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT 'dlv_' || lower(hex(randomblob(16))), e.id, ep.id, 'pending', 0, ?, ?, ?
         FROM webhook_events e
         JOIN webhook_endpoints ep ON ep.host_id = e.host_id AND ep.enabled = 1
           AND EXISTS (SELECT 1 FROM json_each(ep.event_types) WHERE json_each.value = e.type)
         WHERE e.id = ? AND e.fanned_out_at IS NULL
         RETURNING id`,
      )
      .bind(now, now, now, webhookEventId),
    db
      .prepare("UPDATE webhook_events SET fanned_out_at = ? WHERE id = ? AND fanned_out_at IS NULL")
      .bind(now, webhookEventId),
  ]);
  return ((inserted?.results ?? []) as { id: string }[]).map((row) => row.id);
}
