/**
 * Reading the email outbox as delivery sees it: its recipient and message are sealed at rest
 * (src/features/email/outbox.ts), so tests open them with the test keys before comparing. Filtering by
 * recipient happens after opening (a sealed column cannot be compared in SQL).
 */
import { env } from "cloudflare:workers";
import { getConfig } from "../../src/config";
import { OUTBOX_CONTEXT } from "../../src/features/email/outbox";

export interface OpenedOutboxRow {
  id: string;
  to: string;
  template: string;
  subject: string | null;
  text: string | null;
  html: string | null;
  status: string;
  attempts: number;
  carries_secret: number;
  created_at: number;
  [column: string]: unknown;
}

/** Outbox rows (optionally of one template), opened, for `to` when given; oldest first. */
export async function outboxEmails(filter: { to?: string; template?: string; id?: string } = {}) {
  const where: string[] = [];
  const bindings: unknown[] = [];
  if (filter.template) {
    where.push("template = ?");
    bindings.push(filter.template);
  }
  if (filter.id) {
    where.push("id = ?");
    bindings.push(filter.id);
  }
  const { results } = await env.DB.prepare(
    `SELECT * FROM email_outbox ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, rowid`,
  )
    .bind(...bindings)
    .all<OpenedOutboxRow>();
  const { pii } = getConfig(env);
  const opened = results.map((row) => ({
    ...row,
    to: pii.open(row.to, OUTBOX_CONTEXT.to),
    subject: pii.openOptional(row.subject, OUTBOX_CONTEXT.subject),
    text: pii.openOptional(row.text, OUTBOX_CONTEXT.text),
    html: pii.openOptional(row.html, OUTBOX_CONTEXT.html),
  }));
  return filter.to === undefined ? opened : opened.filter((row) => row.to === filter.to);
}
