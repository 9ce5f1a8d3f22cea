/**
 * D1 tables of the social layer (drizzle): profiles, the follow and block graph, posts with their media,
 * comments, likes, bookmarks, reposts, notifications, reports, and the cache versions that invalidate
 * edge-cached reads. docs/storage.md describes them.
 *
 * Every relation is a foreign key with ON DELETE CASCADE (SET NULL where the row outlives what it
 * points at: a post's event, a profile's avatar), so deleting a post takes its comments, likes,
 * bookmarks, reposts, notifications and reports with it, and deleting a user everything they own.
 *
 * The counters (`profiles.*_count`, `posts.*_count`, `comments.like_count`) are kept by triggers in
 * migrations/0011_social.sql, in the same statement as the row that changes them, cascades included:
 * never by read-modify-write in code. Drizzle does not model triggers; the migration is their home.
 */
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { events, users } from "./schema";
import { media } from "./schema-media";

/**
 * One per user, made by a trigger when the user row is inserted (and backfilled by the migration), so
 * the counter triggers only ever update. `name` stays on `users`.
 */
export const profiles = sqliteTable(
  "profiles",
  {
    userId: text("user_id")
      .primaryKey()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Plain text, Unicode-normalised, control characters stripped; rendered escaped. */
    bio: text("bio").notNull().default(""),
    avatarMediaId: text("avatar_media_id").references(() => media.id, { onDelete: "set null" }),
    /** The user's active handle (mirrors `handles`, src/db/schema-creators.ts); null until claimed. */
    handle: text("handle"),
    /** The handle normalised (src/lib/handle.ts): what lookups and mentions compare. */
    handleKey: text("handle_key"),
    postsCount: integer("posts_count").notNull().default(0),
    followersCount: integer("followers_count").notNull().default(0),
    followingCount: integer("following_count").notNull().default(0),
    /**
     * Bumped whenever what this user's home feed shows may have changed (someone they follow posts or
     * reposts, they follow, block, like…): part of the feed's edge-cache key, so a bump is the
     * invalidation — no fan-out of cache deletes.
     */
    feedVersion: integer("feed_version").notNull().default(0),
    updatedAt: integer("updated_at").notNull().default(sql`(unixepoch() * 1000)`),
  },
  (t) => [uniqueIndex("profiles_handle_key").on(t.handleKey)],
);

/** `follower` follows `followee`. */
export const follows = sqliteTable(
  "follows",
  {
    followerId: text("follower_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    followeeId: text("followee_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.followerId, t.followeeId] }),
    index("follows_followee_created").on(t.followeeId, t.createdAt),
    index("follows_follower_created").on(t.followerId, t.createdAt),
    check("follows_not_self", sql`${t.followerId} <> ${t.followeeId}`),
  ],
);

/** `blocker` blocks `blocked`: each side stops seeing the other's content and notifications. */
export const blocks = sqliteTable(
  "blocks",
  {
    blockerId: text("blocker_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    blockedId: text("blocked_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.blockerId, t.blockedId] }),
    index("blocks_blocked").on(t.blockedId),
    check("blocks_not_self", sql`${t.blockerId} <> ${t.blockedId}`),
  ],
);

