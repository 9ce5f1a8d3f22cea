/**
 * D1 tables of creator profiles (drizzle): the handle registry, link lists, tracking events and their
 * daily rollups. docs/storage.md describes them. Every relation cascades from its user, so erasing an
 * account takes its handles, links and analytics with it.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { users } from "./schema";

/**
 * Every handle in use or in its grace period, by its normalised key (src/lib/handle.ts). The primary
 * key is the uniqueness: of any number of concurrent claims of one key, exactly one insert succeeds.
 * A changed handle stays `retired` (owned, redirecting `/@old` to the new one) until `retired_until`;
 * only then may someone else claim it. `profiles.handle`/`handle_key` mirror the user's active row.
 */
export const handles = sqliteTable(
  "handles",
  {
    handleKey: text("handle_key").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    state: text("state", { enum: ["active", "retired"] }).notNull(),
    /** When a retired handle becomes free for others; null while active. */
    retiredUntil: integer("retired_until"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    // One active handle per user.
    uniqueIndex("handles_user_active").on(t.userId).where(sql`${t.state} = 'active'`),
    index("handles_user").on(t.userId),
    // The retention job's look for retired handles past their grace (src/features/retention).
    index("handles_retired").on(t.retiredUntil).where(sql`${t.state} = 'retired'`),
    check("handles_retired_until", sql`(${t.state} = 'active') = (${t.retiredUntil} IS NULL)`),
  ],
);

/** A creator's link list as a whole: its version moves with every change (create, edit, delete, reorder). */
export const linkLists = sqliteTable("link_lists", {
  userId: text("user_id")
    .primaryKey()
    .references(() => users.id, { onDelete: "cascade" }),
  version: integer("version").notNull().default(0),
  updatedAt: integer("updated_at").notNull(),
});

export const LINK_STATES = ["suggested", "active", "hidden"] as const;

export const links = sqliteTable(
  "links",
  {
    id: text("id").primaryKey(),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    title: text("title").notNull(),
    /** Checked by src/lib/safe-url.ts and stored as the parser's canonical href. */
    url: text("url").notNull(),
    kind: text("kind").notNull().default("link"),
    state: text("state", { enum: LINK_STATES }).notNull(),
    position: integer("position").notNull(),
    version: integer("version").notNull().default(1),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("links_user_position").on(t.userId, t.position)],
);

/**
 * Raw visits and clicks on public profiles, kept for the retention period (90 days by default) and
 * rolled up daily. No address is stored: `visitor_hash` is a keyed hash under a salt that changes
 * every day, so unique visitors can be counted per day but nobody can be followed across days.
 */
export const trackEvents = sqliteTable(
  "track_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** The creator whose profile was visited. */
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: ["visit", "click"] }).notNull(),
    /** The clicked link; null for visits, and once the link is deleted. */
    linkId: text("link_id").references(() => links.id, { onDelete: "set null" }),
    /** UTC day `YYYY-MM-DD` the event belongs to. */
    day: text("day").notNull(),
    visitorHash: text("visitor_hash").notNull(),
    device: text("device").notNull(),
    country: text("country"),
    referrerHost: text("referrer_host"),
    /** Crawlers and headless browsers: kept for the record, excluded from every aggregate. */
    bot: integer("bot", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("track_events_user_day").on(t.userId, t.day), index("track_events_created").on(t.createdAt)],
);

/**
 * How far each creator-day was rolled up: the newest raw event it counted (`through_id`) and when. The
 * five-minute cron rolls up only creator-days with events past their mark, least recently rolled first,
 * a bounded number per run (src/features/creators/rollups.ts). Rows go with the raw events' retention.
 */
export const trackRollups = sqliteTable(
  "track_rollups",
  {
    userId: text("user_id").notNull(),
    day: text("day").notNull(),
    throughId: integer("through_id").notNull(),
    rolledAt: integer("rolled_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.day] })],
);

/**
 * Daily aggregates per creator: `metric` (visits, unique_visitors, clicks, bots) broken down by
 * `dimension` (`total`, `link`, `device`, `country`, `referrer`) and its `key` ('' for total).
 * Written by the rollup job, which recomputes a day's rows in one batch (idempotent).
 */
export const trackDaily = sqliteTable(
  "track_daily",
  {
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    day: text("day").notNull(),
    metric: text("metric").notNull(),
    dimension: text("dimension").notNull(),
    key: text("key").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.day, t.metric, t.dimension, t.key] })],
);
