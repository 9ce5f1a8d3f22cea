/**
 * Live counts: `GET /api/v1/events/:id/live` upgrades to a WebSocket served by the event's
 * EventInventory object (Hibernation API, see durable-objects/event-inventory/live.ts). Only the
 * event's host or one of its supervisor devices may watch. The Worker authorises, then forwards the
 * upgrade with the viewer's identity; the object cannot be reached from outside.
 */
import { type EventInventory, LIVE_URL } from "../../../durable-objects/event-inventory/contract";
import type { Config } from "../../config";
import type { Principal } from "../../context";
import { DomainError, unavailableError } from "../../lib/errors";
import { inventoryOf, ownedEvent } from "../events";

export interface LiveDeps {
  db: D1Database;
  inventory: DurableObjectNamespace<EventInventory>;
  config: Config;
}

/**
 * Who may watch: the host (owner) or a supervisor device of this event. A browser sends its cookie
 * with a WebSocket handshake from any page, so a cookie-authenticated upgrade must also come from our
 * own origin or an allowlisted one (cross-site WebSocket hijacking; CSRF tokens cannot ride along).
 */
export async function liveViewer(
  deps: LiveDeps,
  principal: Principal | null,
  eventId: string,
  request: { origin: string | null; self: string },
): Promise<string> {
  if (!principal) throw new DomainError("unauthorized", "Sign in to continue.");
  if (principal.kind === "device") {
    if (principal.claims?.eventId !== eventId) throw new DomainError("not-found", "No such event for this device.");
    if (!principal.roles.includes("supervisor"))
      throw new DomainError("forbidden", "Only supervisor devices see live counts.");
    return `device:${principal.id}`;
  }
  if (principal.via === "cookie") {
    const origin = request.origin;
    if (!origin || (origin !== request.self && !deps.config.corsOrigins.includes(origin))) {
      throw new DomainError("csrf-failed", "Cross-site WebSocket refused.");
    }
  }
  await ownedEvent(deps, { id: principal.id, roles: principal.roles }, eventId);
  return `user:${principal.id}`;
}

/** Forwards the upgrade to the event's object and hands its socket to the client. */
export async function openLive(deps: LiveDeps, eventId: string, viewer: string): Promise<Response> {
  const url = `${LIVE_URL}?viewer=${encodeURIComponent(viewer)}`;
  const upstream = await inventoryOf(deps.inventory, eventId).fetch(url, { headers: { Upgrade: "websocket" } });
  // The object knows the device as revoked (the Worker may have known it from its cache).
  if (upstream.status === 401) throw new DomainError("unauthorized", "Unknown or revoked device.");
  if (upstream.status !== 101 || !upstream.webSocket) {
    throw unavailableError("Live counts are unavailable. Please retry shortly.");
  }
  // A fresh response: the object's own is immutable, and middleware adds headers after this.
  return new Response(null, { status: 101, webSocket: upstream.webSocket });
}