export const posts = sqliteTable(
  "posts",
  {
    id: text("id").primaryKey(),
    authorId: text("author_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** Plain text (≤ 2,000 characters), NFC-normalised, control characters stripped. */
    text: text("text").notNull(),
    eventId: text("event_id").references(() => events.id, { onDelete: "set null" }),
    likeCount: integer("like_count").notNull().default(0),
    /** Comments and replies that are not removed. */
    commentCount: integer("comment_count").notNull().default(0),
    repostCount: integer("repost_count").notNull().default(0),
    bookmarkCount: integer("bookmark_count").notNull().default(0),
    /** Set when a moderator removes the post: hidden everywhere, kept for the record. */
    removedAt: integer("removed_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("posts_author_created").on(t.authorId, t.createdAt, t.id), index("posts_event").on(t.eventId)],
);

/** A post's images, in order (at most four). */
export const postMedia = sqliteTable(
  "post_media",
  {
    postId: text("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    position: integer("position").notNull(),
    mediaId: text("media_id")
      .notNull()
      .references(() => media.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.postId, t.position] }), index("post_media_media").on(t.mediaId)],
);

/** A comment on a post, or a reply to a top-level comment (one level: a reply's parent has none). */
export const comments = sqliteTable(
  "comments",
  {
    id: text("id").primaryKey(),
    postId: text("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    // biome-ignore lint/suspicious/noExplicitAny: drizzle's self-reference needs the loose return type
    parentId: text("parent_id").references((): any => comments.id, { onDelete: "cascade" }),
    authorId: text("author_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    text: text("text").notNull(),
    likeCount: integer("like_count").notNull().default(0),
    removedAt: integer("removed_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("comments_post_created").on(t.postId, t.createdAt, t.id),
    index("comments_parent").on(t.parentId),
    index("comments_author").on(t.authorId),
  ],
);

export const postLikes = sqliteTable(
  "post_likes",
  {
    postId: text("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.userId] }), index("post_likes_user").on(t.userId, t.createdAt)],
);

export const commentLikes = sqliteTable(
  "comment_likes",
  {
    commentId: text("comment_id")
      .notNull()
      .references(() => comments.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.commentId, t.userId] }), index("comment_likes_user").on(t.userId)],
);

export const bookmarks = sqliteTable(
  "bookmarks",
  {
    postId: text("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.userId] }), index("bookmarks_user_created").on(t.userId, t.createdAt)],
);

export const reposts = sqliteTable(
  "reposts",
  {
    postId: text("post_id")
      .notNull()
      .references(() => posts.id, { onDelete: "cascade" }),
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.postId, t.userId] }), index("reposts_user_created").on(t.userId, t.createdAt)],
);

export const NOTIFICATION_KINDS = [
  "like",
  "comment",
  "reply",
  "comment_like",
  "follow",
  "repost",
  "mention",
  "order",
  "refund",
  "tip",
  "removed",
] as const;

/**
 * In-app notifications, one row per actor and subject; the list groups rows of one `group_key`
 * ("Ana and 12 others liked your post"). `dedupe_key` makes repeating an action (like, unlike, like)
 * notify once. Ids are increasing integers so "mark read up to an id" is one range update.
 */
export const notifications = sqliteTable(
  "notifications",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** The recipient. */
    userId: text("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: NOTIFICATION_KINDS }).notNull(),
    actorId: text("actor_id").references(() => users.id, { onDelete: "cascade" }),
    postId: text("post_id").references(() => posts.id, { onDelete: "cascade" }),
    commentId: text("comment_id").references(() => comments.id, { onDelete: "cascade" }),
    /** Order and refund notifications name their order (no foreign key: orders belong to ticketing). */
    orderId: text("order_id"),
    groupKey: text("group_key").notNull(),
    dedupeKey: text("dedupe_key"),
    readAt: integer("read_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("notifications_user_id").on(t.userId, t.id),
    index("notifications_user_unread").on(t.userId, t.readAt),
    uniqueIndex("notifications_dedupe").on(t.dedupeKey),
    index("notifications_actor").on(t.actorId),
  ],
);

/** A report of a post, comment or user, waiting for a moderator. */
export const reports = sqliteTable(
  "reports",
  {
    id: text("id").primaryKey(),
    reporterId: text("reporter_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    subjectKind: text("subject_kind", { enum: ["post", "comment", "user"] }).notNull(),
    postId: text("post_id").references(() => posts.id, { onDelete: "cascade" }),
    commentId: text("comment_id").references(() => comments.id, { onDelete: "cascade" }),
    subjectUserId: text("subject_user_id").references(() => users.id, { onDelete: "cascade" }),
    reason: text("reason").notNull(),
    status: text("status", { enum: ["open", "dismissed", "removed"] })
      .notNull()
      .default("open"),
    resolvedBy: text("resolved_by").references(() => users.id, { onDelete: "set null" }),
    resolvedAt: integer("resolved_at"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [
    index("reports_status_created").on(t.status, t.createdAt),
    index("reports_post").on(t.postId),
    index("reports_comment").on(t.commentId),
    index("reports_subject_user").on(t.subjectUserId),
    check(
      "reports_one_subject",
      sql`(${t.subjectKind} = 'post' AND ${t.postId} IS NOT NULL) OR (${t.subjectKind} = 'comment' AND ${t.commentId} IS NOT NULL) OR (${t.subjectKind} = 'user' AND ${t.subjectUserId} IS NOT NULL)`,
    ),
  ],
);

/**
 * Version counters that edge-cached reads put in their cache key (`events` for listings and nearby
 * searches, `event:<id>`, `profile:<id>`): a write bumps the counter in the same batch, and every
 * cached copy under the old key stops being asked for. Rows appear on first bump (a missing row is 0).
 */
export const cacheVersions = sqliteTable("cache_versions", {
  scope: text("scope").primaryKey(),
  version: integer("version").notNull(),
});
