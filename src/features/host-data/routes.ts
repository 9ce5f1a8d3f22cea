/**
 * HTTP for a host's own lists (the contract's "Integrations": what API keys read). Each route names
 * the API-key scope that opens it; a signed-in host reads them too. The POST on
 * /api/v1/events/{id}/orders is the buyer's claim (features/orders) and is not touched here.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { json, problems } from "../../http/openapi";
import { caller, eventsDeps } from "../events";
import {
  AttendeeListSchema,
  CheckInListSchema,
  EventIdParam,
  HostEventListSchema,
  HostOrderListSchema,
  PageQuery,
} from "./schema";
import { listAttendees, listCheckIns, listEventOrders, listHostEvents } from "./service";

const tags = ["Integrations"];
const security = [{ bearer: [] }];

const eventList = (
  path: string,
  scope: string,
  summary: string,
  schema: typeof HostOrderListSchema | typeof AttendeeListSchema | typeof CheckInListSchema,
) =>
  createRoute({
    method: "get",
    path,
    tags,
    summary: `${summary} (API keys: ${scope})`,
    security,
    middleware: [requireAuth({ kind: "user", scope })] as const,
    request: { params: EventIdParam, query: PageQuery },
    responses: {
      200: json(schema, "A page"),
      ...problems(
        ["validation-failed", "a limit out of range, a cursor not from this list"],
        "unauthorized",
        ["forbidden", "another host's published event, to a session"],
        ["insufficient-scope", `an API key without ${scope}`],
        ["not-found", "also another host's event, to an API key"],
      ),
    },
  });

const myEventsRoute = createRoute({
  method: "get",
  path: "/api/v1/me/events",
  tags,
  summary: "Your events, every status, newest first (API keys: events:read)",
  security,
  middleware: [requireAuth({ kind: "user", roles: ["host"], scope: "events:read" })] as const,
  request: { query: PageQuery },
  responses: {
    200: json(HostEventListSchema, "A page of events"),
    ...problems(
      "validation-failed",
      "unauthorized",
      ["forbidden", "not a host"],
      ["insufficient-scope", "an API key without events:read"],
    ),
  },
});

const ordersRoute = eventList(
  "/api/v1/events/{id}/orders",
  "orders:read",
  "The event's orders, newest first",
  HostOrderListSchema,
);
const attendeesRoute = eventList(
  "/api/v1/events/{id}/attendees",
  "attendees:read",
  "The event's tickets with their holders (name, email), in serial order",
  AttendeeListSchema,
);
const checkInsRoute = eventList(
  "/api/v1/events/{id}/checkins",
  "checkins:read",
  "The event's admitted tickets (time, device), in serial order",
  CheckInListSchema,
);

export const hostDataRoutes = new OpenAPIHono<AppEnv>()
  .openapi(myEventsRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await listHostEvents(c.env.DB, caller(c).id, c.req.valid("query")), 200);
  })
  .openapi(ordersRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await listEventOrders(eventsDeps(c), caller(c), c.req.valid("param").id, c.req.valid("query")), 200);
  })
  .openapi(attendeesRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    const deps = { ...eventsDeps(c), pii: c.get("config").pii };
    return c.json(await listAttendees(deps, caller(c), c.req.valid("param").id, c.req.valid("query")), 200);
  })
  .openapi(checkInsRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await listCheckIns(eventsDeps(c), caller(c), c.req.valid("param").id, c.req.valid("query")), 200);
  });
