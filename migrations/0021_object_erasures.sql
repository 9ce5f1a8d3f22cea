-- Event objects an erasure has still to clear of the person's email and name: those past the newest
-- LIMITS.erasureEventObjects it clears at once, and any that failed its last look. The five-minute cron
-- works through them (src/features/privacy/object-erasures.ts).
CREATE TABLE `object_erasures` (
	`user_id` text NOT NULL,
	`event_id` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `event_id`)
);
--> statement-breakpoint
CREATE INDEX `object_erasures_due` ON `object_erasures` (`next_at`);