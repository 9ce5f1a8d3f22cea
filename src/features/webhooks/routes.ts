/**
 * HTTP for a host's webhook endpoints (the contract's "Integrations" section): create, list, read,
 * edit, delete, rotate the secret, the delivery log, replay and the test ping. Hosts only, signed in:
 * an API key never manages endpoints (the auth hook keeps a key away from a route that names no scope,
 * src/http/auth). Every write spends the host's `dashboard-write` budget: a replay or a ping makes
 * an outbound request, which must not become a request cannon. Rules live in ./endpoints.ts and
 * ./manual.ts; this file is routes and OpenAPI only.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { getConfig } from "../../config";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { WEBHOOK_EVENT_TYPES } from "../../db/schema-integrations";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { MAX_URL_LENGTH } from "../../lib/safe-url";
import type { EmailQueue } from "../email";
import type { DeliveryDeps } from "./delivery";
import {
  createEndpoint,
  deleteEndpoint,
  type EndpointsDeps,
  getEndpoint,
  listDeliveries,
  listEndpoints,
  rotateSecret,
  updateEndpoint,
} from "./endpoints";
import { pingEndpoint, replayDelivery } from "./manual";

const tags = ["Webhooks"];
const security = [{ bearer: [] }];
const BASE = "/api/v1/me/webhook-endpoints";

/** The signed-in host's id; 403 for a user who is not a host. */
function hostId(c: AppContext): string {
  const principal = c.get("principal");
  if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
  if (!principal.roles.includes("host")) {
    throw new DomainError("forbidden", "Become a host to send webhooks (POST /api/v1/me/host).");
  }
  return principal.id;
}

export function endpointsDeps(c: AppContext): EndpointsDeps {
  return { db: c.env.DB, allowLoopback: c.get("config").outgoingAllowLoopback, pii: c.get("config").pii };
}

export function deliveryDeps(c: AppContext): DeliveryDeps {
  return { db: c.env.DB, config: getConfig(c.env), emailQueue: c.env.EMAIL_QUEUE as EmailQueue };
}

