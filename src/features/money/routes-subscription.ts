/**
 * HTTP for the Pro plan: POST /api/v1/me/subscription/checkout and /portal (each 200 `{ url }` to send
 * the browser to Stripe), GET /api/v1/me/subscription. Rules live in subscription.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { SUBSCRIPTION_STATUSES } from "../../db/schema-money";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { DomainError } from "../../lib/errors";
import { openEmail } from "../auth";
import { requirePayments, returnBaseFor } from "../payments";
import { openPortal, startProCheckout, subscriptionView } from "./subscription";

const UrlSchema = z.object({ url: z.string().url() }).openapi("StripeRedirect");

export const SubscriptionSchema = z
  .object({
    plan: z.enum(["free", "pro"]),
    status: z
      .enum(SUBSCRIPTION_STATUSES)
      .nullable()
      .openapi({ description: "Stripe's status; null: never subscribed" }),
    isPro: z.boolean(),
    currentPeriodEnd: z.string().nullable(),
    cancelAtPeriodEnd: z.boolean(),
  })
  .openapi("Subscription");

const checkoutRoute = createRoute({
  method: "post",
  path: "/api/v1/me/subscription/checkout",
  tags: ["Billing"],
  summary: "Start the Pro upgrade: a Stripe Checkout URL (subscription mode)",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: {
    200: json(UrlSchema, "Send the browser to `url`"),
    ...problems(
      "unauthorized",
      ["already-subscribed", "a subscription already gives (or can regain) Pro: use the portal"],
      "payments-not-configured",
      "payment-provider-error",
    ),
  },
});

const portalRoute = createRoute({
  method: "post",
  path: "/api/v1/me/subscription/portal",
  tags: ["Billing"],
  summary: "Manage the plan: a Stripe customer portal URL",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: {
    200: json(UrlSchema, "Send the browser to `url`"),
    ...problems(
      "unauthorized",
      ["no-billing-customer", "never upgraded: there is nothing to manage"],
      "payments-not-configured",
      "payment-provider-error",
    ),
  },
});

const viewRoute = createRoute({
  method: "get",
  path: "/api/v1/me/subscription",
  tags: ["Billing"],
  summary: "Your plan, its Stripe status and whether it gives Pro now",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: { 200: json(SubscriptionSchema, "The plan"), ...problems("unauthorized") },
});

export async function signedInUser(c: AppContext): Promise<{ id: string; email: string }> {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  const row = await c.env.DB.prepare("SELECT email FROM users WHERE id = ?")
    .bind(principal.id)
    .first<{ email: string }>();
  if (!row) throw new DomainError("unauthorized", "Sign in to continue.");
  return { id: principal.id, email: openEmail(c.get("config").pii, row.email) };
}

export const subscriptionRoutes = new OpenAPIHono<AppEnv>()
  .openapi(checkoutRoute, async (c) => {
    const deps = requirePayments(c);
    c.header("Cache-Control", "private, no-store");
    return c.json(await startProCheckout(deps, await signedInUser(c), returnOrigin(c)), 200);
  })
  .openapi(portalRoute, async (c) => {
    const deps = requirePayments(c);
    c.header("Cache-Control", "private, no-store");
    return c.json(await openPortal(deps, (await signedInUser(c)).id, returnOrigin(c)), 200);
  })
  .openapi(viewRoute, async (c) => {
    c.header("Cache-Control", "private, no-store");
    return c.json(await subscriptionView(c.env.DB, (await signedInUser(c)).id), 200);
  });

/** The origin Stripe sends the browser back to: PUBLIC_URL, else this request's. */
export function returnOrigin(c: AppContext): string {
  return new URL(returnBaseFor(c, undefined)).origin;
}
