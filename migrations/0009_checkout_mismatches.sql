-- Paid Checkout Sessions that did not match their order (amount, currency, Stripe mode, or not the
-- session we created for the order they name): the webhook consumer never fulfils them, refunds them
-- and records them here, one row per session, so operators can see what was refused and why.
CREATE TABLE `checkout_mismatches` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`order_id` text NOT NULL,
	`event_id` text NOT NULL,
	`ours` integer NOT NULL,
	`reasons` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`expected_amount` integer NOT NULL,
	`expected_currency` text NOT NULL,
	`livemode` integer,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `checkout_mismatches_payment_intent_unique` ON `checkout_mismatches` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `checkout_mismatches_created` ON `checkout_mismatches` (`created_at`);