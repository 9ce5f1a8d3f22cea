-- Creator profiles: the handle registry (one row per handle in use or in its grace period; its primary
-- key on the normalised handle is what makes concurrent claims have exactly one winner), link lists with
-- a version that moves on every change, the links themselves, raw tracking events (no addresses: a
-- daily-salted keyed hash) and their daily rollups. Everything cascades from its user.
CREATE TABLE `handles` (
	`handle_key` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`state` text NOT NULL,
	`retired_until` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "handles_retired_until" CHECK(("handles"."state" = 'active') = ("handles"."retired_until" IS NULL))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `handles_user_active` ON `handles` (`user_id`) WHERE "handles"."state" = 'active';--> statement-breakpoint
CREATE INDEX `handles_user` ON `handles` (`user_id`);--> statement-breakpoint
CREATE TABLE `link_lists` (
	`user_id` text PRIMARY KEY NOT NULL,
	`version` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `links` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`title` text NOT NULL,
	`url` text NOT NULL,
	`kind` text DEFAULT 'link' NOT NULL,
	`state` text NOT NULL,
	`position` integer NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `links_user_position` ON `links` (`user_id`,`position`);--> statement-breakpoint
CREATE TABLE `track_daily` (
	`user_id` text NOT NULL,
	`day` text NOT NULL,
	`metric` text NOT NULL,
	`dimension` text NOT NULL,
	`key` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`user_id`, `day`, `metric`, `dimension`, `key`),
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `track_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` text NOT NULL,
	`kind` text NOT NULL,
	`link_id` text,
	`day` text NOT NULL,
	`visitor_hash` text NOT NULL,
	`device` text NOT NULL,
	`country` text,
	`referrer_host` text,
	`bot` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`link_id`) REFERENCES `links`(`id`) ON UPDATE no action ON DELETE set null
);
--> statement-breakpoint
CREATE INDEX `track_events_user_day` ON `track_events` (`user_id`,`day`);--> statement-breakpoint
CREATE INDEX `track_events_created` ON `track_events` (`created_at`);