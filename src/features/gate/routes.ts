/**
 * HTTP for the gate: hosts register and revoke scanner devices; devices scan, fetch the signing keys
 * and the offline manifest, and upload offline scans; holders fetch their ticket's QR code; the host
 * and supervisor devices read gate stats and watch live counts. Rules live in the services next to
 * this file, except who may read gate stats (`statsViewer`, here), which the route then asks the
 * event's object for directly.
 */
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppContext, AppEnv } from "../../context";
import { requireAuth } from "../../http/auth";
import { body, json, problems } from "../../http/openapi";
import { rateLimit } from "../../http/rate-limit";
import { DomainError } from "../../lib/errors";
import { clientIp } from "../../lib/ip";
import { type Caller, caller, inventoryOf, ownedEvent } from "../events";
import { settleOwnOrders } from "../orders";
import { confirmDevice, deviceCaller, deviceForEvent, forgetDevice } from "./authenticator";
import { DeviceInfoSchema, deviceInfo } from "./device-info";
import * as devices from "./devices";
import { ticketKeyRing } from "./keys";
import { liveViewer, openLive } from "./live";
import { mintTicketQr, qrSvg } from "./qr";
import { gateManifest, scanTicket, unlessRevoked, uploadOfflineScans } from "./scan";
import {
  CreateDeviceBody,
  CreatedDeviceSchema,
  DeviceParams,
  DeviceSchema,
  EventIdParam,
  GateStatsSchema,
  JwksSchema,
  ManifestQuery,
  ManifestSchema,
  OfflineResultsSchema,
  OfflineScansBody,
  QrQuery,
  QrSchema,
  ScanAnswerSchema,
  ScanBody,
  TicketIdParam,
} from "./schema";

const tags = ["Gate"];
const device = [{ device: [] }];
const bearer = [{ bearer: [] }];

function deps(c: AppContext) {
  return {
    db: c.env.DB,
    inventory: c.env.EVENT_INVENTORY,
    config: c.get("config"),
    requestId: c.get("requestId"),
    meta: {
      requestId: c.get("requestId"),
      ip: clientIp(c.req.raw.headers),
      userAgent: c.req.header("User-Agent") ?? null,
    },
  };
}

/** The calling host (an API key acting for one included: another host's event is 404 to it). */
function host(c: AppContext): Caller {
  return caller(c);
}

const hostWrite = () => [
  requireAuth({ kind: "user" }),
  rateLimit({ policy: "dashboard-write", key: (c) => `user:${c.get("principal")?.id}` }),
];
const deviceOnly = () => [requireAuth({ kind: "device" })];

const createDeviceRoute = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/devices",
  tags,
  summary: "Register a scanner device (its token is shown once)",
  security: bearer,
  middleware: hostWrite(),
  request: { params: EventIdParam, ...body(CreateDeviceBody) },
  responses: {
    201: json(CreatedDeviceSchema, "The device and its token"),
    ...problems(["forbidden", "not the host"], "not-found", "limit-exceeded", ["invalid-transition", "cancelled"]),
  },
});

const listDevicesRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/devices",
  tags,
  summary: "The event's scanner devices (never their tokens)",
  security: bearer,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: EventIdParam },
  responses: {
    200: json(z.object({ items: z.array(DeviceSchema) }).openapi("Devices"), "Devices"),
    ...problems(["forbidden", "not the host"], "not-found"),
  },
});

const revokeDeviceRoute = createRoute({
  method: "delete",
  path: "/api/v1/events/{id}/devices/{deviceId}",
  tags,
  summary: "Revoke a device: refused from its next request on, live sockets closed",
  security: bearer,
  middleware: hostWrite(),
  request: { params: DeviceParams },
  responses: { 204: { description: "Revoked" }, ...problems(["forbidden", "not the host"], "not-found") },
});

