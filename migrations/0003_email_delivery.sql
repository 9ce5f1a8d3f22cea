-- Email delivery through Queues: `email_outbox` gains what the consumer needs (`lease_until` to claim a
-- row under a lease, `next_attempt_at` for the retry schedule, `queued_at` for the sweep that re-sends
-- lost messages, the provider's message id, the last error), and `dead_letters` lists what gave up,
-- for operators to replay. Its partial unique index allows one open dead letter per (source, ref_id),
-- so a re-delivered dead-letter message adds nothing.
CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`source` text NOT NULL,
	`ref_id` text NOT NULL,
	`reason` text NOT NULL,
	`payload` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`replayed_at` integer
);
--> statement-breakpoint
CREATE INDEX `dead_letters_created` ON `dead_letters` (`created_at`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `dead_letters_open_ref` ON `dead_letters` (`source`,`ref_id`) WHERE "dead_letters"."replayed_at" IS NULL;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `next_attempt_at` integer;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `provider_message_id` text;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `last_error` text;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `queued_at` integer;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `email_outbox` ADD `updated_at` integer;--> statement-breakpoint
CREATE INDEX `email_outbox_status_next` ON `email_outbox` (`status`,`next_attempt_at`);