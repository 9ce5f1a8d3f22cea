-- Scanner devices for the gate: registered per event by its host, the token kept only as its SHA-256
-- (unique: a device is found by its token hash), revocable. Scans and redemptions are not stored here:
-- the event's EventInventory object decides them and keeps them in its own storage.
CREATE TABLE `gate_devices` (
	`id` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`name` text NOT NULL,
	`role` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`revoked_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `gate_devices_token_hash_unique` ON `gate_devices` (`token_hash`);--> statement-breakpoint
CREATE INDEX `gate_devices_event` ON `gate_devices` (`event_id`,`created_at`);