-- Events and their read models. `events` is owned by D1 (host, schedule, venue, capacity, price in
-- minor units, sales and check-in windows; `version` for edits that must not overwrite each other).
-- `orders` and `tickets` are projections of each event's EventInventory Durable Object, which decides
-- them: `projection_seq` keeps a late or replayed push from overwriting newer state, and the unique
-- (event_id, serial) means a ticket serial is issued once.
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`host_id` text NOT NULL,
	`title` text NOT NULL,
	`description` text DEFAULT '' NOT NULL,
	`starts_at` integer NOT NULL,
	`ends_at` integer NOT NULL,
	`timezone` text NOT NULL,
	`venue_name` text NOT NULL,
	`venue_address` text NOT NULL,
	`lat` real NOT NULL,
	`lng` real NOT NULL,
	`capacity` integer NOT NULL,
	`price` integer NOT NULL,
	`currency` text NOT NULL,
	`per_user_limit` integer NOT NULL,
	`sales_start_at` integer,
	`sales_end_at` integer,
	`check_in_opens_at` integer NOT NULL,
	`check_in_closes_at` integer NOT NULL,
	`cover_media_id` text,
	`status` text NOT NULL,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`published_at` integer,
	`cancelled_at` integer
);
--> statement-breakpoint
CREATE INDEX `events_status_starts` ON `events` (`status`,`starts_at`,`id`);--> statement-breakpoint
CREATE INDEX `events_host` ON `events` (`host_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `events_geo` ON `events` (`status`,`lat`,`lng`);--> statement-breakpoint
CREATE TABLE `orders` (
	`id` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`user_id` text NOT NULL,
	`status` text NOT NULL,
	`quantity` integer NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`hold_expires_at` integer,
	`payment_ref` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`projection_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `orders_user` ON `orders` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `orders_event_status` ON `orders` (`event_id`,`status`);--> statement-breakpoint
CREATE TABLE `tickets` (
	`id` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`order_id` text NOT NULL,
	`user_id` text NOT NULL,
	`serial` integer NOT NULL,
	`status` text NOT NULL,
	`redeemed_at` integer,
	`created_at` integer NOT NULL,
	`projection_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tickets_user` ON `tickets` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tickets_event_status` ON `tickets` (`event_id`,`status`);--> statement-breakpoint
CREATE UNIQUE INDEX `tickets_event_serial` ON `tickets` (`event_id`,`serial`);