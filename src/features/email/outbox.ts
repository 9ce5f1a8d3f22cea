/**
 * Email outbox: an email is a row written in the same D1 batch as the change that causes it, so it
 * is never sent for a change that did not happen and never lost for one that did. Delivery reads the
 * outbox. Outside production the row is mirrored into dev_mailbox for GET /dev/mailbox at once: the
 * one table allowed to keep a sign-in code or a token link readable, because it only exists there.
 * The outbox row is marked `carries_secret` from its template, so delivery drops its body once done.
 * The insert returns the new row's id (as `email_outbox_id`), so after the batch commits
 * `enqueueCommitted` (./enqueue.ts) can hand exactly the rows that were written to the queue.
 */
import type { Config } from "../../config";
import { randomId } from "../../lib/crypto";
import type { Condition } from "../audit/service";
import { CARRIES_SECRET, type EmailTemplate, renderEmail } from "./templates";

/** Column name under which outbox inserts return their id; ./enqueue.ts reads it from batch results. */
export const OUTBOX_ID_COLUMN = "email_outbox_id";

export interface EmailStatementsOptions {
  /** Only insert when this SQL condition (with its bindings) holds inside the batch. */
  onlyIf?: Condition;
}

export function emailStatements(
  db: D1Database,
  config: Config,
  to: string,
  message: EmailTemplate,
  now: number,
  options: EmailStatementsOptions = {},
): D1PreparedStatement[] {
  const { subject, text, html } = renderEmail(message);
  const where = options.onlyIf ? ` WHERE ${options.onlyIf.sql}` : "";
  const extra = options.onlyIf?.bindings ?? [];
  const statements = [
    db
      .prepare(
        `INSERT INTO email_outbox (id, "to", template, subject, text, html, carries_secret, status, attempts, created_at)
         SELECT ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?${where} RETURNING id AS ${OUTBOX_ID_COLUMN}`,
      )
      .bind(
        randomId(),
        to,
        message.template,
        subject,
        text,
        html,
        CARRIES_SECRET[message.template] ? 1 : 0,
        now,
        ...extra,
      ),
  ];
  if (!config.isProduction) {
    statements.push(
      db
        .prepare(
          `INSERT INTO dev_mailbox (id, "to", subject, text, html, template, created_at) SELECT ?, ?, ?, ?, ?, ?, ?${where}`,
        )
        .bind(randomId(), to, subject, text, html, message.template, now, ...extra),
    );
  }
  return statements;
}
