-- Uploaded media: one row per stored image (owner, purpose, visibility, the sniffed content type, size,
-- dimensions, SHA-256). The bytes live in R2 under `r2_key`, random and unrelated to the id (unique);
-- nobody reads them except through a signed URL checked against this row.
CREATE TABLE `media` (
	`id` text PRIMARY KEY NOT NULL,
	`owner_id` text NOT NULL,
	`purpose` text NOT NULL,
	`visibility` text NOT NULL,
	`content_type` text NOT NULL,
	`r2_key` text NOT NULL,
	`bytes` integer NOT NULL,
	`width` integer NOT NULL,
	`height` integer NOT NULL,
	`sha256` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `media_r2_key_unique` ON `media` (`r2_key`);--> statement-breakpoint
CREATE INDEX `media_owner_created` ON `media` (`owner_id`,`created_at`);