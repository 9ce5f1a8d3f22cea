/**
 * The waitlist's Worker side (API "Integrations"): the event's EventInventory object keeps the line and
 * makes every decision (./durable-objects/event-inventory/waitlist.ts); this layer finds the event (and,
 * for an offer, its event through D1's read model `waitlist_entries.offer_id`), answers what the object
 * cannot know (who hosts the event, whether Stripe is configured) and reads the caller's entries from
 * D1. Accepting a paid offer reuses the paid order path: the object turns the offer's hold into a
 * checkout hold and payments opens the Checkout Session for it, as for any order.
 */
import type { WaitlistStatus } from "../../../durable-objects/event-inventory/contract";
import { LIMITS } from "../../config/limits";
import { DomainError } from "../../lib/errors";
import { iso } from "../../lib/time";
import {
  type Caller,
  type EventRow,
  type EventsDeps,
  findEvent,
  inventoryOf,
  ownedEvent,
  toSnapshot,
  unwrap,
  withInventoryDeadline,
} from "../events";
import { type Buyer, toApiOrder, toApiTicket } from "../orders";
import { notConfigured, type PaymentsDeps, startCheckout } from "../payments";

/** A published (or cancelled) event, as a buyer may see it: drafts and missing ones are 404. */
async function visibleEvent(db: D1Database, eventId: string): Promise<EventRow> {
  const event = await findEvent(db, eventId);
  if (!event || event.status === "draft") throw new DomainError("not-found", "No such event.");
  return event;
}

export async function joinWaitlist(deps: EventsDeps, user: Buyer, eventId: string): Promise<{ position: number }> {
  const event = await visibleEvent(deps.db, eventId);
  if (event.status !== "published") throw new DomainError("not-on-sale", "The event is not on sale.");
  return unwrap(
    await inventoryOf(withInventoryDeadline(deps.inventory), eventId).joinWaitlist({
      userId: user.id,
      contact: { email: user.email, name: user.name },
      snapshot: toSnapshot(event),
    }),
  );
}

/** Leaves the line; an open offer is declined. Not in line at all: 404. */
export async function leaveWaitlist(deps: EventsDeps, userId: string, eventId: string): Promise<void> {
  await visibleEvent(deps.db, eventId);
  unwrap(await inventoryOf(withInventoryDeadline(deps.inventory), eventId).leaveWaitlist({ userId }));
}

