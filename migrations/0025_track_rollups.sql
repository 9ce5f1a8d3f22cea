-- How far each creator-day was rolled up: the five-minute cron rolls up only creator-days with new raw
-- events, least recently rolled first, a bounded number per run (src/features/creators/rollups.ts).
CREATE TABLE `track_rollups` (
	`user_id` text NOT NULL,
	`day` text NOT NULL,
	`through_id` integer NOT NULL,
	`rolled_at` integer NOT NULL,
	PRIMARY KEY(`user_id`, `day`)
);
