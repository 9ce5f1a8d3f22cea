/**
 * The waitlist's part of the projection (./projection.ts): an entry's record becomes an upsert of its
 * D1 row (`waitlist_entries`, applied only when the record's outbox seq is newer than the row's, so a
 * replay never overwrites newer state), and an offer also writes its `waitlist.offered` webhook event
 * (the host's, read from D1's events row) in the same batch. The offer email's template input is here
 * too: its link opens the event's page with the offer.
 */
import type { EmailTemplate } from "../../src/features/email/templates";
import { eventWebhookStatement } from "../../src/features/webhooks/outbox";
import type { WaitlistEntry } from "./contract";
import type { InventoryEmail } from "./outbox";

type OfferEmail = Extract<InventoryEmail, { template: "waitlist-offer" }>;

/** The page that shows the offer with its accept and decline buttons: the event's page. */
export function offerLink(origin: string, eventId: string, offerId: string): string {
  const url = new URL(`/e/${encodeURIComponent(eventId)}`, origin);
  url.searchParams.set("offer", offerId);
  return url.href;
}

export function offerMessage(email: OfferEmail, origin: string): EmailTemplate {
  return {
    template: "waitlist-offer",
    name: email.data.name,
    eventTitle: email.data.eventTitle,
    expiresAt: new Date(email.data.expiresAt).toISOString(),
    link: offerLink(origin, email.data.eventId, email.data.offerId),
  };
}

/**
 * The row's upsert, written only while D1 knows the event and the user (the read model's foreign
 * keys: a user who deleted their account must not stop the event's whole projection), then the
 * webhook event of an offer.
 */
export function waitlistStatements(db: D1Database, seq: number, entry: WaitlistEntry): D1PreparedStatement[] {
  const statements = [
    db
      .prepare(
        `INSERT INTO waitlist_entries (event_id, user_id, position, status, offer_id, offer_expires_at, order_id, seq, created_at, updated_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
         WHERE EXISTS (SELECT 1 FROM events WHERE id = ?) AND EXISTS (SELECT 1 FROM users WHERE id = ?)
         ON CONFLICT (event_id, user_id) DO UPDATE SET position = excluded.position, status = excluded.status,
           offer_id = excluded.offer_id, offer_expires_at = excluded.offer_expires_at, order_id = excluded.order_id,
           seq = excluded.seq, created_at = excluded.created_at, updated_at = excluded.updated_at
         WHERE excluded.seq > waitlist_entries.seq`,
      )
      .bind(
        entry.eventId,
        entry.userId,
        entry.number,
        entry.status,
        entry.offerId,
        entry.offerExpiresAt,
        entry.orderId,
        seq,
        entry.createdAt,
        entry.updatedAt,
        entry.eventId,
        entry.userId,
      ),
  ];
  if (entry.status === "offered" && entry.offerId) {
    statements.push(
      eventWebhookStatement(db, {
        type: "waitlist.offered",
        eventId: entry.eventId,
        factId: entry.offerId,
        data: {
          eventId: entry.eventId,
          offerId: entry.offerId,
          userId: entry.userId,
          quantity: 1,
          offerExpiresAt: new Date(entry.offerExpiresAt ?? entry.updatedAt).toISOString(),
        },
        at: entry.updatedAt,
      }),
    );
  }
  return statements;
}
