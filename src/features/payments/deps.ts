/**
 * What the payments services need, built once per request or queue batch: D1, the inventory objects,
 * the Stripe client, and the two queues (payments work, email). `null` when payments are not
 * configured (development without Stripe keys): callers answer `payments-not-configured`.
 */
import type { EventInventory } from "../../../durable-objects/event-inventory/contract";
import { type Config, getConfig } from "../../config";
import type { PaymentsConfig } from "../../config/payments";
import type { AppContext } from "../../context";
import { DomainError } from "../../lib/errors";
import type { EmailQueue } from "../email";
import type { OutgoingWebhookMessage } from "../webhooks";
import { checkoutReturnBase } from "./checkout";
import type { PaymentsQueue } from "./queue";
import { type Stripe, stripeClient } from "./stripe";

export interface PaymentsDeps {
  db: D1Database;
  inventory: DurableObjectNamespace<EventInventory>;
  config: Config;
  payments: PaymentsConfig;
  stripe: Stripe;
  webhookQueue: PaymentsQueue;
  emailQueue: EmailQueue;
  /** Wakes hosts' webhooks after a fact is recorded; without it the cron sweep hands them over. */
  outgoingWebhookQueue?: Queue<OutgoingWebhookMessage>;
}

export function paymentsDepsFromEnv(env: Env): PaymentsDeps | null {
  const config = getConfig(env);
  if (!config.payments) return null;
  return {
    db: env.DB,
    inventory: env.EVENT_INVENTORY,
    config,
    payments: config.payments,
    stripe: stripeClient(config.payments),
    webhookQueue: env.WEBHOOK_QUEUE as PaymentsQueue,
    emailQueue: env.EMAIL_QUEUE as EmailQueue,
    outgoingWebhookQueue: env.OUTGOING_WEBHOOK_QUEUE,
  };
}

/** For routes: the deps, or the 503 problem a client can act on (and a developer can fix). */
export function requirePayments(c: AppContext): PaymentsDeps {
  const deps = paymentsDepsFromEnv(c.env);
  if (!deps) throw notConfigured();
  return deps;
}

export function notConfigured(): DomainError {
  return new DomainError(
    "payments-not-configured",
    "Paid checkout is off: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET (test-mode keys work locally). Free events work without them.",
  );
}

/** Where Stripe sends buyers back: PUBLIC_URL (production) or this request's origin, plus an allowed `returnUrl`. */
export function returnBaseFor(c: AppContext, returnUrl: string | undefined): string {
  const config = c.get("config");
  return checkoutReturnBase(config.publicUrl ?? new URL(c.req.url).origin, config.corsOrigins, returnUrl);
}
