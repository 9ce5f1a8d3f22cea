/**
 * D1 schema (drizzle). `npm run db:generate` turns changes here into numbered SQL in migrations/,
 * which dev, tests and deploy all apply. Times are epoch milliseconds (UTC); ids are random text.
 * docs/storage.md describes every table.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const users = sqliteTable(
  "users",
  {
    id: text("id").primaryKey(),
    /**
     * Sealed (src/lib/pii.ts, context `users.email`) once the PII migration has reached the row; a row
     * written before it holds the lower-cased, trimmed address until then. Unique either way (sealed
     * values never repeat); lookups go through `email_index`.
     */
    email: text("email").notNull().unique(),
    /** Keyed blind index of the normalised email (src/features/privacy): uniqueness and sign-in lookups. */
    emailIndex: text("email_index"),
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
    /** Set when the person erased their account: every personal field is wiped, the row stays as a pseudonym. */
    erasedAt: integer("erased_at"),
  },
  (t) => [uniqueIndex("users_email_index").on(t.emailIndex)],
);

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
  (t) => [
    index("audit_log_user_at").on(t.userId, t.at),
    index("audit_log_action_at").on(t.action, t.at),
    // The retention job deletes by age alone.
    index("audit_log_at").on(t.at),
  ],
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
  (t) => [index("dev_mailbox_to_created").on(t.to, t.createdAt), index("dev_mailbox_created").on(t.createdAt)],
);

/** A sign-in: the refresh-token family. Revoking it ends every token issued under it. */
export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    userId: text("user_id").notNull(),
    /** How the session was opened: "password" or "otp". */
    method: text("method").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Last refresh or authenticated request (written at most once a minute): the idle timeout. */
    lastUsedAt: integer("last_used_at").notNull(),
    /** Absolute lifetime end. */
    expiresAt: integer("expires_at").notNull(),
    revokedAt: integer("revoked_at"),
    /** "logout", "password-reset", "token-reuse", "idle", … */
    revokeReason: text("revoke_reason"),
    userAgent: text("user_agent"),
    ipHash: text("ip_hash"),
    /**
     * The user's session epoch this session was opened under. The insert is conditional on it still
     * being current, and refresh refuses a session whose epoch is behind the user's (a sign-in that
     * raced a password reset never outlives the reset).
     */
    epoch: integer("epoch").notNull().default(0),
  },
  (t) => [index("sessions_user").on(t.userId), index("sessions_expires_at").on(t.expiresAt)],
);

/** Opaque refresh tokens, stored as SHA-256; each use rotates to a new row and marks this one used. */
export const refreshTokens = sqliteTable(
  "refresh_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    sessionId: text("session_id").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Set when rotated; presenting a used token again is reuse and revokes the session. */
    usedAt: integer("used_at"),
    /** Hash of the token this one was rotated to: written with used_at, and the successor's insert is conditioned on it. */
    rotatedTo: text("rotated_to"),
  },
  (t) => [index("refresh_tokens_session").on(t.sessionId)],
);

/** Single-use email tokens (verification, password reset), stored as SHA-256. */
export const emailTokens = sqliteTable(
  "email_tokens",
  {
    tokenHash: text("token_hash").primaryKey(),
    userId: text("user_id").notNull(),
    purpose: text("purpose", { enum: ["verify-email", "reset-password"] }).notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    /** Set when used or superseded by a newer token for the same purpose. */
    usedAt: integer("used_at"),
    /**
     * Random marker written by the request that consumed the token; the statements that act on the
     * consumption are conditioned on it, so a racing second use can never apply them twice.
     */
    consumedBy: text("consumed_by"),
  },
  (t) => [index("email_tokens_user_purpose").on(t.userId, t.purpose), index("email_tokens_expires_at").on(t.expiresAt)],
);