const scanRoute = createRoute({
  method: "post",
  path: "/api/v1/scan",
  tags,
  summary: "Scan a ticket's QR token (decided by the event's inventory object)",
  description:
    "Always 200 with a result for a readable request: admitted, already_redeemed (with the first scan), " +
    "invalid, expired_code, wrong_event, not_active, outside_window or refund_pending (a refund of the ticket is in flight). The same nonce gets the same answer.",
  security: device,
  middleware: deviceOnly(),
  request: body(ScanBody),
  responses: {
    200: json(ScanAnswerSchema, "The scan's result"),
    ...problems(["unauthorized", "unknown or revoked device"]),
  },
});

const keysRoute = createRoute({
  method: "get",
  path: "/api/v1/scanner/keys",
  tags,
  summary: "Public keys that sign ticket tokens (JWKS), for offline verification",
  security: device,
  middleware: deviceOnly(),
  responses: { 200: json(JwksSchema, "JWKS"), ...problems(["unauthorized", "unknown or revoked device"]) },
});

const deviceInfoRoute = createRoute({
  method: "get",
  path: "/api/v1/scanner/device",
  tags,
  summary: "The calling device: its name and role, its event, and the gate's check-in count",
  security: device,
  middleware: deviceOnly(),
  responses: {
    200: json(DeviceInfoSchema, "The device"),
    ...problems(["unauthorized", "unknown or revoked device"]),
  },
});

const manifestRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/manifest",
  tags,
  summary: "Tickets (id, status, redeemedAt) and keys for offline checks; paginated by serial",
  security: device,
  middleware: deviceOnly(),
  request: { params: EventIdParam, query: ManifestQuery },
  responses: {
    200: json(ManifestSchema, "A page of the manifest"),
    ...problems(["unauthorized", "unknown or revoked device"], ["not-found", "another event's device"]),
  },
});

const offlineScansRoute = createRoute({
  method: "post",
  path: "/api/v1/events/{id}/scans",
  tags,
  summary: "Upload scans made offline; applied in time order, idempotent per nonce",
  security: device,
  middleware: deviceOnly(),
  request: { params: EventIdParam, ...body(OfflineScansBody) },
  responses: {
    200: json(OfflineResultsSchema, "One result per scan, in the order sent"),
    ...problems(
      "validation-failed",
      ["unauthorized", "unknown or revoked device"],
      ["not-found", "another event's device"],
    ),
  },
});

const statsRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/gate/stats",
  tags,
  summary: "Check-in counts, scans by result and conflicts (host, API key with checkins:read, supervisor device)",
  security: [...bearer, ...device],
  middleware: [requireAuth({ scope: "checkins:read" })] as const,
  request: { params: EventIdParam },
  responses: {
    200: json(GateStatsSchema, "Gate stats"),
    ...problems("unauthorized", "forbidden", "insufficient-scope", "not-found"),
  },
});

const liveRoute = createRoute({
  method: "get",
  path: "/api/v1/events/{id}/live",
  tags,
  summary: "WebSocket: { sold, held, remaining, checkedIn, … } on every change (a few a second at most)",
  security: [...bearer, ...device],
  middleware: [requireAuth()] as const,
  request: { params: EventIdParam },
  responses: {
    101: { description: "Switching protocols: JSON messages of type counts" },
    ...problems("unauthorized", ["forbidden", "not the host or a supervisor device"], "not-found", "upgrade-required"),
  },
});

const qrRoute = createRoute({
  method: "get",
  path: "/api/v1/tickets/{id}/qr",
  tags,
  summary: "A fresh signed QR token for your ticket (?format=svg for the image)",
  security: bearer,
  middleware: [requireAuth({ kind: "user" })] as const,
  request: { params: TicketIdParam, query: QrQuery },
  responses: {
    200: {
      description: "The token, or the QR code as SVG",
      content: { "application/json": { schema: QrSchema }, "image/svg+xml": { schema: z.string() } },
    },
    ...problems(["not-found", "also for others' tickets"], "not-active"),
  },
});

/** A supervisor device of this event (its id, for the object's revocation check), or the event's host. */
async function statsViewer(c: AppContext, eventId: string): Promise<{ deviceId?: string }> {
  const principal = c.get("principal");
  if (principal?.kind === "device") {
    const caller = deviceForEvent(c, eventId);
    if (caller.role !== "supervisor") throw new DomainError("forbidden", "Only supervisor devices see gate stats.");
    return { deviceId: caller.id };
  }
  await ownedEvent(deps(c), host(c), eventId);
  return {};
}

