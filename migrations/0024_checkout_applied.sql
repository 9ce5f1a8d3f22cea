-- When a completed checkout's capture was seen through (order confirmed with its payment, or its refund
-- queued). The hourly reconciliation fetches complete sessions still without it from Stripe
-- (src/features/payments/reconcile.ts). Sessions whose payment is already recorded count as applied.
ALTER TABLE `checkout_sessions` ADD `applied_at` integer;--> statement-breakpoint
CREATE INDEX `checkout_sessions_unapplied` ON `checkout_sessions` (`expires_at`) WHERE "checkout_sessions"."status" = 'complete' AND "checkout_sessions"."applied_at" IS NULL;--> statement-breakpoint
UPDATE `checkout_sessions` SET `applied_at` = `updated_at`
WHERE `status` = 'complete' AND EXISTS (SELECT 1 FROM `payments` p WHERE p.`checkout_session_id` = `checkout_sessions`.`id`);
