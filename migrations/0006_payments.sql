-- Payments through Stripe: `checkout_sessions` (one per order and attempt; the seat hold ends with
-- the session), `payments` (one per PaymentIntent, unique), `refunds` (one job per PaymentIntent,
-- unique, so Stripe is asked once however many paths decide to refund), `stripe_events` (the webhook
-- inbox, keyed by Stripe's event id, so a re-delivery inserts nothing), `stripe_object_cursors` (the
-- last event applied per Stripe object, so an older one never rolls it back), `payment_disputes`, and
-- `refund_policies` (a host's own refund terms for an event).
CREATE TABLE `checkout_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`event_id` text NOT NULL,
	`user_id` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`url` text,
	`idempotency_key` text NOT NULL,
	`status` text NOT NULL,
	`payment_status` text DEFAULT 'unpaid' NOT NULL,
	`expires_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `checkout_sessions_order_attempt` ON `checkout_sessions` (`order_id`,`attempt`);--> statement-breakpoint
CREATE INDEX `checkout_sessions_status_expires` ON `checkout_sessions` (`status`,`expires_at`);--> statement-breakpoint
CREATE TABLE `payment_disputes` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`order_id` text NOT NULL,
	`event_id` text NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`reason` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `payment_disputes_event` ON `payment_disputes` (`event_id`);--> statement-breakpoint
CREATE TABLE `payments` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`order_id` text NOT NULL,
	`event_id` text NOT NULL,
	`user_id` text NOT NULL,
	`checkout_session_id` text,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`amount_refunded` integer DEFAULT 0 NOT NULL,
	`status` text NOT NULL,
	`disputed_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `payments_payment_intent_unique` ON `payments` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `payments_event` ON `payments` (`event_id`);--> statement-breakpoint
CREATE INDEX `payments_order` ON `payments` (`order_id`);--> statement-breakpoint
CREATE TABLE `refund_policies` (
	`event_id` text PRIMARY KEY NOT NULL,
	`refundable` integer NOT NULL,
	`cutoff_hours` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`payment_intent` text NOT NULL,
	`order_id` text NOT NULL,
	`event_id` text NOT NULL,
	`reason` text NOT NULL,
	`order_outcome` text NOT NULL,
	`idempotency_key` text NOT NULL,
	`status` text NOT NULL,
	`stripe_refund_id` text,
	`amount` integer,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`next_attempt_at` integer,
	`queued_at` integer,
	`settled_by` text,
	`created_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `refunds_payment_intent_unique` ON `refunds` (`payment_intent`);--> statement-breakpoint
CREATE INDEX `refunds_status_next` ON `refunds` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `refunds_event` ON `refunds` (`event_id`);--> statement-breakpoint
CREATE TABLE `stripe_events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`object_id` text NOT NULL,
	`created` integer NOT NULL,
	`livemode` integer NOT NULL,
	`payload` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`next_attempt_at` integer,
	`queued_at` integer,
	`received_at` integer NOT NULL,
	`processed_at` integer
);
--> statement-breakpoint
CREATE INDEX `stripe_events_status_next` ON `stripe_events` (`status`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `stripe_events_received` ON `stripe_events` (`received_at`);--> statement-breakpoint
CREATE TABLE `stripe_object_cursors` (
	`object_id` text PRIMARY KEY NOT NULL,
	`last_created` integer NOT NULL,
	`last_event_id` text NOT NULL,
	`updated_at` integer NOT NULL
);
