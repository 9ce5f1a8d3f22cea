/**
 * What a data export holds (GDPR art. 15 access, art. 20 portability): every kind of row we keep
 * about one person, read by one bounded query each (LIMITS.dataExportRowsPerKind, newest first; a
 * kind cut short is named in `truncated`). Never secrets: no password hash, no API key hash, no
 * webhook secret, no token or code hash, no client address (the audit log keeps only a keyed hash of
 * it, which is not theirs to use). Other people appear by id only (followers, who liked what), never
 * by name or email: their data is not this person's to receive (art. 15(4)).
 *
 * The list of kinds is the list in docs/privacy.md ("Answering a data request"); a new table that
 * holds personal data gets a kind here and a line there.
 */
import { LIMITS } from "../../config/limits";
import type { PiiCipher } from "../../lib/pii";
import { TIP_MESSAGE } from "../money";

/** One section of the archive: a query bound to the person's id (`?1`) and the row cap (`?2`). */
interface Kind {
  name: string;
  sql: string;
}

/** Timestamps are milliseconds in D1; the archive shows ISO 8601 UTC, like the API. */
const at = (column: string, alias: string) =>
  `CASE WHEN ${column} IS NULL THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', ${column} / 1000.0, 'unixepoch') END AS ${alias}`;

const KINDS: Kind[] = [
  {
    name: "profile",
    sql: `SELECT bio, avatar_media_id AS avatarMediaId, handle, posts_count AS posts, followers_count AS followers,
            following_count AS following, ${at("updated_at", "updatedAt")} FROM profiles WHERE user_id = ?1 LIMIT ?2`,
  },
  {
    name: "handles",
    sql: `SELECT handle_key AS handle, state, ${at("retired_until", "retiredUntil")}, ${at("created_at", "createdAt")}
          FROM handles WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "links",
    sql: `SELECT id, title, url, kind, state, position, ${at("created_at", "createdAt")}, ${at("updated_at", "updatedAt")}
          FROM links WHERE user_id = ?1 ORDER BY position LIMIT ?2`,
  },
  {
    name: "posts",
    sql: `SELECT p.id, p.text, p.event_id AS eventId, ${at("p.removed_at", "removedAt")}, ${at("p.created_at", "createdAt")},
            (SELECT json_group_array(m.media_id) FROM post_media m WHERE m.post_id = p.id) AS mediaIds
          FROM posts p WHERE p.author_id = ?1 ORDER BY p.created_at DESC LIMIT ?2`,
  },
  {
    name: "comments",
    sql: `SELECT id, post_id AS postId, parent_id AS parentId, text, ${at("removed_at", "removedAt")}, ${at("created_at", "createdAt")}
          FROM comments WHERE author_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "postLikes",
    sql: `SELECT post_id AS postId, ${at("created_at", "createdAt")} FROM post_likes WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "commentLikes",
    sql: `SELECT comment_id AS commentId, ${at("created_at", "createdAt")} FROM comment_likes WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "bookmarks",
    sql: `SELECT post_id AS postId, ${at("created_at", "createdAt")} FROM bookmarks WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "reposts",
    sql: `SELECT post_id AS postId, ${at("created_at", "createdAt")} FROM reposts WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "following",
    sql: `SELECT followee_id AS userId, ${at("created_at", "createdAt")} FROM follows WHERE follower_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "followers",
    sql: `SELECT follower_id AS userId, ${at("created_at", "createdAt")} FROM follows WHERE followee_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "blocks",
    sql: `SELECT blocked_id AS userId, ${at("created_at", "createdAt")} FROM blocks WHERE blocker_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "notifications",
    sql: `SELECT id, kind, actor_id AS actorId, post_id AS postId, comment_id AS commentId, order_id AS orderId,
            ${at("read_at", "readAt")}, ${at("created_at", "createdAt")}
          FROM notifications WHERE user_id = ?1 ORDER BY id DESC LIMIT ?2`,
  },
  {
    name: "reports",
    sql: `SELECT id, subject_kind AS subjectKind, post_id AS postId, comment_id AS commentId, subject_user_id AS subjectUserId,
            reason, status, ${at("created_at", "createdAt")} FROM reports WHERE reporter_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "orders",
    sql: `SELECT o.id, o.event_id AS eventId, e.title AS eventTitle, ${at("e.starts_at", "eventStartsAt")}, o.status, o.quantity,
            o.amount, o.currency, ${at("o.created_at", "createdAt")}
          FROM orders o LEFT JOIN events e ON e.id = o.event_id WHERE o.user_id = ?1 ORDER BY o.created_at DESC LIMIT ?2`,
  },
  {
    name: "tickets",
    sql: `SELECT t.id, t.order_id AS orderId, t.event_id AS eventId, e.title AS eventTitle, t.serial, t.status,
            ${at("t.redeemed_at", "redeemedAt")}, ${at("t.created_at", "createdAt")}
          FROM tickets t LEFT JOIN events e ON e.id = t.event_id WHERE t.user_id = ?1 ORDER BY t.created_at DESC LIMIT ?2`,
  },
  {
    name: "payments",
    sql: `SELECT id, order_id AS orderId, event_id AS eventId, amount, currency, amount_refunded AS amountRefunded, status,
            ${at("created_at", "createdAt")} FROM payments WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "tipsSent",
    sql: `SELECT id, recipient_id AS recipientId, amount, currency, status, refunded_amount AS refundedAmount, message,
            ${at("created_at", "createdAt")} FROM tips WHERE sender_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    // The fan's message is addressed to this person (they read it in /me/tips); the fan is not named.
    name: "tipsReceived",
    sql: `SELECT id, amount, currency, status, refunded_amount AS refundedAmount, fee_amount AS feeAmount, message,
            ${at("created_at", "createdAt")} FROM tips WHERE recipient_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "payoutAccount",
    sql: `SELECT stripe_account_id AS stripeAccountId, charges_enabled AS chargesEnabled, payouts_enabled AS payoutsEnabled,
            details_submitted AS detailsSubmitted, ${at("created_at", "createdAt")} FROM payout_accounts WHERE user_id = ?1 LIMIT ?2`,
  },
  {
    name: "subscriptions",
    sql: `SELECT s.id, s.price_id AS priceId, s.status, ${at("s.current_period_end", "currentPeriodEnd")},
            s.cancel_at_period_end AS cancelAtPeriodEnd, ${at("s.created_at", "createdAt")}
          FROM subscriptions s WHERE s.user_id = ?1 ORDER BY s.created_at DESC LIMIT ?2`,
  },
  {
    name: "billingCustomer",
    sql: `SELECT stripe_customer_id AS stripeCustomerId, ${at("created_at", "createdAt")} FROM billing_customers WHERE user_id = ?1 LIMIT ?2`,
  },
  {
    name: "media",
    sql: `SELECT id, purpose, visibility, content_type AS contentType, bytes, width, height, ${at("created_at", "createdAt")}
          FROM media WHERE owner_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "eventsHosted",
    sql: `SELECT id, title, status, ${at("starts_at", "startsAt")}, ${at("ends_at", "endsAt")}, venue_name AS venueName,
            ${at("created_at", "createdAt")} FROM events WHERE host_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "waitlist",
    sql: `SELECT w.event_id AS eventId, e.title AS eventTitle, w.position, w.status, ${at("w.offer_expires_at", "offerExpiresAt")},
            ${at("w.created_at", "createdAt")} FROM waitlist_entries w LEFT JOIN events e ON e.id = w.event_id
          WHERE w.user_id = ?1 ORDER BY w.created_at DESC LIMIT ?2`,
  },
  {
    name: "sessions",
    sql: `SELECT method, ${at("created_at", "createdAt")}, ${at("last_used_at", "lastUsedAt")}, ${at("expires_at", "expiresAt")},
            ${at("revoked_at", "revokedAt")}, revoke_reason AS revokeReason, user_agent AS userAgent
          FROM sessions WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "auditLog",
    sql: `SELECT ${at("at", "at")}, action, outcome, user_agent AS userAgent, request_id AS requestId, detail
          FROM audit_log WHERE user_id = ?1 ORDER BY at DESC LIMIT ?2`,
  },
  {
    name: "apiKeys",
    sql: `SELECT id, name, prefix, scopes, ${at("created_at", "createdAt")}, ${at("last_used_at", "lastUsedAt")}, ${at("revoked_at", "revokedAt")}
          FROM api_keys WHERE host_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "webhookEndpoints",
    sql: `SELECT id, url, description, event_types AS eventTypes, enabled, ${at("created_at", "createdAt")}
          FROM webhook_endpoints WHERE host_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
  {
    name: "dataExports",
    sql: `SELECT id, status, ${at("created_at", "createdAt")}, ${at("expires_at", "expiresAt")}
          FROM data_exports WHERE user_id = ?1 ORDER BY created_at DESC LIMIT ?2`,
  },
];

/** Kinds whose rows carry JSON text, parsed so the archive nests it instead of quoting it. */
const JSON_COLUMNS: Record<string, string[]> = {
  posts: ["mediaIds"],
  auditLog: ["detail"],
  apiKeys: ["scopes"],
  webhookEndpoints: ["eventTypes"],
};

/** Columns stored sealed (src/lib/pii.ts), by kind, with the context each was sealed for: opened here. */
const SEALED: Record<string, Record<string, string>> = {
  tipsSent: { message: TIP_MESSAGE },
  tipsReceived: { message: TIP_MESSAGE },
};

/** Kinds with at most one row: shown as an object (or null), not a list. */
const SINGLE = new Set(["profile", "payoutAccount", "billingCustomer"]);

export interface ArchiveAccount {
  id: string;
  email: string;
  name: string;
  roles: string[];
  hasPassword: boolean;
  emailVerifiedAt: string | null;
  createdAt: string;
}

export interface Archive {
  format: "gatehouse-export/1";
  generatedAt: string;
  account: ArchiveAccount;
  /** Kinds cut at LIMITS.dataExportRowsPerKind rows (the newest kept). */
  truncated: string[];
  notes: Record<string, string>;
  [kind: string]: unknown;
}

function openSealed(pii: PiiCipher, kind: string, row: Record<string, unknown>): Record<string, unknown> {
  for (const [column, context] of Object.entries(SEALED[kind] ?? {})) {
    const value = row[column];
    if (typeof value !== "string") continue;
    try {
      row[column] = pii.open(value, context);
    } catch {
      // Not readable with the keys we hold: left out rather than shown as ciphertext.
      row[column] = null;
    }
  }
  return row;
}

function parseJsonColumns(kind: string, row: Record<string, unknown>): Record<string, unknown> {
  for (const column of JSON_COLUMNS[kind] ?? []) {
    const value = row[column];
    if (typeof value === "string") {
      try {
        row[column] = JSON.parse(value);
      } catch {
        // Left as text: the archive shows what is stored.
      }
    }
  }
  return row;
}

/** Reads every kind for `userId` (one D1 batch, one query per kind), opens sealed fields, assembles the archive. */
export async function collectArchive(
  db: D1Database,
  pii: PiiCipher,
  account: ArchiveAccount,
  now: number,
  rowsPerKind = LIMITS.dataExportRowsPerKind,
): Promise<Archive> {
  const results = await db.batch(KINDS.map((kind) => db.prepare(kind.sql).bind(account.id, rowsPerKind + 1)));
  const archive: Archive = {
    format: "gatehouse-export/1",
    generatedAt: new Date(now).toISOString(),
    account,
    truncated: [],
    notes: {
      media:
        "Metadata of the images you uploaded. The files themselves are fetched by their signed URLs: GET /api/v1/media/{id} answers one for each.",
      otherPeople:
        "Other people appear by their user id only: their names and addresses are theirs, not part of your data.",
      auditLog:
        "Security events about your account. Your network address is kept only as a keyed hash and is not shown.",
      emails: "Emails we sent you are kept 30 days after sending (address, subject, body); they are not copied here.",
    },
  };
  KINDS.forEach((kind, index) => {
    const found = (results[index]?.results ?? []) as Record<string, unknown>[];
    if (found.length > rowsPerKind) archive.truncated.push(kind.name);
    const kept = found.slice(0, rowsPerKind).map((row) => parseJsonColumns(kind.name, openSealed(pii, kind.name, row)));
    archive[kind.name] = SINGLE.has(kind.name) ? (kept[0] ?? null) : kept;
  });
  return archive;
}
