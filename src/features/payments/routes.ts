/**
 * HTTP for payments: the Stripe webhook inbox and an event's refund policy. Order creation, a new
 * checkout for a pending order and refund requests live with the orders routes.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { eventsDeps } from "../events";
import { notConfigured, paymentsDepsFromEnv } from "./deps";
import { receiveWebhook } from "./inbox";
import { refundPolicyOf, setRefundPolicy } from "./policy";
import { RefundPolicyBody, RefundPolicySchema } from "./schema";

export const STRIPE_WEBHOOK_PATH = "/api/v1/webhooks/stripe";

const _userId = (c: AppContext) => {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
};

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
