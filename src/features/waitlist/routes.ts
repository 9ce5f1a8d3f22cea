/**
 * HTTP for the waitlist (API "Integrations"): join and leave a sold-out event's line, list one's
 * entries, accept or decline an offer (accepting is an order: Idempotency-Key honoured), and the host's
 * view and settings of their event's line.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { idempotency } from "../../http/idempotency";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { caller, eventsDeps, hostWrite, IdParam } from "../events";
import type { Buyer } from "../orders";
import { CheckoutSchema, paymentsDepsFromEnv, ReturnUrlBody, returnBaseFor } from "../payments";
import * as waitlist from "./service";

const tags = ["Waitlist"];

const STATUSES = ["waiting", "offered", "accepted", "declined", "expired", "left"] as const;

const PositionSchema = z
  .object({
    position: z.number().int().openapi({ description: "Your place in line among those still waiting: 1 is next." }),
  })
  .openapi("WaitlistPosition");

const MyEntrySchema = z
  .object({
    event: z.object({ id: z.string(), title: z.string(), startsAt: z.string() }),
    position: z.number().int().nullable().openapi({ description: "While waiting: your place in line (1 is next)." }),
    status: z.enum(STATUSES),
    offerId: z.string().nullable().openapi({ description: "While offered: accept or decline it by this id." }),
    offerExpiresAt: z.string().nullable().openapi({ description: "While offered: the ticket is held until then." }),
    orderId: z.string().nullable().openapi({ description: "Once accepted: the order the offer became." }),
  })
  .openapi("WaitlistEntry");

const SummarySchema = z
  .object({
    waiting: z.number().int().openapi({ description: "People in line, not yet offered a ticket." }),
    offered: z.number().int().openapi({ description: "Open offers (each holds one ticket)." }),
    paused: z.boolean(),
    offerWindowHours: z.number().int(),
  })
  .openapi("WaitlistSummary");

const OrderSchema = z
  .object({
    id: z.string(),
    eventId: z.string(),
    status: z.string(),
    quantity: z.number().int(),
    amount: z.number().int(),
    currency: z.string(),
    createdAt: z.string(),
  })
  .openapi("WaitlistOrder");
const AcceptedFreeSchema = z
  .object({
    order: OrderSchema,
    tickets: z.array(z.object({ id: z.string(), eventId: z.string(), serial: z.number().int(), status: z.string() })),
  })
  .openapi("WaitlistAccepted");

const OfferParam = z.object({ id: z.string().min(1).max(64) });

const joinRoute = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/waitlist",
  tags,
  summary: "Join a sold-out event's waitlist (one ticket)",
  description:
    "Only while the event is on sale and sold out (unpaid holds count: if they lapse, the line gets them first), once at a time, within the event's per-user limit. When a ticket frees, the first in line is emailed an offer that holds it for the event's offer window, or until sales end if they end sooner.",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    201: json(PositionSchema, "In line"),
    ...problems(
      "not-found",
      ["not-sold-out", "tickets remain: order one instead"],
      ["already-waiting", "already in line, or holding an offer"],
      "already-registered",
      "limit-exceeded",
      "not-on-sale",
      "event-started",
      ["unavailable", "the event's inventory did not answer in time: retry"],
    ),
  },
});

const leaveRoute = createRoute({
  method: "delete",
  path: "/api/v1/events/{id}/waitlist",
  tags,
  summary: "Leave the event's waitlist (an open offer is declined)",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    204: { description: "Left (or the entry had already ended)" },
    ...problems(["not-found", "not on this event's waitlist"]),
  },
});

const mineRoute = createRoute({
  method: "get",
  path: "/api/v1/me/waitlist",
  tags: ["Me"],
  summary: "Your waitlist entries, newest change first",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  responses: {
    200: json(z.object({ items: z.array(MyEntrySchema) }).openapi("MyWaitlist"), "Entries"),
  },
});

const acceptRoute = createRoute({
  method: "post",
  path: "/api/v1/waitlist/offers/{id}/accept",
  tags,
  summary: "Accept your offer within its window (Idempotency-Key honoured)",
  description:
    "Free: the held ticket is yours (201 { order, tickets }). Paid: 201 { order, checkoutUrl, holdExpiresAt }, the ticket held for the checkout's lifetime. No waiting-room pass is needed: the offer is the admission.",
  security: [{ bearer: [] }],
  middleware: [
    requireAuth({ kind: "user" }),
    rateLimit({ policy: "orders-user", key: (c) => `user:${c.get("principal")?.id}` }),
    idempotency(),
  ] as const,
  request: {
    params: OfferParam,
    body: { required: false, content: { "application/json": { schema: ReturnUrlBody } } },
  },
  responses: {
    201: json(z.union([AcceptedFreeSchema, CheckoutSchema]), "The order (free) or its checkout (paid)"),
    ...problems(
      ["not-found", "also for another user's offer"],
      ["offer-expired", "the window passed: the ticket went to the next in line"],
      ["invalid-transition", "the offer was declined"],
      "not-on-sale",
      "event-started",
      "rate-limited",
      ["payment-provider-error", "retry with the same Idempotency-Key"],
      "payments-not-configured",
      ["unavailable", "the event's inventory did not answer in time: retry with the same Idempotency-Key"],
    ),
  },
});

const declineRoute = createRoute({
  method: "post",
  path: "/api/v1/waitlist/offers/{id}/decline",
  tags,
  summary: "Decline your offer: the ticket goes to the next in line",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: OfferParam },
  responses: {
    204: { description: "Declined (or the offer had already ended)" },
    ...problems(["not-found", "also for another user's offer"], ["invalid-transition", "already accepted"]),
  },
});

const hostViewRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/waitlist",
  tags,
  summary: "Your event's waitlist: its length, open offers and settings (host)",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    200: json(SummarySchema, "The waitlist"),
    ...problems(["forbidden", "not the host"], "not-found"),
  },
});

const hostSettingsRoute = createRoute({
  method: "patch",
  path: "/api/v1/events/{id}/waitlist",
  tags,
  summary: "Pause or resume your event's waitlist, or set its offer window (host)",
  description:
    "Paused: no new offers (open ones run their course) and freed tickets go on sale as usual; people may still join. Resuming offers what is free at once. A new window applies to offers made from then on; an offer never outlasts the sale.",
  security: [{ bearer: [] }],
  middleware: hostWrite(),
  request: {
    params: IdParam,
    ...body(
      z
        .object({
          paused: z.boolean().optional(),
          offerWindowHours: z
            .number()
            .int()
            .min(LIMITS.waitlistOfferWindowHoursMin)
            .max(LIMITS.waitlistOfferWindowHoursMax)
            .optional(),
        })
        .strict()
        .openapi("WaitlistSettings"),
    ),
  },
  responses: {
    200: json(SummarySchema, "The waitlist after the change"),
    ...problems(["forbidden", "not the host"], "not-found"),
  },
});

/** The signed-in user as the session check read them: id, address and name (for the offer email). */
function buyerOf(c: AppContext): Buyer {
  const principal = c.get("principal");
  const email = principal?.claims?.email;
  const name = principal?.claims?.name;
  if (principal?.kind !== "user" || typeof email !== "string" || typeof name !== "string") {
    throw new DomainError("unauthorized", "Sign in to continue.");
  }
  return { id: principal.id, email, name };
}

