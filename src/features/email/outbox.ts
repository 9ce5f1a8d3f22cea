/**
 * Email outbox: an email is a row written in the same D1 batch as the change that causes it, so it
 * is never sent for a change that did not happen and never lost for one that did. Delivery reads the
 * outbox. Outside production the row is mirrored into dev_mailbox for GET /dev/mailbox at once: the
 * one table allowed to keep a sign-in code or a token link readable, because it only exists there.
 * The outbox row is marked `carries_secret` from its template, so delivery drops its body once done.
 * The insert returns the new row's id (as `email_outbox_id`), so after the batch commits
 * `enqueueCommitted` (./enqueue.ts) can hand exactly the rows that were written to the queue.
 *
 * `outboxStatements` is the one writer of email_outbox and dev_mailbox rows: the Worker's features
 * call it through `emailStatements`, EventInventory's push (durable-objects/event-inventory/
 * projection.ts) directly, with deterministic ids so a replayed push writes each row once.
 */
import type { Config } from "../../config";
import { randomId } from "../../lib/crypto";
import type { PiiCipher } from "../../lib/pii";
import type { Condition } from "../audit";
import { CARRIES_SECRET, type EmailTemplate, renderEmail } from "./templates";

/**
 * Where an outbox row's personal fields are sealed: the recipient, and the rendered message (which
 * names the person and may carry a sign-in code or link). Delivery opens them (./delivery.ts). The
 * dev_mailbox copy stays readable: it is written only outside production, for GET /dev/mailbox.
 */
export const OUTBOX_CONTEXT = {
  to: "email_outbox.to",
  subject: "email_outbox.subject",
  text: "email_outbox.text",
  html: "email_outbox.html",
} as const;

/** Column name under which outbox inserts return their id; ./enqueue.ts reads it from batch results. */
export const OUTBOX_ID_COLUMN = "email_outbox_id";

/** One email for the outbox. */
export interface OutboxEmail {
  /** Random for a one-off write; deterministic where a writer may replay, so the row is written once. */
  id: string;
  to: string;
  message: EmailTemplate;
}

export interface OutboxWriteOptions {
  /** Seals the recipient and the rendered message (src/lib/pii.ts): the row never holds them readable. */
  pii: PiiCipher;
  /** Outside production: a dev_mailbox copy as well, for GET /dev/mailbox. */
  mirrorDevMailbox: boolean;
  /** The dev_mailbox row's id: random when absent; a replaying writer passes a deterministic one. */
  devMailboxId?: string;
  /** Only write when this SQL condition (with its bindings) holds inside the batch. */
  onlyIf?: Condition;
  /**
   * Return the new row's id under OUTBOX_ID_COLUMN, for `enqueueCommitted`. A writer that marks its
   * rows queued in the same batch (`markQueued`, ./enqueue.ts) takes the ids from that update instead,
   * so each id comes back once.
   */
  returnId: boolean;
}

/** The outbox row (and its dev_mailbox copy); a row whose id exists already is left as it is. */
export function outboxStatements(
  db: D1Database,
  email: OutboxEmail,
  now: number,
  options: OutboxWriteOptions,
): D1PreparedStatement[] {
  const { subject, text, html } = renderEmail(email.message);
  const { template } = email.message;
  // SQLite parses an upsert after INSERT … SELECT only when the SELECT has a WHERE clause.
  const where = ` WHERE ${options.onlyIf?.sql ?? "1"}`;
  const extra = options.onlyIf?.bindings ?? [];
  const returning = options.returnId ? ` RETURNING id AS ${OUTBOX_ID_COLUMN}` : "";
  const statements = [
    db
      .prepare(
        `INSERT INTO email_outbox (id, "to", template, subject, text, html, carries_secret, status, attempts, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?${where} ON CONFLICT (id) DO NOTHING${returning}`,
      )
      .bind(
        email.id,
        options.pii.seal(email.to, OUTBOX_CONTEXT.to),
        template,
        options.pii.seal(subject, OUTBOX_CONTEXT.subject),
        options.pii.seal(text, OUTBOX_CONTEXT.text),
        options.pii.seal(html, OUTBOX_CONTEXT.html),
        CARRIES_SECRET[template] ? 1 : 0,
        now,
        ...extra,
      ),
  ];
  if (options.mirrorDevMailbox) {
    statements.push(
      db
        .prepare(
          `INSERT INTO dev_mailbox (id, "to", subject, text, html, template, created_at)
           SELECT ?, ?, ?, ?, ?, ?, ?${where} ON CONFLICT (id) DO NOTHING`,
        )
        .bind(options.devMailboxId ?? randomId(), email.to, subject, text, html, template, now, ...extra),
    );
  }
  return statements;
}

export interface EmailStatementsOptions {
  /** Only insert when this SQL condition (with its bindings) holds inside the batch. */
  onlyIf?: Condition;
}

/** A new email from the Worker: a random id, returned for `enqueueCommitted`; mirrored outside production. */
export function emailStatements(
  db: D1Database,
  config: Config,
  to: string,
  message: EmailTemplate,
  now: number,
  options: EmailStatementsOptions = {},
): D1PreparedStatement[] {
  return outboxStatements(db, { id: randomId(), to, message }, now, {
    pii: config.pii,
    mirrorDevMailbox: !config.isProduction,
    onlyIf: options.onlyIf,
    returnId: true,
  });
}
