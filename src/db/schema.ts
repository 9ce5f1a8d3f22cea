/**
 * D1 schema (drizzle). `npm run db:generate` turns changes here into numbered SQL in migrations/,
 * which dev, tests and deploy all apply. Times are epoch milliseconds (UTC); ids are random text.
 * docs/storage.md describes every table.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const users = sqliteTable("users", {
  id: text("id").primaryKey(),
  /** Lower-cased, trimmed; unique. */
  email: text("email").notNull().unique(),
  name: text("name").notNull(),
  /** Self-describing hash string (algorithm, parameters, salt, hash); null for OTP-only accounts. */
  passwordHash: text("password_hash"),
  emailVerifiedAt: integer("email_verified_at"),
  /** JSON array of roles: "attendee", "host", "admin". */
  roles: text("roles").notNull().default('["attendee"]'),
  /** Bumped to revoke every access token issued before it (reset, logout-all). */
  sessionEpoch: integer("session_epoch").notNull().default(0),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    /** Caller: `user:<id>`, `device:<id>` or `anon:<ip key>`. */
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    /** SHA-256 of method, path and body. */
    fingerprint: text("fingerprint").notNull(),
    state: text("state", { enum: ["running", "done"] }).notNull(),
    status: integer("status"),
    /** JSON object of the replayed response headers. */
    headers: text("headers"),
    body: text("body"),
    lockedUntil: integer("locked_until").notNull(),
    expiresAt: integer("expires_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.key] }), index("idempotency_keys_expires_at").on(t.expiresAt)],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: text("id").primaryKey(),
    at: integer("at").notNull(),
    /** Null when the actor is unknown (e.g. a failed sign-in for an unknown email). */
    userId: text("user_id"),
    /** e.g. "auth.login", "auth.lockout", "auth.password-reset", "auth.token-reuse", "role.grant". */
    action: text("action").notNull(),
    outcome: text("outcome", { enum: ["success", "failure", "denied"] }).notNull(),
    /** HMAC of the client address under the hash pepper; never the address itself. */
    ipHash: text("ip_hash"),
    userAgent: text("user_agent"),
    requestId: text("request_id"),
    /** JSON with non-secret detail (reason codes, target ids). */
    detail: text("detail").notNull().default("{}"),
  },
  (t) => [index("audit_log_user_at").on(t.userId, t.at), index("audit_log_action_at").on(t.action, t.at)],
);

/** What the development email transport "sent"; read by GET /dev/mailbox. Empty in production. */
export const devMailbox = sqliteTable(
  "dev_mailbox",
  {
    id: text("id").primaryKey(),
    to: text("to").notNull(),
    subject: text("subject").notNull(),
    text: text("text").notNull(),
    html: text("html").notNull(),
    template: text("template").notNull(),
    createdAt: integer("created_at").notNull().default(sql`(unixepoch() * 1000)`),
  },
  (t) => [index("dev_mailbox_to_created").on(t.to, t.createdAt)],
);
