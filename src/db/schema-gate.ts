/**
 * D1 tables of the gate feature (drizzle): scanner devices. Kept apart from schema.ts so features do
 * not edit each other's tables; drizzle.config.ts globs every src/db/schema*.ts. Scans and
 * redemptions are not here: they live in the event's EventInventory object, which decides them, and
 * reach D1 only as the `tickets.status` / `tickets.redeemed_at` read model. docs/storage.md
 * describes every column.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** A scanner device registered by an event's host. Its token is shown once and stored as SHA-256. */
export const gateDevices = sqliteTable(
  "gate_devices",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    name: text("name").notNull(),
    /** `steward` scans; `supervisor` scans and may watch the live counts. */
    role: text("role", { enum: ["steward", "supervisor"] }).notNull(),
    /** SHA-256 hex of the 256-bit device token; the token itself is never stored. */
    tokenHash: text("token_hash").notNull().unique(),
    /** The host who registered it. */
    createdBy: text("created_by").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Set once; a revoked device is refused on its next request (no cache in between). */
    revokedAt: integer("revoked_at"),
    revokedBy: text("revoked_by"),
  },
  (t) => [index("gate_devices_event").on(t.eventId, t.createdAt)],
);
