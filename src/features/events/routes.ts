/** HTTP for events: host lifecycle (create, edit, publish, cancel), public reads, host analytics. */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { LIMITS } from "../../config/limits";
import type { AppEnv } from "../../context";
import { acceptScope, requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { CACHE_HEADER } from "../../lib/edge-cache";
import { eventAnalytics } from "./analytics";
import { caller, eventsDeps, hostWrite, IdParam, tags, transition } from "./http";
import { listEvents } from "./listing";
import { NearbyListSchema, NearbyQuery, nearbyByPath } from "./nearby";
import { CreateEventBody, EventListSchema, EventSchema, ListEventsQuery, UpdateEventBody } from "./schema";
import * as events from "./service";

export { eventsDeps };

const createEventRoute = createRoute({
  method: "post",
  path: "/api/v1/events",
  tags,
  summary: "Create an event (draft)",
  security: [{ bearer: [] }],
  middleware: hostWrite(),
  request: body(CreateEventBody),
  responses: {
    201: json(EventSchema, "The event"),
    ...problems(
      "validation-failed",
      ["forbidden", "not a host"],
      ["insufficient-scope", "an API key without events:write"],
    ),
  },
});

const updateEventRoute = createRoute({
  method: "patch",
  path: "/api/v1/events/{id}",
  tags,
  summary: "Edit an event (send the version you read)",
  security: [{ bearer: [] }],
  middleware: hostWrite(),
  request: { params: IdParam, ...body(UpdateEventBody) },
  responses: {
    200: json(EventSchema, "The edited event"),
    ...problems(
      "validation-failed",
      ["forbidden", "not the host"],
      ["insufficient-scope", "an API key without events:write"],
      "not-found",
      "version-conflict",
      "capacity-below-sold",
      "invalid-transition",
      ["payouts-not-ready", "a published free event made paid, host's payout account cannot take charges"],
    ),
  },
});

const getEventRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}",
  tags,
  summary: "An event with live availability",
  // GET /api/v1/events/nearby answers through this route (nearby.ts: the router's reasons). An API
  // key reads here with events:read, and only its host's events (drafts included).
  middleware: [nearbyByPath, acceptScope("events:read")] as const,
  request: { params: IdParam },
  responses: {
    200: json(EventSchema, "The event"),
    ...problems(["not-found", "also another host's event, to an API key"], "insufficient-scope"),
  },
});

const nearbyEventsRoute = createRoute({
  method: "get",
  path: "/api/v1/events/nearby",
  tags,
  summary: "Upcoming published events within radiusKm (default 25, at most 200) of lat,lng, nearest first",
  request: { query: NearbyQuery },
  responses: { 200: json(NearbyListSchema, "A page of events with their distance"), ...problems("validation-failed") },
});

const listEventsRoute = createRoute({
  method: "get",
  path: "/api/v1/events",
  tags,
  summary: "Published upcoming events (cursor pagination, optional ?near=lat,lng&radiusKm=)",
  request: { query: ListEventsQuery },
  responses: { 200: json(EventListSchema, "A page of events") },
});

const AnalyticsSchema = z
  .object({
    ticketCount: z.number().int(),
    checkedInCount: z.number().int(),
    revenue: z.number().int(),
    currency: z.string(),
    attendeesByDate: z.array(z.object({ date: z.string(), count: z.number().int() })),
    checkInRate: z.number(),
    generatedAt: z.string(),
    stale: z.boolean(),
  })
  .openapi("EventAnalytics");

const analyticsRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/analytics",
  tags,
  summary: "Sales and check-in figures for the host",
  security: [{ bearer: [] }],
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: IdParam },
  responses: {
    200: json(AnalyticsSchema, "Figures (stale: true when served from the last good answer)"),
    ...problems(["forbidden", "not the host"], "not-found"),
  },
});

export const eventRoutes = new OpenAPIHono<AppEnv>();
// Documented here, answered by getEventRoute's middleware.
eventRoutes.openAPIRegistry.registerPath(nearbyEventsRoute);
eventRoutes
  .openapi(createEventRoute, async (c) =>
    c.json(await events.createEvent(eventsDeps(c), caller(c), c.req.valid("json")), 201),
  )
  .openapi(updateEventRoute, async (c) =>
    c.json(await events.updateEvent(eventsDeps(c), caller(c), c.req.valid("param").id, c.req.valid("json")), 200),
  )
  .openapi(transition("publish", "Publish a draft"), async (c) =>
    c.json(await events.publishEvent(eventsDeps(c), caller(c), c.req.valid("param").id), 200),
  )
  .openapi(getEventRoute, async (c) => {
    const principal = c.get("principal");
    const viewer = principal?.kind === "user" ? caller(c) : null;
    const event = await events.getEvent(eventsDeps(c), viewer, c.req.valid("param").id, (hit) =>
      c.header(CACHE_HEADER, hit ? "HIT" : "MISS"),
    );
    return c.json(event, 200);
  })
  .openapi(listEventsRoute, async (c) => {
    c.header("Cache-Control", `public, max-age=${LIMITS.eventCacheSeconds}`);
    return c.json(await listEvents(eventsDeps(c), c.req.valid("query")), 200);
  })
  .openapi(analyticsRoute, async (c) => {
    const event = await events.ownedEvent(eventsDeps(c), caller(c), c.req.valid("param").id);
    return c.json(await eventAnalytics(c.env.DB, event.id, event.currency), 200);
  });
