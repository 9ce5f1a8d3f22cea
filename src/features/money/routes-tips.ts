/**
 * HTTP for tips (the contract's "Money for hosts and creators"): tip a creator, list one's tips, and
 * refund one. A tip moves money, so its POST requires a client Idempotency-Key: without one the route
 * answers 428 `idempotency-key-required` (RFC 6585 §3: the server requires the request to be
 * conditional) before anything is read; with one, the idempotency middleware replays a finished
 * request and the tip row itself is keyed by (fan, key), so a retry from another address lands on the
 * same tip and the same Stripe session. Rules live in tips.ts.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { TIP_CURRENCIES, TIP_MESSAGE_MAX } from "../../config/tips";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { IDEMPOTENCY_HEADER, idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { byIp, rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { requirePayments, returnBaseFor } from "../payments";
import { createTip, listTips, requestTipRefund } from "./tips";

const tags = ["Money"];

/** 428 before anything runs when the client sent no Idempotency-Key (a tip is never created keyless). */
function requireIdempotencyKey(): MiddlewareHandler<AppEnv> {
  return async function requireIdempotencyKey(c, next) {
    if (c.req.header(IDEMPOTENCY_HEADER) === undefined) {
      throw new DomainError(
        "idempotency-key-required",
        "Send an Idempotency-Key header (a fresh random value per tip; the same one when retrying).",
      );
    }
    await next();
  };
}

const TipBody = z
  .object({
    amount: z.number().int().positive().openapi({ description: "Minor units of `currency` (JPY has none)" }),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/)
      .openapi({ description: `ISO 4217; one of ${TIP_CURRENCIES.join(", ")}` }),
    message: z
      .string()
      .max(TIP_MESSAGE_MAX * 4)
      .optional()
      .openapi({ description: `Plain text, at most ${TIP_MESSAGE_MAX} characters once normalised` }),
    email: z.string().email().max(254).optional().openapi({ description: "Required when not signed in (receipt)" }),
  })
  .openapi("TipRequest");

const createTipRoute = createRoute({
  method: "post",
  path: "/api/v1/profiles/{handle}/tips",
  tags,
  summary: "Tip a creator (Idempotency-Key required): a Stripe Checkout URL",
  description:
    "Signed in, or as a guest with an email. The amount must lie within the currency's bounds (at least the larger of 0.30 USD's equivalent and Stripe's minimum charge, at most 500 USD's equivalent), checked before Stripe is called.",
  middleware: [requireIdempotencyKey(), rateLimit({ policy: "orders-ip", key: byIp }), idempotency()] as const,
  request: {
    params: z.object({ handle: z.string().min(1).max(64) }),
    headers: z.object({ "idempotency-key": z.string().max(255).optional() }),
    ...body(TipBody),
  },
  responses: {
    201: json(z.object({ tipId: z.string(), checkoutUrl: z.string().url() }).openapi("TipCheckout"), "Pay there"),
    ...problems(
      ["validation-failed", "a guest without email, an unknown currency, a message too long"],
      ["idempotency-key-required", "no Idempotency-Key header"],
      ["amount-out-of-range", "carries currency, min and max (minor units)"],
      "not-found",
      ["cannot-receive-tips", "the creator's payout account cannot take charges"],
      "rate-limited",
      ["payment-provider-error", "retry with the same Idempotency-Key"],
      "payments-not-configured",
    ),
  },
});

const TipItemSchema = z
  .object({
    id: z.string(),
    amount: z.number().int(),
    currency: z.string(),
    status: z.enum(["pending", "succeeded", "failed", "refunded", "partially_refunded", "disputed"]),
    refundedAmount: z.number().int(),
    message: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi("Tip");

const listRoute = createRoute({
  method: "get",
  path: "/api/v1/me/tips",
  tags,
  summary: "The caller's tips, received or sent, newest first",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: {
    query: z.object({
      direction: z.enum(["received", "sent"]).default("received"),
      limit: z.coerce.number().int().min(1).max(100).default(20),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(TipItemSchema), nextCursor: z.string().nullable() }).openapi("TipList"),
      "A page",
    ),
    ...problems("validation-failed"),
  },
});

const refundRoute = createRoute({
  method: "post",
  path: "/api/v1/tips/{id}/refund",
  tags,
  summary: "Refund a tip (its recipient, or an admin): queued, the transfer and fee taken back",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
  ] as const,
  request: { params: z.object({ id: z.string().min(1).max(64) }) },
  responses: {
    202: json(z.object({ status: z.literal("refund-queued") }).openapi("TipRefundQueued"), "Queued"),
    ...problems(
      "not-found",
      ["invalid-transition", "the tip is not paid, or already refunded"],
      "payments-not-configured",
    ),
  },
});

function principalOf(c: AppContext) {
  const principal = c.get("principal");
  return principal?.kind === "user" ? principal : null;
}

export const tipRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createTipRoute, async (c) => {
    const deps = requirePayments(c);
    const input = c.req.valid("json");
    const principal = principalOf(c);
    const result = await createTip(deps, {
      handle: c.req.valid("param").handle,
      amount: input.amount,
      currency: input.currency,
      message: input.message,
      email: input.email,
      sender: principal ? { id: principal.id } : null,
      clientKey: c.req.header(IDEMPOTENCY_HEADER) ?? "",
      returnBase: returnBaseFor(c, undefined),
    });
    return c.json(result, 201);
  })
  .openapi(listRoute, async (c) => {
    const principal = principalOf(c);
    if (!principal) throw new DomainError("unauthorized", "Sign in to continue.");
    return c.json(await listTips(c.env.DB, c.get("config").pii, principal.id, c.req.valid("query")), 200);
  })
  .openapi(refundRoute, async (c) => {
    const principal = principalOf(c);
    if (!principal) throw new DomainError("unauthorized", "Sign in to continue.");
    const deps = requirePayments(c);
    await requestTipRefund(
      deps,
      { id: principal.id, admin: principal.roles.includes("admin") },
      c.req.valid("param").id,
    );
    return c.json({ status: "refund-queued" as const }, 202);
  });
