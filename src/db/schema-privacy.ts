/**
 * D1 tables of personal-data requests (drizzle): a person's data exports (the archive itself is an R2
 * object, reachable only through a signed URL emailed to them, and deleted when the export expires).
 * docs/privacy.md describes the whole of what is stored about a person.
 */
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { users } from "./schema";

export const DATA_EXPORT_STATUSES = ["pending", "ready", "failed", "expired"] as const;

export const dataExports = sqliteTable(
  "data_exports",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    status: text("status", { enum: DATA_EXPORT_STATUSES }).notNull(),
    /** The archive's key in the MEDIA bucket (null until written). */
    r2Key: text("r2_key"),
    bytes: integer("bytes"),
    createdAt: integer("created_at").notNull(),
    readyAt: integer("ready_at"),
    /** After this the archive is deleted from R2 and the row marked expired. */
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [
    index("data_exports_user").on(t.userId, t.createdAt),
    index("data_exports_expires").on(t.status, t.expiresAt),
  ],
);

/**
 * Marks a periodic job leaves for its next run: `pii-clean` holds the key id under which the PII job
 * (src/features/privacy/pii-job.ts) last found nothing left to seal, and when, so the five-minute cron
 * does not read every sealed column again until a rotation or the daily recheck.
 */
export const jobMarks = sqliteTable("job_marks", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  at: integer("at").notNull(),
});

/**
 * Event objects an erasure has still to clear of the person's email and name: the ones past the
 * erasure's own pass (it clears the newest LIMITS.erasureEventObjects at once) and any that failed its
 * last look. The five-minute cron works through them (src/features/privacy/object-erasures.ts); a row
 * goes once its object has forgotten the person, and backs off while the object fails.
 */
export const objectErasures = sqliteTable(
  "object_erasures",
  {
    userId: text("user_id").notNull(),
    eventId: text("event_id").notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAt: integer("next_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.eventId] }), index("object_erasures_due").on(t.nextAt)],
);

/**
 * Ended events whose object failed the contacts' retention sweep (src/features/privacy/contact-retention.ts):
 * how often, and when to try it again. Until then the sweep passes over the event, so objects that keep
 * failing do not hold the head of its queue, by end, against the events behind them. A row goes when
 * its object clears the contacts and the event is marked.
 */
export const contactPurgeRetries = sqliteTable("contact_purge_retries", {
  eventId: text("event_id").primaryKey(),
  attempts: integer("attempts").notNull(),
  nextAt: integer("next_at").notNull(),
});