export const waitlistRoutes = new OpenAPIHono<AppEnv>()
  .openapi(joinRoute, async (c) =>
    c.json(await waitlist.joinWaitlist(eventsDeps(c), buyerOf(c), c.req.valid("param").id), 201),
  )
  .openapi(leaveRoute, async (c) => {
    await waitlist.leaveWaitlist(eventsDeps(c), caller(c).id, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(mineRoute, async (c) => c.json(await waitlist.myWaitlist(c.env.DB, caller(c).id), 200))
  .openapi(acceptRoute, async (c) => {
    const input = (await c.req.json().catch(() => ({}))) as unknown;
    const parsed = ReturnUrlBody.safeParse(input ?? {});
    if (!parsed.success) {
      throw new DomainError("validation-failed", "The body is not valid.", {
        errors: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
      });
    }
    const result = await waitlist.acceptOffer(
      eventsDeps(c),
      paymentsDepsFromEnv(c.env),
      buyerOf(c),
      c.req.valid("param").id,
      returnBaseFor(c, parsed.data.returnUrl),
    );
    return c.json(result, 201);
  })
  .openapi(declineRoute, async (c) => {
    await waitlist.declineOffer(eventsDeps(c), caller(c).id, c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(hostViewRoute, async (c) =>
    c.json(await waitlist.hostWaitlist(eventsDeps(c), caller(c), c.req.valid("param").id), 200),
  )
  .openapi(hostSettingsRoute, async (c) =>
    c.json(
      await waitlist.configureWaitlist(eventsDeps(c), caller(c), c.req.valid("param").id, c.req.valid("json")),
      200,
    ),
  );
