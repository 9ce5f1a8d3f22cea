-- The social layer: profiles (one per user), follows and blocks, posts with their media, comments with
-- one level of replies, likes on posts and comments, bookmarks, reposts, notifications, reports, and
-- the version counters that edge-cached reads put in their keys.
-- Every relation is a foreign key with ON DELETE CASCADE (SET NULL for a post's event and a profile's
-- avatar), so deleting a post or a user takes everything that hangs from it. The counters are kept by
-- the triggers at the end, in the statement that changes their rows (cascaded deletes included), never
-- by read-modify-write in code; the same triggers bump `profiles.feed_version`, the home feed's cache
-- key, for the people whose feed a change touches.
CREATE TABLE `blocks` (
	`blocker_id` text NOT NULL,
	`blocked_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`blocker_id`, `blocked_id`),
	FOREIGN KEY (`blocker_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`blocked_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "blocks_not_self" CHECK("blocks"."blocker_id" <> "blocks"."blocked_id")
);
--> statement-breakpoint
CREATE INDEX `blocks_blocked` ON `blocks` (`blocked_id`);--> statement-breakpoint
CREATE TABLE `bookmarks` (
	`post_id` text NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`post_id`, `user_id`),
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `bookmarks_user_created` ON `bookmarks` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `cache_versions` (
	`scope` text PRIMARY KEY NOT NULL,
	`version` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `comment_likes` (
	`comment_id` text NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`comment_id`, `user_id`),
	FOREIGN KEY (`comment_id`) REFERENCES `comments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `comment_likes_user` ON `comment_likes` (`user_id`);--> statement-breakpoint
CREATE TABLE `comments` (
	`id` text PRIMARY KEY NOT NULL,
	`post_id` text NOT NULL,
	`parent_id` text,
	`author_id` text NOT NULL,
	`text` text NOT NULL,
	`like_count` integer DEFAULT 0 NOT NULL,
	`removed_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`parent_id`) REFERENCES `comments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`author_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `comments_post_created` ON `comments` (`post_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `comments_parent` ON `comments` (`parent_id`);--> statement-breakpoint
CREATE INDEX `comments_author` ON `comments` (`author_id`);--> statement-breakpoint
CREATE TABLE `follows` (
	`follower_id` text NOT NULL,
	`followee_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`follower_id`, `followee_id`),
	FOREIGN KEY (`follower_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`followee_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "follows_not_self" CHECK("follows"."follower_id" <> "follows"."followee_id")
);
--> statement-breakpoint
CREATE INDEX `follows_followee_created` ON `follows` (`followee_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `follows_follower_created` ON `follows` (`follower_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `notifications` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`kind` text NOT NULL,
	`actor_id` text,
	`post_id` text,
	`comment_id` text,
	`order_id` text,
	`group_key` text NOT NULL,
	`dedupe_key` text,
	`read_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`actor_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`comment_id`) REFERENCES `comments`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `notifications_user_id` ON `notifications` (`user_id`,`id`);--> statement-breakpoint
CREATE INDEX `notifications_user_unread` ON `notifications` (`user_id`,`read_at`);--> statement-breakpoint
CREATE UNIQUE INDEX `notifications_dedupe` ON `notifications` (`dedupe_key`);--> statement-breakpoint
CREATE INDEX `notifications_actor` ON `notifications` (`actor_id`);--> statement-breakpoint
CREATE TABLE `post_likes` (
	`post_id` text NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`post_id`, `user_id`),
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `post_likes_user` ON `post_likes` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `post_media` (
	`post_id` text NOT NULL,
	`position` integer NOT NULL,
	`media_id` text NOT NULL,
	PRIMARY KEY(`post_id`, `position`),
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`media_id`) REFERENCES `media`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `post_media_media` ON `post_media` (`media_id`);--> statement-breakpoint
CREATE TABLE `posts` (
	`id` text PRIMARY KEY NOT NULL,
	`author_id` text NOT NULL,
	`text` text NOT NULL,
	`event_id` text,
	`like_count` integer DEFAULT 0 NOT NULL,
	`comment_count` integer DEFAULT 0 NOT NULL,
	`repost_count` integer DEFAULT 0 NOT NULL,
	`bookmark_count` integer DEFAULT 0 NOT NULL,
	`removed_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`author_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`event_id`) REFERENCES `events`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `posts_author_created` ON `posts` (`author_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `posts_event` ON `posts` (`event_id`);--> statement-breakpoint
CREATE TABLE `profiles` (
	`user_id` text PRIMARY KEY NOT NULL,
	`bio` text DEFAULT '' NOT NULL,
	`avatar_media_id` text,
	`handle` text,
	`handle_key` text,
	`posts_count` integer DEFAULT 0 NOT NULL,
	`followers_count` integer DEFAULT 0 NOT NULL,
	`following_count` integer DEFAULT 0 NOT NULL,
	`feed_version` integer DEFAULT 0 NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`avatar_media_id`) REFERENCES `media`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE UNIQUE INDEX `profiles_handle_key` ON `profiles` (`handle_key`);--> statement-breakpoint
CREATE TABLE `reports` (
	`id` text PRIMARY KEY NOT NULL,
	`reporter_id` text NOT NULL,
	`subject_kind` text NOT NULL,
	`post_id` text,
	`comment_id` text,
	`subject_user_id` text,
	`reason` text NOT NULL,
	`status` text DEFAULT 'open' NOT NULL,
	`resolved_by` text,
	`resolved_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`reporter_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`comment_id`) REFERENCES `comments`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`subject_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`resolved_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "reports_one_subject" CHECK(("reports"."subject_kind" = 'post' AND "reports"."post_id" IS NOT NULL) OR ("reports"."subject_kind" = 'comment' AND "reports"."comment_id" IS NOT NULL) OR ("reports"."subject_kind" = 'user' AND "reports"."subject_user_id" IS NOT NULL))
);
--> statement-breakpoint
CREATE INDEX `reports_status_created` ON `reports` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `reports_post` ON `reports` (`post_id`);--> statement-breakpoint
CREATE INDEX `reports_comment` ON `reports` (`comment_id`);--> statement-breakpoint
CREATE INDEX `reports_subject_user` ON `reports` (`subject_user_id`);--> statement-breakpoint
CREATE TABLE `reposts` (
	`post_id` text NOT NULL,
	`user_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`post_id`, `user_id`),
	FOREIGN KEY (`post_id`) REFERENCES `posts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `reposts_user_created` ON `reposts` (`user_id`,`created_at`);
--> statement-breakpoint
-- Every user has a profile row, so the counter triggers below only ever update.
INSERT INTO `profiles` (`user_id`, `updated_at`) SELECT `id`, `updated_at` FROM `users`;--> statement-breakpoint
CREATE TRIGGER `users_profile` AFTER INSERT ON `users` BEGIN
	INSERT INTO `profiles` (`user_id`, `updated_at`) VALUES (NEW.`id`, NEW.`created_at`);
END;--> statement-breakpoint
-- Follows: both sides' counters; the follower's feed now shows (or stops showing) someone else.
CREATE TRIGGER `follows_insert` AFTER INSERT ON `follows` BEGIN
	UPDATE `profiles` SET `following_count` = `following_count` + 1, `feed_version` = `feed_version` + 1 WHERE `user_id` = NEW.`follower_id`;
	UPDATE `profiles` SET `followers_count` = `followers_count` + 1 WHERE `user_id` = NEW.`followee_id`;
END;--> statement-breakpoint
CREATE TRIGGER `follows_delete` AFTER DELETE ON `follows` BEGIN
	UPDATE `profiles` SET `following_count` = `following_count` - 1, `feed_version` = `feed_version` + 1 WHERE `user_id` = OLD.`follower_id`;
	UPDATE `profiles` SET `followers_count` = `followers_count` - 1 WHERE `user_id` = OLD.`followee_id`;
END;--> statement-breakpoint
-- Blocks hide each side from the other's feed.
CREATE TRIGGER `blocks_insert` AFTER INSERT ON `blocks` BEGIN
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` IN (NEW.`blocker_id`, NEW.`blocked_id`);
END;--> statement-breakpoint
CREATE TRIGGER `blocks_delete` AFTER DELETE ON `blocks` BEGIN
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` IN (OLD.`blocker_id`, OLD.`blocked_id`);
END;--> statement-breakpoint
-- Posts: the author's count (removed posts do not count) and the feeds of the author and their followers.
CREATE TRIGGER `posts_insert` AFTER INSERT ON `posts` BEGIN
	UPDATE `profiles` SET `posts_count` = `posts_count` + (NEW.`removed_at` IS NULL) WHERE `user_id` = NEW.`author_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1
		WHERE `user_id` = NEW.`author_id` OR `user_id` IN (SELECT `follower_id` FROM `follows` WHERE `followee_id` = NEW.`author_id`);
END;--> statement-breakpoint
CREATE TRIGGER `posts_delete` AFTER DELETE ON `posts` BEGIN
	UPDATE `profiles` SET `posts_count` = `posts_count` - (OLD.`removed_at` IS NULL) WHERE `user_id` = OLD.`author_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1
		WHERE `user_id` = OLD.`author_id` OR `user_id` IN (SELECT `follower_id` FROM `follows` WHERE `followee_id` = OLD.`author_id`);
END;--> statement-breakpoint
CREATE TRIGGER `posts_removed` AFTER UPDATE OF `removed_at` ON `posts` WHEN (OLD.`removed_at` IS NULL) <> (NEW.`removed_at` IS NULL) BEGIN
	UPDATE `profiles` SET `posts_count` = `posts_count` + (NEW.`removed_at` IS NULL) - (OLD.`removed_at` IS NULL) WHERE `user_id` = NEW.`author_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1
		WHERE `user_id` = NEW.`author_id` OR `user_id` IN (SELECT `follower_id` FROM `follows` WHERE `followee_id` = NEW.`author_id`);
END;--> statement-breakpoint
-- Comments and replies that are not removed count on their post.
CREATE TRIGGER `comments_insert` AFTER INSERT ON `comments` WHEN NEW.`removed_at` IS NULL BEGIN
	UPDATE `posts` SET `comment_count` = `comment_count` + 1 WHERE `id` = NEW.`post_id`;
END;--> statement-breakpoint
CREATE TRIGGER `comments_delete` AFTER DELETE ON `comments` WHEN OLD.`removed_at` IS NULL BEGIN
	UPDATE `posts` SET `comment_count` = `comment_count` - 1 WHERE `id` = OLD.`post_id`;
END;--> statement-breakpoint
CREATE TRIGGER `comments_removed` AFTER UPDATE OF `removed_at` ON `comments` WHEN (OLD.`removed_at` IS NULL) <> (NEW.`removed_at` IS NULL) BEGIN
	UPDATE `posts` SET `comment_count` = `comment_count` + (NEW.`removed_at` IS NULL) - (OLD.`removed_at` IS NULL) WHERE `id` = NEW.`post_id`;
END;--> statement-breakpoint
-- Likes, bookmarks and reposts: the post's counter, and the actor's own feed (its `viewer` flags).
-- A repost also shows in the feeds of the reposter's followers.
CREATE TRIGGER `post_likes_insert` AFTER INSERT ON `post_likes` BEGIN
	UPDATE `posts` SET `like_count` = `like_count` + 1 WHERE `id` = NEW.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` = NEW.`user_id`;
END;--> statement-breakpoint
CREATE TRIGGER `post_likes_delete` AFTER DELETE ON `post_likes` BEGIN
	UPDATE `posts` SET `like_count` = `like_count` - 1 WHERE `id` = OLD.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` = OLD.`user_id`;
END;--> statement-breakpoint
CREATE TRIGGER `comment_likes_insert` AFTER INSERT ON `comment_likes` BEGIN
	UPDATE `comments` SET `like_count` = `like_count` + 1 WHERE `id` = NEW.`comment_id`;
END;--> statement-breakpoint
CREATE TRIGGER `comment_likes_delete` AFTER DELETE ON `comment_likes` BEGIN
	UPDATE `comments` SET `like_count` = `like_count` - 1 WHERE `id` = OLD.`comment_id`;
END;--> statement-breakpoint
CREATE TRIGGER `bookmarks_insert` AFTER INSERT ON `bookmarks` BEGIN
	UPDATE `posts` SET `bookmark_count` = `bookmark_count` + 1 WHERE `id` = NEW.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` = NEW.`user_id`;
END;--> statement-breakpoint
CREATE TRIGGER `bookmarks_delete` AFTER DELETE ON `bookmarks` BEGIN
	UPDATE `posts` SET `bookmark_count` = `bookmark_count` - 1 WHERE `id` = OLD.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1 WHERE `user_id` = OLD.`user_id`;
END;--> statement-breakpoint
CREATE TRIGGER `reposts_insert` AFTER INSERT ON `reposts` BEGIN
	UPDATE `posts` SET `repost_count` = `repost_count` + 1 WHERE `id` = NEW.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1
		WHERE `user_id` = NEW.`user_id` OR `user_id` IN (SELECT `follower_id` FROM `follows` WHERE `followee_id` = NEW.`user_id`);
END;--> statement-breakpoint
CREATE TRIGGER `reposts_delete` AFTER DELETE ON `reposts` BEGIN
	UPDATE `posts` SET `repost_count` = `repost_count` - 1 WHERE `id` = OLD.`post_id`;
	UPDATE `profiles` SET `feed_version` = `feed_version` + 1
		WHERE `user_id` = OLD.`user_id` OR `user_id` IN (SELECT `follower_id` FROM `follows` WHERE `followee_id` = OLD.`user_id`);
END;