/** The one live sign-in code per email (a new request replaces it), stored as HMAC. */
export const otpCodes = sqliteTable("otp_codes", {
  email: text("email").primaryKey(),
  codeHash: text("code_hash").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/**
 * Transactional outbox for email: written in the same batch as the change that causes the email;
 * delivery (queue consumer, retries, dead letters) reads from here. Rows hold the rendered message,
 * so a template change never alters an email already promised.
 * Lifecycle: pending (written) → queued (message on EMAIL_QUEUE) → sending (claimed under a lease)
 * → sent | dead_letter. A failed or rate-limited attempt goes back to queued.
 * A body carrying a secret (sign-in code, verification or reset link) is kept only until the row is
 * sent or dead; the retention job deletes finished rows after their period (src/config/retention.ts).
 */
export const emailOutbox = sqliteTable(
  "email_outbox",
  {
    id: text("id").primaryKey(),
    to: text("to").notNull(),
    template: text("template").notNull(),
    /** The rendered message; null once a row that carries a secret is sent or dead-lettered. */
    subject: text("subject"),
    text: text("text"),
    html: text("html"),
    /** 1 when the body holds a live credential (src/features/email/templates.ts CARRIES_SECRET). */
    carriesSecret: integer("carries_secret").notNull().default(0),
    status: text("status", { enum: ["pending", "queued", "sending", "sent", "dead_letter"] })
      .notNull()
      .default("pending"),
    /** Provider calls made (rate-limit delays and duplicate deliveries do not count). */
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    sentAt: integer("sent_at"),
    /** When the queued message is due (delays included): the sweep measures "stuck" from here. */
    nextAttemptAt: integer("next_attempt_at"),
    /** The provider's id for the accepted message (Resend `id`), for support and tracking. */
    providerMessageId: text("provider_message_id"),
    /** Why the last attempt failed, or why the row was dead-lettered. */
    lastError: text("last_error"),
    queuedAt: integer("queued_at"),
    /** While status = sending: the claim ends here; a crashed consumer's row is claimable after it. */
    leaseUntil: integer("lease_until"),
    updatedAt: integer("updated_at"),
  },
  (t) => [
    index("email_outbox_status_created").on(t.status, t.createdAt),
    index("email_outbox_status_next").on(t.status, t.nextAttemptAt),
    // Bare column names: drizzle-kit rebuilds SQLite tables under a temporary name, which a
    // table-qualified reference would not match.
    // A row that may still be sent keeps its message: no writer can lose an email it still owes.
    check(
      "email_outbox_body_until_done",
      sql`status IN ('sent', 'dead_letter') OR (subject IS NOT NULL AND text IS NOT NULL AND html IS NOT NULL)`,
    ),
    // A finished row never holds a secret: every writer that finishes a row must drop its body.
    check(
      "email_outbox_secret_dropped",
      sql`carries_secret = 0 OR status NOT IN ('sent', 'dead_letter') OR (subject IS NULL AND text IS NULL AND html IS NULL)`,
    ),
  ],
);

/**
 * Messages that could not be processed, from any source (`email`, `stripe-webhook`): an
 * operator lists them and replays each at most once (replayed_at). At most one open (unreplayed)
 * dead letter per (source, ref_id), so a duplicate dead-letter message cannot list it twice.
 */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    source: text("source").notNull(),
    /** The id of the failed thing in its source (email: the outbox id). */
    refId: text("ref_id").notNull(),
    reason: text("reason").notNull(),
    /** JSON with non-secret detail for the operator (email: template, attempts). */
    payload: text("payload").notNull().default("{}"),
    createdAt: integer("created_at").notNull(),
    replayedAt: integer("replayed_at"),
  },
  (t) => [
    index("dead_letters_created").on(t.createdAt, t.id),
    uniqueIndex("dead_letters_open_ref").on(t.source, t.refId).where(sql`${t.replayedAt} IS NULL`),
  ],
);

