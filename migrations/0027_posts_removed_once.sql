-- A post's removal or restoring moves its author's feed version and counts only. The followers' feeds are
-- moved by the statement that removes (src/features/social/reports.ts), once per removal, however many
-- posts it takes down: per post, a user's whole history removed at once was posts × followers updates.
DROP TRIGGER IF EXISTS `posts_removed`;--> statement-breakpoint
CREATE TRIGGER `posts_removed` AFTER UPDATE OF `removed_at` ON `posts` WHEN (OLD.`removed_at` IS NULL) <> (NEW.`removed_at` IS NULL) BEGIN
	UPDATE `profiles` SET `posts_count` = `posts_count` + (NEW.`removed_at` IS NULL) - (OLD.`removed_at` IS NULL),
		`feed_version` = `feed_version` + 1 WHERE `user_id` = NEW.`author_id`;
END;
