/**
 * Turns EventInventory outbox rows into idempotent D1 statements: orders and tickets are upserted
 * only when the row's outbox sequence is newer than what D1 holds (a replay or a late retry never
 * overwrites newer state), and emails are inserted once by their deterministic id.
 */
import { OUTBOX_ID_COLUMN } from "../../src/features/email/outbox";
import { CARRIES_SECRET, renderEmail } from "../../src/features/email/templates";
import { decode, type InventoryEmail, type InventoryOutboxRow } from "./outbox";

export interface ProjectionOptions {
  /** Outside production: copy each email into dev_mailbox as well. */
  mirrorDevMailbox: boolean;
  /**
   * When set, each email is also marked queued (at this time) within the batch and its id returned
   * under OUTBOX_ID_COLUMN: the caller then sends the queue messages (one D1 round trip instead of a
   * second batch). Without it the emails stay pending for the sweep.
   */
  queuedAt?: number;
}

function emailStatements(
  db: D1Database,
  seq: number,
  email: InventoryEmail,
  options: ProjectionOptions,
): D1PreparedStatement[] {
  const rendered =
    email.template === "order-confirmed"
      ? renderEmail({
          template: "order-confirmed",
          name: email.data.name,
          eventTitle: email.data.eventTitle,
          startsAt: new Date(email.data.startsAt).toISOString(),
          serials: email.data.serials,
          ticketsLink: "/me/tickets",
        })
      : renderEmail({
          template: "event-cancelled",
          name: email.data.name,
          eventTitle: email.data.eventTitle ?? "",
          paid: email.data.paid,
        });
  const created = Date.now();
  const statements = [
    db
      .prepare(
        `INSERT INTO email_outbox (id, "to", template, subject, text, html, carries_secret, status, attempts, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .bind(
        email.id,
        email.to,
        email.template,
        rendered.subject,
        rendered.text,
        rendered.html,
        // Marked like every outbox writer does (src/features/email/outbox.ts), from the template.
        CARRIES_SECRET[email.template] ? 1 : 0,
        created,
      ),
  ];
  if (options.queuedAt !== undefined) {
    // Marked for the queue in the same batch; only a row still pending is, so a replayed push hands
    // nothing over twice. The id comes back for the caller to send (see handOverQueued).
    const at = options.queuedAt;
    statements.push(
      db
        .prepare(
          `UPDATE email_outbox SET status = 'queued', queued_at = ?, next_attempt_at = ?, updated_at = ?
           WHERE id = ? AND status = 'pending' RETURNING id AS ${OUTBOX_ID_COLUMN}`,
        )
        .bind(at, at, at, email.id),
    );
  }
  if (options.mirrorDevMailbox) {
    statements.push(
      db
        .prepare(
          `INSERT INTO dev_mailbox (id, "to", subject, text, html, template, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        )
        .bind(`${email.id}:${seq}`, email.to, rendered.subject, rendered.text, rendered.html, email.template, created),
    );
  }
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
    } else {
      statements.push(...emailStatements(db, row.seq, record.payload, options));
    }
  }
  return statements;
}
