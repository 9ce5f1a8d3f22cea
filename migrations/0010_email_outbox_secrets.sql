-- Email outbox bodies that carry a secret (sign-in codes, verification and reset links) no longer stay
-- at rest: subject/text/html become nullable, `carries_secret` marks such rows, and two CHECKs hold
-- every writer to "a row that may still be sent keeps its body" and "a finished secret row has none".
-- SQLite cannot relax NOT NULL or add a CHECK in place, so the table is rebuilt (drizzle-kit's copy);
-- the copy also marks existing rows by template (the templates' CARRIES_SECRET) and drops the bodies
-- of secret emails already sent or dead-lettered, so the secrets written before this migration go too.
-- The table has no foreign keys; the PRAGMAs are drizzle-kit's rebuild boilerplate.
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_email_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`to` text NOT NULL,
	`template` text NOT NULL,
	`subject` text,
	`text` text,
	`html` text,
	`carries_secret` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`sent_at` integer,
	`next_attempt_at` integer,
	`provider_message_id` text,
	`last_error` text,
	`queued_at` integer,
	`lease_until` integer,
	`updated_at` integer,
	CONSTRAINT "email_outbox_body_until_done" CHECK(status IN ('sent', 'dead_letter') OR (subject IS NOT NULL AND text IS NOT NULL AND html IS NOT NULL)),
	CONSTRAINT "email_outbox_secret_dropped" CHECK(carries_secret = 0 OR status NOT IN ('sent', 'dead_letter') OR (subject IS NULL AND text IS NULL AND html IS NULL))
);
--> statement-breakpoint
INSERT INTO `__new_email_outbox`("id", "to", "template", "subject", "text", "html", "carries_secret", "status", "attempts", "created_at", "sent_at", "next_attempt_at", "provider_message_id", "last_error", "queued_at", "lease_until", "updated_at") SELECT "id", "to", "template",
	CASE WHEN "template" IN ('verify-email', 'reset-password', 'otp-code') AND "status" IN ('sent', 'dead_letter') THEN NULL ELSE "subject" END,
	CASE WHEN "template" IN ('verify-email', 'reset-password', 'otp-code') AND "status" IN ('sent', 'dead_letter') THEN NULL ELSE "text" END,
	CASE WHEN "template" IN ('verify-email', 'reset-password', 'otp-code') AND "status" IN ('sent', 'dead_letter') THEN NULL ELSE "html" END,
	CASE WHEN "template" IN ('verify-email', 'reset-password', 'otp-code') THEN 1 ELSE 0 END,
	"status", "attempts", "created_at", "sent_at", "next_attempt_at", "provider_message_id", "last_error", "queued_at", "lease_until", "updated_at" FROM `email_outbox`;--> statement-breakpoint
DROP TABLE `email_outbox`;--> statement-breakpoint
ALTER TABLE `__new_email_outbox` RENAME TO `email_outbox`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `email_outbox_status_created` ON `email_outbox` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `email_outbox_status_next` ON `email_outbox` (`status`,`next_attempt_at`);