const writeLimit = rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` });
const signedIn = requireAuth({ kind: "user" });

const EventType = z.enum(WEBHOOK_EVENT_TYPES);
// The raw URL may be long; endpoints.ts refuses more than 2,048 characters with invalid-url and its reason.
const Url = z
  .string()
  .max(MAX_URL_LENGTH * 4)
  .openapi({ description: "http(s), at most 2,048 characters, never an internal host or address" });
const Events = z
  .array(EventType)
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .openapi({ description: "The event types this endpoint receives (each once; repeats are dropped)" });
const Description = z.string().trim().max(500);

const EndpointSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    description: z.string().nullable(),
    events: z.array(EventType),
    enabled: z.boolean(),
    disabledReason: z
      .string()
      .nullable()
      .openapi({ description: "`failing` (by Gatehouse after 5 days of failures) or `host`; null while enabled" }),
    failingSince: z.string().nullable().openapi({ description: "First failure of the current run of failures" }),
    previousSecretExpiresAt: z
      .string()
      .nullable()
      .openapi({ description: "After a rotation: until when the previous secret signs too" }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("WebhookEndpoint");

const WithSecretSchema = EndpointSchema.extend({
  secret: z.string().openapi({ description: "`whsec_<base64>`: shown this once; sign-checking key" }),
}).openapi("WebhookEndpointWithSecret");

const DeliverySchema = z
  .object({
    id: z.string(),
    eventId: z.string().openapi({ description: "The `webhook-id` header of every attempt" }),
    type: z.string(),
    status: z.enum(["pending", "succeeded", "failed"]),
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastLatencyMs: z.number().int().nullable(),
    lastError: z.string().nullable(),
    responseSnippet: z.string().nullable().openapi({ description: "The first 1,024 characters of the last answer" }),
    nextAttemptAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("WebhookDelivery");

const CreateBody = z
  .object({ url: Url, events: Events, description: Description.optional() })
  // No secret, no enabled: the secret is ours to generate and an endpoint starts enabled.
  .strict()
  .openapi("CreateWebhookEndpoint");

const EditBody = z
  .object({
    url: Url.optional(),
    events: Events.optional(),
    description: Description.nullable().optional(),
    enabled: z.boolean().optional(),
  })
  // No secret: rotate-secret replaces it. Re-enabling clears the failing run.
  .strict()
  .openapi("EditWebhookEndpoint");

const IdParam = z.object({ id: z.string().min(1).max(64) });
const DeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});

const createEndpointRoute = createRoute({
  method: "post",
  path: BASE,
  tags,
  summary: "Add a webhook endpoint; its signing secret is shown this once",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: body(CreateBody),
  responses: {
    201: json(WithSecretSchema, "The endpoint with its secret"),
    ...problems(
      "validation-failed",
      "unauthorized",
      ["forbidden", "not a host"],
      ["insufficient-scope", "an API key: endpoints are managed signed in"],
      ["invalid-url", "not http(s), too long, credentials, or an internal host (the reason member says which)"],
      ["too-many-webhook-endpoints", `the host has ${LIMITS.webhookEndpointsPerHost} already`],
      "rate-limited",
    ),
  },
});

const listRoute = createRoute({
  method: "get",
  path: BASE,
  tags,
  summary: "Your webhook endpoints, oldest first",
  security,
  middleware: [signedIn] as const,
  responses: {
    200: json(z.object({ items: z.array(EndpointSchema) }), "The endpoints"),
    ...problems("unauthorized", "forbidden", "insufficient-scope"),
  },
});

const getRoute = createRoute({
  method: "get",
  path: `${BASE}/{id}`,
  tags,
  summary: "One of your webhook endpoints",
  security,
  middleware: [signedIn] as const,
  request: { params: IdParam },
  responses: {
    200: json(EndpointSchema, "The endpoint"),
    ...problems("validation-failed", "unauthorized", "forbidden", "insufficient-scope", "not-found"),
  },
});

const editRoute = createRoute({
  method: "patch",
  path: `${BASE}/{id}`,
  tags,
  summary: "Edit the URL, events, description or enabled (enabling clears the failing run)",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: { params: IdParam, ...body(EditBody) },
  responses: {
    200: json(EndpointSchema, "The endpoint"),
    ...problems(
      "validation-failed",
      "unauthorized",
      "forbidden",
      "insufficient-scope",
      "not-found",
      "invalid-url",
      "rate-limited",
    ),
  },
});

const deleteRoute = createRoute({
  method: "delete",
  path: `${BASE}/{id}`,
  tags,
  summary: "Delete the endpoint with its delivery log",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: { params: IdParam },
  responses: {
    204: { description: "Deleted" },
    ...problems("validation-failed", "unauthorized", "forbidden", "insufficient-scope", "not-found", "rate-limited"),
  },
});

const rotateRoute = createRoute({
  method: "post",
  path: `${BASE}/{id}/rotate-secret`,
  tags,
  summary: "A new signing secret, shown this once; the previous one keeps signing too for 24 h",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: { params: IdParam },
  responses: {
    200: json(WithSecretSchema, "The endpoint with its new secret"),
    ...problems("validation-failed", "unauthorized", "forbidden", "insufficient-scope", "not-found", "rate-limited"),
  },
});

const deliveriesRoute = createRoute({
  method: "get",
  path: `${BASE}/{id}/deliveries`,
  tags,
  summary: "The endpoint's delivery log, newest first",
  security,
  middleware: [signedIn] as const,
  request: { params: IdParam, query: DeliveriesQuery },
  responses: {
    200: json(z.object({ items: z.array(DeliverySchema), nextCursor: z.string().nullable() }), "A page of deliveries"),
    ...problems("validation-failed", "unauthorized", "forbidden", "insufficient-scope", "not-found"),
  },
});

const replayRoute = createRoute({
  method: "post",
  path: `${BASE}/deliveries/{id}/replay`,
  tags,
  summary: "Attempt a delivery again now (same webhook-id and body); answers the delivery after it",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: { params: IdParam },
  responses: {
    200: json(DeliverySchema, "The delivery, with this attempt's outcome"),
    ...problems(
      "validation-failed",
      "unauthorized",
      "forbidden",
      "insufficient-scope",
      "not-found",
      ["invalid-transition", "the endpoint is disabled"],
      "rate-limited",
    ),
  },
});

const testRoute = createRoute({
  method: "post",
  path: `${BASE}/{id}/test`,
  tags,
  summary: "Send a `webhook.test` ping to this endpoint only; answers its delivery",
  security,
  middleware: [signedIn, writeLimit] as const,
  request: { params: IdParam },
  responses: {
    200: json(DeliverySchema, "The ping's delivery: succeeded, or failed with what the endpoint answered"),
    ...problems(
      "validation-failed",
      "unauthorized",
      "forbidden",
      "insufficient-scope",
      "not-found",
      ["invalid-transition", "the endpoint is disabled"],
      "rate-limited",
    ),
  },
});

const noStore = (c: AppContext) => c.header("Cache-Control", "private, no-store");

const routes = new OpenAPIHono<AppEnv>();

export const webhookEndpointRoutes = routes
  .openapi(createEndpointRoute, async (c) => {
    const { endpoint, secret } = await createEndpoint(endpointsDeps(c), hostId(c), c.req.valid("json"));
    noStore(c);
    return c.json({ ...endpoint, secret }, 201);
  })
  .openapi(listRoute, async (c) => {
    noStore(c);
    return c.json({ items: await listEndpoints(c.env.DB, hostId(c)) }, 200);
  })
  .openapi(getRoute, async (c) => {
    noStore(c);
    return c.json(await getEndpoint(c.env.DB, hostId(c), c.req.valid("param").id), 200);
  })
  .openapi(editRoute, async (c) =>
    c.json(await updateEndpoint(endpointsDeps(c), hostId(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(deleteRoute, async (c) => {
    await deleteEndpoint(c.env.DB, hostId(c), c.req.valid("param").id);
    return c.body(null, 204);
  })
  .openapi(deliveriesRoute, async (c) => {
    noStore(c);
    return c.json(await listDeliveries(c.env.DB, hostId(c), c.req.valid("param").id, c.req.valid("query")), 200);
  })
  // The contract's three POST actions (rotate-secret, test, deliveries/:id/replay) put a static segment
  // (`deliveries`) beside a parameter (`:id`) under one method, which Hono's RegExpRouter cannot
  // compile: the whole app would fall back to the slower TrieRouter (test/http/router.test.ts). They
  // are routed by two parameter-only shapes instead and dispatched here; their OpenAPI entries are the
  // contract's paths, registered below.
  .post(`${BASE}/:id/:action`, signedIn, writeLimit, async (c) => {
    const id = endpointId(c.req.param("id"));
    switch (c.req.param("action")) {
      case "rotate-secret": {
        const { endpoint, secret } = await rotateSecret(endpointsDeps(c), hostId(c), id);
        noStore(c);
        return c.json({ ...endpoint, secret }, 200);
      }
      case "test":
        return c.json(await pingEndpoint(deliveryDeps(c), hostId(c), id), 200);
      default:
        throw noRoute(c);
    }
  })
  .post(`${BASE}/:scope/:id/:action`, signedIn, writeLimit, async (c) => {
    if (c.req.param("scope") !== "deliveries" || c.req.param("action") !== "replay") throw noRoute(c);
    return c.json(await replayDelivery(deliveryDeps(c), hostId(c), endpointId(c.req.param("id"))), 200);
  });

for (const route of [rotateRoute, testRoute, replayRoute]) {
  const { middleware: _runtimeOnly, ...documented } = route;
  routes.openAPIRegistry.registerPath(documented);
}

/** The id parameter, checked as the documented routes' IdParam would (validation-failed otherwise). */
function endpointId(raw: string | undefined): string {
  const parsed = IdParam.safeParse({ id: raw });
  if (!parsed.success) {
    throw new DomainError("validation-failed", "The id in the path is not valid.", {
      errors: [{ path: "id", message: "1–64 characters" }],
    });
  }
  return parsed.data.id;
}

const noRoute = (c: AppContext) => new DomainError("not-found", `No route for ${c.req.method} ${c.req.path}.`);