/** The offer's event, through the read model; another user's offer is 404 like a missing one. */
async function offerEvent(db: D1Database, userId: string, offerId: string): Promise<EventRow> {
  const entry = await db
    .prepare("SELECT event_id, user_id FROM waitlist_entries WHERE offer_id = ?")
    .bind(offerId)
    .first<{ event_id: string; user_id: string }>();
  if (!entry || entry.user_id !== userId) throw new DomainError("not-found", "No such offer.");
  return visibleEvent(db, entry.event_id);
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/**
 * Accepts an offer within its window: free ⇒ { order, tickets }; paid ⇒ { order, checkoutUrl,
 * holdExpiresAt } (the hold now lasts as long as its Checkout Session). After the window: 410
 * offer-expired, nothing changed. Without Stripe configured a paid offer is refused before the object
 * is asked, so the offer stays open.
 */
export async function acceptOffer(
  deps: EventsDeps,
  payments: PaymentsDeps | null,
  buyer: Buyer,
  offerId: string,
  returnBase: string,
): Promise<
  | { order: ReturnType<typeof toApiOrder>; tickets: ReturnType<typeof toApiTicket>[] }
  | { order: ReturnType<typeof toApiOrder>; checkoutUrl: string; holdExpiresAt: string }
> {
  const event = await offerEvent(deps.db, buyer.id, offerId);
  const inventory = inventoryOf(withInventoryDeadline(deps.inventory), event.id);
  if (event.price === 0) {
    const accepted = unwrap(await inventory.acceptOffer({ offerId, userId: buyer.id }));
    return { order: toApiOrder(accepted.order), tickets: accepted.tickets.map(toApiTicket) };
  }
  if (!payments) throw notConfigured();
  // As a new paid order's hold (payments/checkout.ts): a whole second, with slack for Stripe's minimum.
  const checkoutExpiresAt =
    (seconds(Date.now()) + payments.payments.checkoutTtlSeconds + LIMITS.checkoutExpirySlackSeconds) * 1000;
  const accepted = unwrap(await inventory.acceptOffer({ offerId, userId: buyer.id, checkoutExpiresAt }));
  if (accepted.order.status === "confirmed") {
    return { order: toApiOrder(accepted.order), tickets: accepted.tickets.map(toApiTicket) };
  }
  // The order exists (the offer's hold), so the object's hold answers it as it is: no queue pass needed.
  const checkout = await startCheckout(
    { ...payments, inventory: withInventoryDeadline(payments.inventory) },
    { buyer, event, orderId: offerId, quantity: 1, returnBase, queuePass: true },
  );
  return {
    order: toApiOrder(checkout.order),
    checkoutUrl: checkout.checkoutUrl,
    holdExpiresAt: checkout.holdExpiresAt,
  };
}

/** Declines an open offer: the ticket goes to the next in line. An offer already ended: nothing changes. */
export async function declineOffer(deps: EventsDeps, userId: string, offerId: string): Promise<void> {
  const event = await offerEvent(deps.db, userId, offerId);
  unwrap(await inventoryOf(withInventoryDeadline(deps.inventory), event.id).declineOffer({ offerId, userId }));
}

type MyEntryRow = {
  event_id: string;
  title: string;
  starts_at: number;
  status: WaitlistStatus;
  offer_id: string | null;
  offer_expires_at: number | null;
  order_id: string | null;
  ahead: number;
};

/**
 * The caller's entries, newest change first, from the D1 read model. `position` is the place in line
 * among those still waiting (1 = next), null once the entry is no longer waiting.
 */
export async function myWaitlist(db: D1Database, userId: string) {
  const { results } = await db
    .prepare(
      `SELECT w.event_id, e.title, e.starts_at, w.status, w.offer_id, w.offer_expires_at, w.order_id,
         (SELECT COUNT(*) FROM waitlist_entries a
          WHERE a.event_id = w.event_id AND a.status = 'waiting' AND a.position < w.position) AS ahead
       FROM waitlist_entries w JOIN events e ON e.id = w.event_id
       WHERE w.user_id = ? ORDER BY w.updated_at DESC LIMIT ?`,
    )
    .bind(userId, LIMITS.pageSizeMax)
    .all<MyEntryRow>();
  return {
    items: results.map((r) => ({
      event: { id: r.event_id, title: r.title, startsAt: iso(r.starts_at) as string },
      position: r.status === "waiting" ? r.ahead + 1 : null,
      status: r.status,
      offerId: r.status === "offered" ? r.offer_id : null,
      offerExpiresAt: r.status === "offered" ? iso(r.offer_expires_at) : null,
      orderId: r.order_id,
    })),
  };
}

/** The host's view: the line's length, open offers, and the settings. */
export async function hostWaitlist(deps: EventsDeps, caller: Caller, eventId: string) {
  const event = await ownedEvent(deps, caller, eventId);
  return inventoryOf(withInventoryDeadline(deps.inventory), event.id).waitlistSummary();
}

export async function configureWaitlist(
  deps: EventsDeps,
  caller: Caller,
  eventId: string,
  input: { paused?: boolean; offerWindowHours?: number },
) {
  const event = await ownedEvent(deps, caller, eventId);
  return unwrap(
    await inventoryOf(withInventoryDeadline(deps.inventory), event.id).configureWaitlist({
      ...input,
      snapshot: toSnapshot(event),
    }),
  );
}
