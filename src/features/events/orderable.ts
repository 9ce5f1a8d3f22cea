/**
 * The order path's short-lived copy of published events, per isolate (LIMITS.orderEventCacheMs): a
 * hot on-sale reads its event from D1 once per interval instead of once per order. The event's
 * EventInventory object decides every order with its own copy (kept current by every edit, and never
 * rolled back by an older one), so a stale copy here can only let through a request the object
 * then refuses.
 */
import { LIMITS } from "../../config/limits";
import { BoundedCache } from "../../lib/bounded-cache";
import type { EventRow } from "./service";

const orderable = new BoundedCache<string, EventRow>(LIMITS.orderEventCacheEntries, LIMITS.orderEventCacheMs);

/** Forgets this isolate's copy of an event (after an edit, or when the object says it is stale). */
export function forgetOrderableEvent(eventId: string): void {
  orderable.delete(eventId);
}

/**
 * The event for an order: a published one from this isolate's copy, anything else (and every miss)
 * from D1. Only published events are kept, so a draft published a moment ago, or a cancelled one, is
 * never answered from memory. `fresh` skips the copy.
 */
export async function orderEvent(
  db: D1Database,
  eventId: string,
  now: number,
  fresh = false,
): Promise<EventRow | null> {
  const hit = fresh ? undefined : orderable.get(eventId, now);
  if (hit) return hit;
  const row = await db.prepare("SELECT * FROM events WHERE id = ?").bind(eventId).first<EventRow>();
  orderable.delete(eventId);
  if (row?.status === "published") orderable.set(eventId, row, now);
  return row;
}
