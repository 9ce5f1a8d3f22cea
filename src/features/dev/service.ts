/** Development-only reads: the local mailbox the dev email transport writes to. */
import { desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { LIMITS } from "../../config/limits";
import { devMailbox } from "../../db/schema";
import { iso } from "../../lib/time";

export interface MailboxItem {
  to: string;
  subject: string;
  text: string;
  html: string;
  template: string;
  createdAt: string;
}

export async function listMailbox(db: D1Database, to: string | undefined): Promise<MailboxItem[]> {
  const rows = await drizzle(db)
    .select()
    .from(devMailbox)
    .where(to ? eq(devMailbox.to, to.trim().toLowerCase()) : undefined)
    .orderBy(desc(devMailbox.createdAt), desc(devMailbox.id))
    .limit(LIMITS.devMailboxMax);
  return rows.map((row) => ({
    to: row.to,
    subject: row.subject,
    text: row.text,
    html: row.html,
    template: row.template,
    createdAt: iso(row.createdAt),
  }));
}
