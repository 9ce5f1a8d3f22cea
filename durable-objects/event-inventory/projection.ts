/**
 * Turns EventInventory outbox rows into idempotent D1 statements: orders and tickets are upserted
 * only when the row's outbox sequence is newer than what D1 holds (a replay or a late retry never
 * overwrites newer state), a confirmed order brings its buyer's in-app notice, and emails are inserted
 * once by their deterministic id, through the email outbox's own writer (src/features/email/outbox.ts).
 */
import { markQueued } from "../../src/features/email/enqueue";
import { outboxStatements } from "../../src/features/email/outbox";
import type { EmailTemplate } from "../../src/features/email/templates";
import { conditionalInsert } from "../../src/features/social/notification-writers";
import type { PiiCipher } from "../../src/lib/pii";
import { decode, type InventoryEmail, type InventoryOutboxRow } from "./outbox";
import { offerMessage, waitlistStatements } from "./waitlist-projection";
import { webhookStatements } from "./webhook-projection";

/** Where `npm run dev` serves the Worker: the origin of the object's email links when PUBLIC_URL is unset. */
export const LOCAL_ORIGIN = "http://localhost:8787";

/**
 * The origin of the links in the object's emails: PUBLIC_URL, as the Worker reads it (src/config). The
 * object answers no page request, so the request origin the Worker falls back to is unknown here; without
 * PUBLIC_URL the links point at the local development server. A link in an email is always absolute.
 */
export function linkOrigin(env: object): string {
  const raw = (env as Record<string, unknown>).PUBLIC_URL;
  if (typeof raw === "string" && raw) {
    try {
      const url = new URL(raw);
      if (url.protocol === "https:" || url.protocol === "http:") return url.origin;
    } catch {
      // Malformed: the Worker's configuration refuses it (every request answers 503 in production).
    }
  }
  return LOCAL_ORIGIN;
}

export interface ProjectionOptions {
  /** Seals the emails' recipients and bodies (src/lib/pii.ts). */
  pii: PiiCipher;
  /** Outside production: copy each email into dev_mailbox as well. */
  mirrorDevMailbox: boolean;
  /** The origin of the emails' links (linkOrigin); LOCAL_ORIGIN when absent. */
  linkOrigin?: string;
  /**
   * When set, each email is also marked queued (at this time) within the batch and its id returned
   * under OUTBOX_ID_COLUMN: the caller then sends the queue messages (one D1 round trip instead of a
   * second batch). Without it the emails stay pending for the sweep.
   */
  queuedAt?: number;
}

/** The template input for an email the object wrote (its stored data keeps the outbox record's shape). */
function messageOf(email: InventoryEmail, origin: string): EmailTemplate {
  if (email.template === "waitlist-offer") return offerMessage(email, origin);
  return email.template === "order-confirmed"
    ? {
        template: "order-confirmed",
        name: email.data.name,
        eventTitle: email.data.eventTitle,
        startsAt: new Date(email.data.startsAt).toISOString(),
        serials: email.data.serials,
        ticketsLink: new URL("/me/tickets", origin).href,
      }
    : {
        template: "event-cancelled",
        name: email.data.name,
        eventTitle: email.data.eventTitle ?? "",
        paid: email.data.paid,
      };
}

/**
 * Through the outbox's one writer, with the email's deterministic id (a replay writes nothing twice)
 * and a dev_mailbox id per outbox record. When `queuedAt` is set the row is marked queued in the same
 * batch; only a row still pending is, so a replayed push hands nothing over twice, and the id comes
 * back from that update for the caller to send (see handOverQueued).
 */
function emailStatements(
  db: D1Database,
  seq: number,
  email: InventoryEmail,
  options: ProjectionOptions,
): D1PreparedStatement[] {
  const statements = outboxStatements(
    db,
    { id: email.id, to: email.to, message: messageOf(email, options.linkOrigin ?? LOCAL_ORIGIN) },
    Date.now(),
    {
      pii: options.pii,
      mirrorDevMailbox: options.mirrorDevMailbox,
      devMailboxId: `${email.id}:${seq}`,
      returnId: false,
    },
  );
  if (options.queuedAt !== undefined) statements.push(markQueued(db, email.id, options.queuedAt));
  return statements;
}

export function projectionStatements(
  db: D1Database,
  rows: readonly InventoryOutboxRow[],
  options: ProjectionOptions,
): D1PreparedStatement[] {
  const statements: D1PreparedStatement[] = [];
  for (const row of rows) {
    const record = decode(row);
    if (record.kind === "order") {
      const o = record.payload;
      statements.push(
        db
          .prepare(
            `INSERT INTO orders (id, event_id, user_id, status, quantity, amount, currency, hold_expires_at, payment_ref, created_at, updated_at, projection_seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, hold_expires_at = excluded.hold_expires_at,
               payment_ref = excluded.payment_ref, updated_at = excluded.updated_at, projection_seq = excluded.projection_seq
             WHERE excluded.projection_seq > orders.projection_seq`,
          )
          .bind(
            o.id,
            o.eventId,
            o.userId,
            o.status,
            o.quantity,
            o.amount,
            o.currency,
            o.holdExpiresAt,
            o.paymentRef,
            o.createdAt,
            o.updatedAt,
            row.seq,
          ),
      );
      // The buyer's in-app notice of a confirmed order, in the same transaction as the order (once
      // per order: a replayed push, or the payment's own notice, inserts nothing), only while D1's row
      // is still confirmed after the upsert (a late replay of a cancelled order's old record), and
      // only for an account that still exists (an erased one: the batch must not fail on its key).
      if (o.status === "confirmed") {
        statements.push(
          conditionalInsert(
            db,
            { recipientId: o.userId, actorId: null, kind: "order", orderId: o.id, at: o.updatedAt },
            {
              sql: "EXISTS (SELECT 1 FROM orders WHERE id = ?10 AND status = 'confirmed') AND EXISTS (SELECT 1 FROM users WHERE id = ?1)",
              bindings: [o.id],
            },
          ),
        );
      }
    } else if (record.kind === "ticket") {
      const t = record.payload;
      statements.push(
        db
          .prepare(
            `INSERT INTO tickets (id, event_id, order_id, user_id, serial, status, redeemed_at, created_at, projection_seq)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET status = excluded.status, redeemed_at = excluded.redeemed_at,
               projection_seq = excluded.projection_seq
             WHERE excluded.projection_seq > tickets.projection_seq`,
          )
          // Gate admission time: absent in rows written before the gate existed.
          .bind(t.id, t.eventId, t.orderId, t.userId, t.serial, t.status, t.redeemedAt ?? null, t.createdAt, row.seq),
      );
    } else if (record.kind === "waitlist") {
      statements.push(...waitlistStatements(db, row.seq, record.payload));
    } else {
      statements.push(...emailStatements(db, row.seq, record.payload, options));
    }
  }
  // Last, so an order's webhook reads its tickets as this batch leaves them.
  statements.push(...webhookStatements(db, rows));
  return statements;
}
