-- Ended events whose object failed the contacts' retention sweep, and when to try again: the sweep passes
-- over them until then, so failing objects do not hold the head of its queue (src/features/privacy/contact-retention.ts).
CREATE TABLE `contact_purge_retries` (
	`event_id` text PRIMARY KEY NOT NULL,
	`attempts` integer NOT NULL,
	`next_at` integer NOT NULL
);
