/**
 * D1 tables of the media feature (drizzle). Kept apart from schema.ts so features do not edit each
 * other's tables; drizzle.config.ts globs every src/db/schema*.ts. docs/storage.md describes them.
 */
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One uploaded image, stripped of metadata; its bytes live in R2 under `r2_key`. */
export const media = sqliteTable(
  "media",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    purpose: text("purpose", { enum: ["avatar", "event_cover", "post", "document"] }).notNull(),
    visibility: text("visibility", { enum: ["private", "public"] }).notNull(),
    /** From the sniffed format, never from the client: image/jpeg, image/png, image/webp, image/gif. */
    contentType: text("content_type").notNull(),
    /** `media/<128-bit random>`: unrelated to the id, so neither reveals the other. */
    r2Key: text("r2_key").notNull().unique(),
    /** Size of the stored (stripped) bytes. */
    bytes: integer("bytes").notNull(),
    width: integer("width").notNull(),
    height: integer("height").notNull(),
    /** SHA-256 hex of the stored bytes: the strong ETag and R2's integrity check. */
    sha256: text("sha256").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("media_owner_created").on(t.ownerId, t.createdAt)],
);
