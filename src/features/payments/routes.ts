/**
 * HTTP for payments: the Stripe webhook inbox, a new checkout for a pending order (the buyer came back
 * after a declined card), and an event's refund policy. Order creation and refund requests live with
 * the orders routes.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { eventsDeps } from "../events/routes";
import { toApiOrder } from "../orders/service";
import { checkoutReturnBase, retryCheckout } from "./checkout";
import { notConfigured, paymentsDepsFromEnv, requirePayments } from "./deps";
import { receiveWebhook } from "./inbox";
import { refundPolicyOf, setRefundPolicy } from "./policy";
import { CheckoutSchema, RefundPolicyBody, RefundPolicySchema, ReturnUrlBody } from "./schema";

export const STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe";

const userId = (c: AppContext) => {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
};

/** Where Stripe sends buyers back: PUBLIC_URL (production) or this request's origin, plus an allowed `returnUrl`. */
export function returnBaseFor(c: AppContext, returnUrl: string | undefined): string {
  const config = c.get("config");
  return checkoutReturnBase(config.publicUrl ?? new URL(c.req.url).origin, config.corsOrigins, returnUrl);
}

const webhookRoute = createRoute({
  method: "post",
  path: STRIPE_WEBHOOK_PATH,
  tags: ["Payments"],
  summary: "Stripe webhook endpoint (signed with Stripe-Signature)",
  description:
    "Verifies the signature on the raw body (300 s tolerance), stores the event once under its id and queues it. Duplicates answer 200 too.",
  middleware: [rateLimit({ policy: "stripe-webhook", key: byIp })] as const,
  request: { headers: z.object({ "stripe-signature": z.string().max(2000).optional() }) },
  responses: {
    200: json(
      z.object({ received: z.literal(true), duplicate: z.boolean() }).openapi("WebhookReceipt"),
      "Stored (or already stored)",
    ),
    ...problems("invalid-signature", "payments-not-configured"),
  },
});

const IdParam = z.object({ id: z.string().min(1).max(64) });

const retryCheckoutRoute = createRoute({
  method: "post",
  path: "/api/v1/orders/{id}/checkout",
  tags: ["Orders"],
  summary: "A new checkout for your pending paid order (Idempotency-Key honoured)",
  description:
    "For a buyer coming back after a declined card or a closed payment page: the previous session is expired and a new one opened; the hold is extended to its lifetime.",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "orders-user", key: (c) => `user:${c.get("principal")?.id}` }),
    idempotency(),
  ] as const,
  request: { params: IdParam, body: { required: false, content: { "application/json": { schema: ReturnUrlBody } } } },
  responses: {
    201: json(CheckoutSchema, "A new Checkout Session for the order"),
    ...problems("not-found", "already-paid", "hold-expired", "payment-provider-error", "payments-not-configured"),
  },
});

const getPolicyRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/refund-policy",
  tags: ["Events"],
  summary: "The event's refund policy for attendees",
  request: { params: IdParam },
  responses: { 200: json(RefundPolicySchema, "The policy"), ...problems("not-found") },
});

const putPolicyRoute = createRoute({
  method: "put",
  path: "/api/v1/events/{id}/refund-policy",
  tags: ["Events"],
  summary: "Set the event's refund policy (owner host)",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
  ] as const,
  request: { params: IdParam, ...body(RefundPolicyBody) },
  responses: {
    200: json(RefundPolicySchema, "The policy now in force"),
    ...problems("validation-failed", ["forbidden", "not the host"], "not-found"),
  },
});

export const paymentRoutes = new OpenAPIHono<AppEnv>()
  .openapi(webhookRoute, async (c) => {
    const deps = paymentsDepsFromEnv(c.env);
    if (!deps) throw notConfigured();
    // The raw bytes Stripe signed: never re-serialised JSON.
    const raw = await c.req.text();
    const { duplicate } = await receiveWebhook(deps, raw, c.req.header("Stripe-Signature"));
    return c.json({ received: true as const, duplicate }, 200);
  })
  .openapi(retryCheckoutRoute, async (c) => {
    const deps = requirePayments(c);
    const input = (await c.req.json().catch(() => ({}))) as unknown;
    const parsed = ReturnUrlBody.safeParse(input ?? {});
    if (!parsed.success) {
      throw new DomainError("validation-failed", "The body is not valid.", {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    const result = await retryCheckout(deps, {
      userId: userId(c),
      orderId: c.req.valid("param").id,
      returnBase: returnBaseFor(c, parsed.data.returnUrl),
    });
    return c.json(
      { order: toApiOrder(result.order), checkoutUrl: result.checkoutUrl, holdExpiresAt: result.holdExpiresAt },
      201,
    );
  })
  .openapi(getPolicyRoute, async (c) => {
    const id = c.req.valid("param").id;
    const event = await c.env.DB.prepare("SELECT status FROM events WHERE id = ?").bind(id).first<{ status: string }>();
    if (!event || event.status === "draft") throw new DomainError("not-found", "No such event.");
    const fallback = c.get("config").payments?.refundCutoffHours ?? LIMITS.refundCutoffHours;
    return c.json(await refundPolicyOf(c.env.DB, id, fallback), 200);
  })
  .openapi(putPolicyRoute, async (c) => {
    const principal = c.get("principal");
    if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
    const policy = await setRefundPolicy(
      eventsDeps(c),
      { id: principal.id, roles: principal.roles },
      c.req.valid("param").id,
      c.req.valid("json"),
    );
    return c.json(policy, 200);
  });
