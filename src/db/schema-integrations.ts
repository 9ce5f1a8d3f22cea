/**
 * D1 tables of integrations (drizzle): hosts' API keys, their outgoing webhook endpoints with the
 * events and deliveries of those webhooks (Standard Webhooks v1), and the read model of waitlists
 * whose truth lives in each event's EventInventory object. docs/storage.md describes them. Times are
 * epoch milliseconds.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { events, users } from "./schema";

export const API_KEY_SCOPES = [
  "events:read",
  "events:write",
  "orders:read",
  "attendees:read",
  "checkins:read",
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/**
 * A host's API key. The key itself (`gh_live_<random>`) is shown once; only its SHA-256 is kept, with
 * its first characters (`prefix`) so the host can recognise it in a list. Revoking sets `revoked_at`:
 * every request reads the row, so it takes effect on the next one.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    hostId: text("host_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The key's first characters (`gh_live_` and a few more), for recognition only. */
    prefix: text("prefix").notNull(),
    /** SHA-256 (hex) of the whole key. */
    keyHash: text("key_hash").notNull(),
    /** JSON array of ApiKeyScope. */
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    /** Coarse: written at most once per LIMITS.apiKeyLastUsedGranularityMs, never on every request. */
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_hash").on(t.keyHash), index("api_keys_host").on(t.hostId, t.createdAt)],
);

export const WEBHOOK_EVENT_TYPES = [
  "order.created",
  "order.refunded",
  "order.cancelled",
  "ticket.checked_in",
  "event.published",
  "event.cancelled",
  "tip.received",
  "waitlist.offered",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Where a host wants webhooks delivered. The signing secret (`whsec_<base64>`) must be kept to sign
 * with; after a rotation the previous one keeps signing too until `previous_secret_expires_at`.
 * `failing_since` is the first failed attempt of the current run of failures (null once one succeeds);
 * an endpoint failing for LIMITS.webhookDisableAfterMs is disabled and its host emailed.
 */
export const webhookEndpoints = sqliteTable(
  "webhook_endpoints",
  {
    id: text("id").primaryKey(),
    hostId: text("host_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    url: text("url").notNull(),
    description: text("description"),
    /** JSON array of WebhookEventType. */
    eventTypes: text("event_types").notNull(),
    secret: text("secret").notNull(),
    previousSecret: text("previous_secret"),
    previousSecretExpiresAt: integer("previous_secret_expires_at"),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    /** Why the endpoint was disabled (`failing` by us, `host` by its host); null while enabled. */
    disabledReason: text("disabled_reason"),
    failingSince: integer("failing_since"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("webhook_endpoints_host").on(t.hostId, t.createdAt)],
);

/**
 * The outbox of outgoing webhooks: one row per thing that happened to a host's resources, written in
 * the same D1 batch as the fact itself (so none is lost). Its id is the `webhook-id` of every
 * delivery and retry. `fanned_out_at` is set once a delivery row exists for every endpoint subscribed
 * at that moment; a sweep re-enqueues rows still null.
 */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    /** `msg_…`; deterministic where the fact has an id of its own, so a replayed writer inserts it once. */
    id: text("id").primaryKey(),
    hostId: text("host_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    type: text("type", { enum: WEBHOOK_EVENT_TYPES }).notNull(),
    /** JSON: the body's `data`. */
    data: text("data").notNull(),
    createdAt: integer("created_at").notNull(),
    fannedOutAt: integer("fanned_out_at"),
  },
  (t) => [
    index("webhook_events_pending").on(t.fannedOutAt, t.createdAt),
    index("webhook_events_host").on(t.hostId, t.createdAt),
  ],
);

export const WEBHOOK_DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;

/** One webhook event to one endpoint: its attempts are retried until 2xx or the schedule ends. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id")
      .notNull()
      .references(() => webhookEvents.id, { onDelete: "cascade" }),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: "cascade" }),
    status: text("status", { enum: WEBHOOK_DELIVERY_STATUSES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    /** When the next attempt is due (null when none is: succeeded, or failed for good). */
    nextAttemptAt: integer("next_attempt_at"),
    lastStatusCode: integer("last_status_code"),
    lastLatencyMs: integer("last_latency_ms"),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event_endpoint").on(t.eventId, t.endpointId),
    index("webhook_deliveries_endpoint").on(t.endpointId, t.createdAt),
    index("webhook_deliveries_due").on(t.status, t.nextAttemptAt),
  ],
);

/** The delivery log: every attempt with its answer (status, latency, the first bytes of the body). */
export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id")
      .notNull()
      .references(() => webhookDeliveries.id, { onDelete: "cascade" }),
    attempt: integer("attempt").notNull(),
    /** Null when no answer came (timeout, refused connection). */
    statusCode: integer("status_code"),
    latencyMs: integer("latency_ms").notNull(),
    /** At most LIMITS.webhookResponseSnippetChars characters of the answer's body. */
    responseSnippet: text("response_snippet"),
    error: text("error"),
    at: integer("at").notNull(),
  },
  (t) => [uniqueIndex("webhook_attempts_delivery").on(t.deliveryId, t.attempt)],
);

export const WAITLIST_STATUSES = ["waiting", "offered", "accepted", "declined", "expired", "left"] as const;

/**
 * Read model of an event's waitlist (the truth and every decision live in the event's EventInventory
 * object, projected here through its outbox in `seq` order). One row per user and event.
 */
export const waitlistEntries = sqliteTable(
  "waitlist_entries",
  {
    eventId: text("event_id")
      .notNull()
      .references(() => events.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /**
     * The entry's number in the event's line (1 = the first to join; increasing, a rejoin takes a new
     * one): the place in line now is 1 + the entries still `waiting` with a smaller number.
     */
    position: integer("position").notNull(),
    status: text("status", { enum: WAITLIST_STATUSES }).notNull(),
    offerId: text("offer_id"),
    offerExpiresAt: integer("offer_expires_at"),
    /** The order an accepted offer became. */
    orderId: text("order_id"),
    /** The object's outbox seq of the newest record applied: an older one never overwrites it. */
    seq: integer("seq").notNull(),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("waitlist_entries_event_user").on(t.eventId, t.userId),
    uniqueIndex("waitlist_entries_offer").on(t.offerId),
    index("waitlist_entries_user").on(t.userId, t.updatedAt),
    check("waitlist_entries_position", sql`${t.position} >= 1`),
  ],
);
