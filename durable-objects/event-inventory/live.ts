/**
 * Live counts for EventInventory over WebSockets, on the Hibernation API: sockets are accepted with
 * `ctx.acceptWebSocket`, so the runtime keeps them open while the object sleeps and hands them back
 * through `ctx.getWebSockets()` when it wakes. Each socket is tagged with its viewer (to close a
 * revoked device's sockets) and carries the last message it was sent as its attachment (to skip
 * unchanged counts); nothing lives only in memory.
 */
import { LIMITS } from "../../src/config/limits";
import { LIVE_URL, type LiveCounts } from "./contract";

export const LIVE_TAG = "live";
/** Close code for a viewer whose access ended (RFC 6455 §7.4.1: policy violation). */
export const LIVE_REVOKED = 1008;

function sendIfChanged(ws: WebSocket, counts: LiveCounts): boolean {
  const message = JSON.stringify({ type: "counts", ...counts });
  const last = (ws.deserializeAttachment() as { last?: string } | null)?.last;
  if (last === message) return false;
  try {
    ws.send(message);
    ws.serializeAttachment({ last: message });
    return true;
  } catch {
    // Closing or closed: the runtime drops it from getWebSockets().
    return false;
  }
}

/** Accepts an upgrade for `?viewer=` and sends the current counts at once. */
export function acceptLive(ctx: DurableObjectState, request: Request, counts: LiveCounts): Response {
  const url = new URL(request.url);
  const viewer = url.searchParams.get("viewer");
  if (
    `${url.origin}${url.pathname}` !== LIVE_URL ||
    !viewer ||
    request.headers.get("Upgrade")?.toLowerCase() !== "websocket"
  ) {
    return new Response("Not found", { status: 404 });
  }
  // Keep-alive pings are answered by the runtime without waking the object.
  ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
  ctx.acceptWebSocket(server, [LIVE_TAG, viewer]);
  sendIfChanged(server, counts);
  return new Response(null, { status: 101, webSocket: client });
}

export function hasLiveViewers(ctx: DurableObjectState): boolean {
  return ctx.getWebSockets(LIVE_TAG).length > 0;
}

/** Sends `counts` to every live socket that has not seen them yet; returns how many were sent. */
export function broadcastLive(ctx: DurableObjectState, counts: LiveCounts): number {
  let sent = 0;
  for (const ws of ctx.getWebSockets(LIVE_TAG)) if (sendIfChanged(ws, counts)) sent += 1;
  return sent;
}

/** Closes every live socket of `viewer` (e.g. `device:<id>` when the device is revoked). */
export function closeViewer(ctx: DurableObjectState, viewer: string, reason: string): number {
  const sockets = ctx.getWebSockets(viewer);
  for (const ws of sockets) {
    try {
      ws.close(LIVE_REVOKED, reason);
    } catch {
      // Already closing.
    }
  }
  return sockets.length;
}

/**
 * Pushes the counts to live viewers when something changed, at most once per LIMITS.liveCoalesceMs.
 * The check runs on every change, so a steady stream of scans still yields a message per interval; a
 * timer sends the final counts once the stream stops (timers alone can lag behind a busy object).
 */
export class LiveFeed {
  readonly #ctx: DurableObjectState;
  readonly #counts: () => LiveCounts;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #sentAt = 0;

  constructor(ctx: DurableObjectState, counts: () => LiveCounts) {
    this.#ctx = ctx;
    this.#counts = counts;
  }

  changed(): void {
    if (!hasLiveViewers(this.#ctx)) return;
    const due = this.#sentAt + LIMITS.liveCoalesceMs;
    if (Date.now() >= due) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      this.#broadcast();
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        this.#broadcast();
      }, due - Date.now());
    }
  }

  #broadcast(): void {
    this.#sentAt = Date.now();
    broadcastLive(this.#ctx, this.#counts());
  }
}
