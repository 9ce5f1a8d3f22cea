/**
 * HTTP for orders and tickets: claim tickets (free, or paid through Stripe Checkout), read, cancel and
 * refund one's orders, list one's tickets.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS, type RatePolicyName } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { eventsDeps } from "../events";
import {
  CheckoutSchema,
  orderIdFor,
  paymentsDepsFromEnv,
  RefundResultSchema,
  ReturnUrlBody,
  requestRefund,
  requirePayments,
  retryCheckout,
  returnBaseFor,
} from "../payments";
import { verifyQueuePass } from "../queue";
import * as orders from "./service";
import { settleOwnOrders } from "./settle";

const OrderSchema = z
  .object({
    id: z.string(),
    eventId: z.string(),
    status: z.string(),
    quantity: z.number().int(),
    amount: z.number().int(),
    currency: z.string(),
    createdAt: z.string(),
    holdExpiresAt: z.string().nullable().optional(),
  })
  .openapi("Order");
const TicketSchema = z
  .object({ id: z.string(), eventId: z.string(), serial: z.number().int(), status: z.string() })
  .openapi("Ticket");
const OrderWithTicketsSchema = z
  .object({ order: OrderSchema, tickets: z.array(TicketSchema) })
  .openapi("OrderWithTickets");
const MyTicketSchema = z
  .object({
    id: z.string(),
    serial: z.number().int(),
    status: z.string(),
    redeemedAt: z.string().nullable(),
    event: z.object({
      id: z.string(),
      title: z.string(),
      startsAt: z.string(),
      venue: z.object({ name: z.string(), address: z.string(), lat: z.number(), lng: z.number() }),
    }),
  })
  .openapi("MyTicket");

const userId = (c: AppContext) => {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  return principal.id;
};

/** The signed-in buyer as the session check read them: id, address and name. */
function buyerOf(c: AppContext): orders.Buyer {
  const principal = c.get("principal");
  const email = principal?.claims?.email;
  const name = principal?.claims?.name;
  if (principal?.kind !== "user" || typeof email !== "string" || typeof name !== "string") {
    throw new DomainError("unauthorized", "Sign in to continue.");
  }
  return { id: principal.id, email, name };
}

const ORDER_PATH = /^\/api\/v1\/events\/([^/]+)\/orders$/;

/**
 * Per-address policies a request takes besides `api`, with it in one call to the address's limiter
 * object (src/app.ts): ordering's `orders-ip`. Taken before authentication, so attempts that turn
 * out unauthenticated count against the address too.
 */
export function addressPolicies(c: AppContext): readonly RatePolicyName[] {
  return c.req.method === "POST" && ORDER_PATH.test(c.req.path) ? ["orders-ip"] : [];
}

const RETRY_CHECKOUT_PATH = /^\/api\/v1\/orders\/[^/]+\/checkout$/;

/** The web page's order form (src/web/pages/attendee/event.tsx), which places orders too. */
const ORDER_FORM_PATH = /^\/e\/([^/]+)\/order$/;

/**
 * The event a request may place an order at: the API's order route and the event page's form. Named
 * in the session check, so the buyer's reads right after wait for that event's push (settle.ts).
 */
export function orderingEvent(c: AppContext): string | undefined {
  if (c.req.method !== "POST") return undefined;
  const path = c.req.path;
  const id = ORDER_PATH.exec(path)?.[1] ?? ORDER_FORM_PATH.exec(path)?.[1];
  // Only what could be an event id (randomId's alphabet): a made-up segment names no object to wait on.
  return id && EVENT_ID.test(id) ? id : undefined;
}

const EVENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The user-keyed policies a request takes with its session check, in the same call to the user's
 * shard object (src/features/auth/authenticators.ts): ordering's `orders-user`. The route's own
 * rateLimit() then answers from that decision without a second call.
 */
export function userPolicies(c: AppContext): readonly RatePolicyName[] {
  if (c.req.method !== "POST") return [];
  return ORDER_PATH.test(c.req.path) || RETRY_CHECKOUT_PATH.test(c.req.path) ? ["orders-user"] : [];
}

const createOrderRoute = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/orders",
  tags: ["Orders"],
  summary: "Claim tickets (Idempotency-Key honoured)",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "orders-user", key: (c) => `user:${c.get("principal")?.id}` }),
    // orders-ip (per address) is taken with `api`, in the same limiter call: see addressPolicies.
    idempotency(),
  ] as const,
  request: {
    params: z.object({ id: z.string().min(1).max(64) }),
    // The waiting room's pass (POST /api/v1/events/{id}/queue); anything but a live pass of ours for
    // this buyer and event counts as none.
    headers: z.object({ "queue-pass": z.string().max(512).optional() }),
    ...body(
      z
        .object({
          quantity: z.number().int().min(1).max(LIMITS.perUserTicketsMax),
          // Paid events: where Stripe sends the buyer back (this site or an allowed front-end origin).
          returnUrl: z.string().max(2048).optional(),
        })
        .openapi("CreateOrder"),
    ),
  },
  responses: {
    201: json(
      z.union([OrderWithTicketsSchema, CheckoutSchema]),
      "Free: the confirmed order with its tickets. Paid: the held order and its Stripe Checkout URL.",
    ),
    ...problems(
      "not-found",
      "sold-out",
      "limit-exceeded",
      "already-registered",
      ["invalid-transition", "the event's price changed meanwhile: retry"],
      "not-on-sale",
      "event-started",
      "rate-limited",
      ["payment-provider-error", "retry with the same Idempotency-Key"],
      "payments-not-configured",
      ["queue-pass-required", "the event's waiting room is on: join it, then send its pass as Queue-Pass"],
      [
        "unavailable",
        "the event's inventory is overloaded or did not answer in time: retry with the same Idempotency-Key",
      ],
    ),
  },
});