/** Events: the source of truth for what an event is; its inventory lives in its EventInventory object. */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    hostId: text("host_id").notNull(),
    title: text("title").notNull(),
    /** Sanitised HTML (allowlist), never raw input. */
    description: text("description").notNull().default(""),
    startsAt: integer("starts_at").notNull(),
    endsAt: integer("ends_at").notNull(),
    timezone: text("timezone").notNull(),
    venueName: text("venue_name").notNull(),
    venueAddress: text("venue_address").notNull(),
    lat: real("lat").notNull(),
    lng: real("lng").notNull(),
    capacity: integer("capacity").notNull(),
    /** Minor units; 0 = free. */
    price: integer("price").notNull(),
    currency: text("currency").notNull(),
    perUserLimit: integer("per_user_limit").notNull(),
    /** Null start = opens on publish; null end = until the event starts. */
    salesStartAt: integer("sales_start_at"),
    salesEndAt: integer("sales_end_at"),
    checkInOpensAt: integer("check_in_opens_at").notNull(),
    checkInClosesAt: integer("check_in_closes_at").notNull(),
    coverMediaId: text("cover_media_id"),
    status: text("status", { enum: ["draft", "published", "cancelled"] }).notNull(),
    /** Optimistic concurrency: every edit sends the version it read. */
    version: integer("version").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    publishedAt: integer("published_at"),
    cancelledAt: integer("cancelled_at"),
    /**
     * The waiting room (src/features/queue): `off` (no queue), `on` (every order needs a pass), `auto`
     * (the event's EventInventory object turns it on while arrivals outrun what it decides).
     */
    queueMode: text("queue_mode", { enum: ["off", "auto", "on"] })
      .notNull()
      .default("off"),
    /** Passes issued per second while the queue is on. */
    queueAdmitPerSecond: integer("queue_admit_per_second").notNull().default(50),
    /**
     * When the retention sweep had the event's object clear its buyers' contacts, the event being
     * LIMITS.inventoryContactRetentionMs over (src/features/privacy/contact-retention.ts); null until then.
     */
    contactsPurgedAt: integer("contacts_purged_at"),
  },
  (t) => [
    index("events_status_starts").on(t.status, t.startsAt, t.id),
    // The retention sweep's queue: events whose contacts are not yet cleared, by end (it shrinks as it goes).
    index("events_contacts_due").on(t.endsAt).where(sql`${t.contactsPurgedAt} IS NULL`),
    index("events_host").on(t.hostId, t.createdAt),
    index("events_geo").on(t.status, t.lat, t.lng),
    // Media access checks look events up by their cover ("is this the cover of a published event?").
    index("events_cover_media").on(t.coverMediaId),
  ],
);

/** Read model of orders, projected from EventInventory (guarded by projection_seq). */
export const orders = sqliteTable(
  "orders",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    userId: text("user_id").notNull(),
    status: text("status", {
      enum: ["held", "confirmed", "released", "expired", "cancelled", "refunded", "refunded_sold_out"],
    }).notNull(),
    quantity: integer("quantity").notNull(),
    amount: integer("amount").notNull(),
    currency: text("currency").notNull(),
    holdExpiresAt: integer("hold_expires_at"),
    paymentRef: text("payment_ref"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
    projectionSeq: integer("projection_seq").notNull(),
  },
  (t) => [
    index("orders_user").on(t.userId, t.createdAt),
    index("orders_event_status").on(t.eventId, t.status),
    // The host's order list (GET /api/v1/events/:id/orders) pages an event's orders newest first.
    index("orders_event_created").on(t.eventId, t.createdAt),
  ],
);

/** Read model of tickets, projected from EventInventory (guarded by projection_seq). */
export const tickets = sqliteTable(
  "tickets",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    orderId: text("order_id").notNull(),
    userId: text("user_id").notNull(),
    serial: integer("serial").notNull(),
    /** `refunding`: a refund is in flight (seat still sold, not admissible); see EventInventory.reserveRefund. */
    status: text("status", { enum: ["active", "void", "redeemed", "refunding"] }).notNull(),
    redeemedAt: integer("redeemed_at"),
    createdAt: integer("created_at").notNull(),
    projectionSeq: integer("projection_seq").notNull(),
  },
  (t) => [
    index("tickets_user").on(t.userId, t.createdAt),
    // An order's tickets in serial order: its page, and the webhook each order's projection writes.
    index("tickets_order").on(t.orderId, t.serial),
    index("tickets_event_status").on(t.eventId, t.status),
    uniqueIndex("tickets_event_serial").on(t.eventId, t.serial),
  ],
);
