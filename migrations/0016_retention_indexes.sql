-- Retention (issue 22): the cron deletes these tables' rows by age, so each gets an index on the time it
-- judges by (src/features/retention).
CREATE INDEX `audit_log_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE INDEX `dev_mailbox_created` ON `dev_mailbox` (`created_at`);--> statement-breakpoint
CREATE INDEX `email_tokens_expires_at` ON `email_tokens` (`expires_at`);--> statement-breakpoint
CREATE INDEX `sessions_expires_at` ON `sessions` (`expires_at`);