const OrderIdParam = z.object({ id: z.string().min(1).max(64) });

const getOrderRoute = createRoute({
  method: "get",
  path: "/api/v1/orders/{id}",
  tags: ["Orders"],
  summary: "One of your orders",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: OrderIdParam },
  responses: {
    200: json(OrderWithTicketsSchema, "The order"),
    ...problems(["not-found", "also for others' orders"]),
  },
});

const cancelOrderRoute = createRoute({
  method: "post",
  path: "/api/v1/orders/{id}/cancel",
  tags: ["Orders"],
  summary: "Cancel your order: releases a hold, or gives back free tickets",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: OrderIdParam },
  responses: {
    200: json(OrderWithTicketsSchema, "The order after cancelling"),
    ...problems("not-found", "already-paid"),
  },
});

const refundOrderRoute = createRoute({
  method: "post",
  path: "/api/v1/orders/{id}/refund",
  tags: ["Orders"],
  summary: "Ask for a refund of your paid order, under the event's refund policy",
  description:
    "Default policy: allowed until 48 h before the start (see GET /api/v1/events/{id}/refund-policy). Refused (409 invalid-transition) once a ticket of the order was used at the gate; otherwise the tickets stop being admissible at once (refunding) and are voided when the money goes back from the payments queue.",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" }), idempotency()] as const,
  request: { params: OrderIdParam },
  responses: {
    202: json(RefundResultSchema, "Refund on its way"),
    ...problems(
      "not-found",
      ["invalid-transition", "not paid and confirmed, or a ticket was used"],
      ["conflict", "payment still recording"],
      "refund-not-allowed",
      "payments-not-configured",
    ),
  },
});

const myTicketsRoute = createRoute({
  method: "get",
  path: "/api/v1/me/tickets",
  tags: ["Me"],
  summary: "Your tickets with their events",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(50),
      cursor: z.string().max(200).optional(),
    }),
  },
  responses: {
    200: json(
      z.object({ items: z.array(MyTicketSchema), nextCursor: z.string().nullable() }).openapi("MyTickets"),
      "Tickets",
    ),
  },
});

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
  request: {
    params: OrderIdParam,
    body: { required: false, content: { "application/json": { schema: ReturnUrlBody } } },
  },
  responses: {
    201: json(CheckoutSchema, "A new Checkout Session for the order"),
    ...problems("not-found", "already-paid", "hold-expired", "payment-provider-error", "payments-not-configured"),
  },
});

export const orderRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createOrderRoute, async (c) => {
    // The session check already read the account (one query for both): no second read here.
    const user = buyerOf(c);
    const { quantity, returnUrl } = c.req.valid("json");
    const eventId = c.req.valid("param").id;
    const key = c.req.header("Idempotency-Key");
    // Verified here, with no object call; whether the event's queue needs it is the service's and the
    // object's to judge.
    const queuePass = await verifyQueuePass(c.get("config").jwtKeys, c.req.valid("header")["queue-pass"], {
      eventId,
      userId: user.id,
      now: Date.now(),
    });
    const result = await orders.createOrder(eventsDeps(c), user, eventId, quantity, {
      payments: paymentsDepsFromEnv(c.env),
      orderId: key ? await orderIdFor(c.get("config").hashPepper, user.id, eventId, key) : null,
      returnBase: returnBaseFor(c, returnUrl),
      queuePass,
    });
    // The buyer's in-app notice of a confirmed order is written with the order itself, by the event
    // object's push (durable-objects/event-inventory/projection.ts).
    return c.json(result, 201);
  })
  .openapi(getOrderRoute, async (c) => {
    await settleOwnOrders(c);
    return c.json(await orders.getOrder(eventsDeps(c), userId(c), c.req.valid("param").id), 200);
  })
  .openapi(cancelOrderRoute, async (c) => {
    await settleOwnOrders(c);
    return c.json(
      await orders.cancelOrder(eventsDeps(c), userId(c), c.req.valid("param").id, paymentsDepsFromEnv(c.env)),
      200,
    );
  })
  .openapi(refundOrderRoute, async (c) => {
    const result = await requestRefund(requirePayments(c), userId(c), c.req.valid("param").id);
    return c.json(
      {
        order: orders.toApiOrder(result.order),
        tickets: result.tickets.map(orders.toApiTicket),
        refund: result.refund,
      },
      202,
    );
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
      { order: orders.toApiOrder(result.order), checkoutUrl: result.checkoutUrl, holdExpiresAt: result.holdExpiresAt },
      201,
    );
  })
  .openapi(myTicketsRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    await settleOwnOrders(c);
    return c.json(await orders.myTickets(c.env.DB, userId(c), limit, cursor), 200);
  });
