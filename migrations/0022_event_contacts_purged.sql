-- When each event's object had its buyers' contacts cleared, LIMITS.inventoryContactRetentionMs after the
-- event's end: the five-minute cron works through the events not yet marked, by end
-- (src/features/privacy/contact-retention.ts), so objects whose own alarm never armed for it are cleared too.
ALTER TABLE `events` ADD `contacts_purged_at` integer;--> statement-breakpoint
CREATE INDEX `events_contacts_due` ON `events` (`ends_at`) WHERE "events"."contacts_purged_at" IS NULL;