-- The waiting room (issue 20): an event's queue mode (off | auto | on) and the rate passes are
-- issued at while it is on. The defaults keep every existing event as it was: no queue.
ALTER TABLE `events` ADD `queue_mode` text DEFAULT 'off' NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `queue_admit_per_second` integer DEFAULT 50 NOT NULL;