export const gateRoutes = new OpenAPIHono<AppEnv>()
  .openapi(createDeviceRoute, async (c) => {
    const created = await devices.registerDevice(deps(c), host(c), c.req.valid("param").id, c.req.valid("json"));
    c.header("Cache-Control", "no-store");
    return c.json(created, 201);
  })
  .openapi(listDevicesRoute, async (c) =>
    c.json(await devices.listDevices(deps(c), host(c), c.req.valid("param").id), 200),
  )
  .openapi(revokeDeviceRoute, async (c) => {
    const { id, deviceId } = c.req.valid("param");
    await devices.revokeDevice(deps(c), host(c), id, deviceId);
    forgetDevice(deviceId);
    return c.body(null, 204);
  })
  .openapi(scanRoute, async (c) => c.json(await scanTicket(deps(c), deviceCaller(c), c.req.valid("json")), 200))
  .openapi(keysRoute, async (c) => {
    // The one device route that does not reach the event's object (which checks revocations).
    await confirmDevice(c);
    const ring = await ticketKeyRing(c.get("config"));
    c.header("Cache-Control", "private, max-age=300");
    return c.json(ring.jwks, 200);
  })
  .openapi(deviceInfoRoute, async (c) => {
    c.header("Cache-Control", "no-store");
    return c.json(await deviceInfo(deps(c), deviceCaller(c)), 200);
  })
  .openapi(manifestRoute, async (c) => {
    const { id } = c.req.valid("param");
    const caller = deviceForEvent(c, id);
    c.header("Cache-Control", "no-store");
    return c.json(await gateManifest(deps(c), caller, id, c.req.valid("query")), 200);
  })
  .openapi(offlineScansRoute, async (c) => {
    const { id } = c.req.valid("param");
    const caller = deviceForEvent(c, id);
    return c.json(await uploadOfflineScans(deps(c), caller, c.req.valid("json").scans), 200);
  })
  .openapi(statsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const viewer = await statsViewer(c, id);
    const { byResult, ...rest } = unlessRevoked(await inventoryOf(c.env.EVENT_INVENTORY, id).gateStats(viewer));
    return c.json({ ...rest, byResult }, 200);
  })
  .openapi(liveRoute, async (c) => {
    const { id } = c.req.valid("param");
    const viewer = await liveViewer(deps(c), c.get("principal"), id, {
      origin: c.req.header("Origin") ?? null,
      self: new URL(c.req.url).origin,
    });
    if (c.req.header("Upgrade")?.toLowerCase() !== "websocket") {
      throw new DomainError("upgrade-required", "Open this URL as a WebSocket.");
    }
    // The 101 response carries the socket; its type is outside the route's declared JSON responses.
    return (await openLive(deps(c), id, viewer)) as never;
  })
  .openapi(qrRoute, async (c) => {
    const principal = c.get("principal");
    if (principal?.kind !== "user") throw new DomainError("unauthorized", "Sign in to continue.");
    // A ticket just bought may still be on its way to D1 (src/features/orders/settle.ts).
    await settleOwnOrders(c);
    const qr = await mintTicketQr(deps(c), principal.id, c.req.valid("param").id);
    // A fresh code on every request; caches must never hand one out again.
    c.header("Cache-Control", "no-store");
    if (c.req.valid("query").format === "svg") {
      c.header("Content-Type", "image/svg+xml; charset=utf-8");
      c.header("X-Ticket-Token-Expires-At", qr.expiresAt);
      return c.body(qrSvg(qr.token), 200) as never;
    }
    return c.json(qr, 200);
  });

gateRoutes.openAPIRegistry.registerComponent("securitySchemes", "device", {
  type: "apiKey",
  in: "header",
  name: "Authorization",
  description: "Scanner devices: `Device <token>` (token from POST /api/v1/events/{id}/devices)",
});
