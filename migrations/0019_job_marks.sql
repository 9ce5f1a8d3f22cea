-- Marks periodic jobs leave for their next run. The PII job records the key id under which it last
-- found every sealed column done, so the five-minute cron stops reading those columns (no index serves
-- the "not sealed under the current key" test) until a rotation or the daily recheck.
CREATE TABLE `job_marks` (
	`name` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`at` integer NOT NULL
);
