-- Money for hosts and creators: Stripe Connect payout accounts, tips, Stripe customers, Pro
-- subscriptions and the reconciliation runs /health reports on. Rows that record money outlive the
-- people in them (SET NULL, never CASCADE), because payments must stay for accounting; a Stripe
-- object id is unique wherever it appears, so a re-delivered webhook or a retried create finds its row.
CREATE TABLE `billing_customers` (
	`user_id` text PRIMARY KEY NOT NULL,
	`stripe_customer_id` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `billing_customers_stripe` ON `billing_customers` (`stripe_customer_id`);--> statement-breakpoint
CREATE TABLE `payout_accounts` (
	`user_id` text PRIMARY KEY NOT NULL,
	`stripe_account_id` text,
	`charges_enabled` integer DEFAULT false NOT NULL,
	`payouts_enabled` integer DEFAULT false NOT NULL,
	`details_submitted` integer DEFAULT false NOT NULL,
	`requirements` text DEFAULT '{}' NOT NULL,
	`stripe_event_created` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payout_accounts_stripe` ON `payout_accounts` (`stripe_account_id`);--> statement-breakpoint
CREATE TABLE `reconciliation_runs` (
	`name` text PRIMARY KEY NOT NULL,
	`finished_at` integer NOT NULL,
	`summary` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`stripe_customer_id` text NOT NULL,
	`price_id` text NOT NULL,
	`status` text NOT NULL,
	`current_period_end` integer,
	`cancel_at_period_end` integer DEFAULT false NOT NULL,
	`stripe_event_created` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 1 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `subscriptions_user` ON `subscriptions` (`user_id`);--> statement-breakpoint
CREATE INDEX `subscriptions_status` ON `subscriptions` (`status`);--> statement-breakpoint
CREATE TABLE `tips` (
	`id` text PRIMARY KEY NOT NULL,
	`recipient_id` text,
	`sender_id` text,
	`guest_email` text,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`message` text,
	`status` text NOT NULL,
	`fee_amount` integer DEFAULT 0 NOT NULL,
	`stripe_account_id` text NOT NULL,
	`checkout_session_id` text,
	`payment_intent` text,
	`checkout_url` text,
	`refunded_amount` integer DEFAULT 0 NOT NULL,
	`refunded_at` integer,
	`idempotency_key` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`recipient_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	FOREIGN KEY (`sender_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE set null,
	CONSTRAINT "tips_sender_or_guest" CHECK("tips"."sender_id" IS NOT NULL OR "tips"."guest_email" IS NOT NULL OR "tips"."status" <> 'pending'),
	CONSTRAINT "tips_refunded_le_amount" CHECK("tips"."refunded_amount" <= "tips"."amount")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tips_idempotency` ON `tips` (`idempotency_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `tips_checkout_session` ON `tips` (`checkout_session_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `tips_payment_intent` ON `tips` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `tips_recipient_created` ON `tips` (`recipient_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tips_sender_created` ON `tips` (`sender_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tips_status_created` ON `tips` (`status`,`created_at`);