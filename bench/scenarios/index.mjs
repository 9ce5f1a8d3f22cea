/** The bench's scenarios, in the order they run; `ping` is the baseline. See bench/README.md to add one. */
import { profileSetup } from "./creators.mjs";
import { inventoryRun } from "./inventory.mjs";
import { onSaleSetup } from "./on-sale.mjs";
import { scanSetup } from "./scan.mjs";
import { feedSetup, likeSetup } from "./social.mjs";
import { waitingRoomRun } from "./waiting-room.mjs";

/**
 * The scenarios, run in this order. `ping` is the baseline every `ratio` divides by.
 * Fields: name, method, path, headers?, body? (object → JSON), setup?(ctx) → async, may return
 * { path, headers, body } overrides (e.g. a session created over HTTP at ctx.base).
 */
export const SCENARIOS = [
  // Worker → Durable Object RPC and back, nothing else: the floor every other route pays.
  { name: "ping", method: "GET", path: "/dev/ping" },
  // Probes D1, a Durable Object, R2 and the queue bindings in parallel.
  { name: "health", method: "GET", path: "/health" },
  // The cheapest route behind the `api` policy: one RateLimiter call per request, allow path.
  // All requests share one key (the local server sets CF-Connecting-IP itself), so this is also
  // the worst case for a single hot limiter object.
  { name: "rate-limited-get", method: "GET", path: "/api/v1" },
  // Many buyers claiming one free ticket each from one large event: every request is a different
  // user (its own session and orders-user limiter key) against the one hot EventInventory object.
  // The run covers the sale and the sold-out that follows (409 sold-out, expected); see onSaleSetup.
  {
    name: "on-sale",
    method: "POST",
    path: "/api/v1/events/:eventId/orders",
    body: { quantity: 1 },
    setup: onSaleSetup,
  },
  // Scanner devices scanning tickets at an open gate: every request a different ticket's QR token
  // (and a random nonce), the devices taking turns, against the event's one EventInventory object.
  // Once the tokens run out they come round again (already_redeemed); see scanSetup.
  {
    name: "scan",
    method: "POST",
    path: "/api/v1/scan",
    setup: scanSetup,
  },
  // The EventInventory object alone against a bare Durable Object SQLite write, in alternating rounds,
  // the load driven from inside the Worker (no HTTP per call). Target: the object ≥ 0.6× the bare
  // write. See inventoryRun.
  { name: "inventory", method: "POST", path: "/dev/bench/inventory", run: inventoryRun },
  // An on-sale hotter than its admit rate: distinct buyers arriving at 5× the queue's admit rate, each
  // joining, polling as told and ordering with its pass (issue 20). Driven with fetch; see waitingRoomRun.
  { name: "waiting-room", method: "POST", path: "/api/v1/events/:eventId/queue", run: waitingRoomRun },
  // One viewer's home feed page, from the edge cache after the first request (the session, the
  // `api` limiter, the feed_version read and a Cache API match). Target: ≥ 0.5× ping. See feedSetup.
  { name: "feed", method: "GET", path: "/api/v1/feed", setup: feedSetup },
  // Many people liking one post, each request the next person. Target: ≥ 0.4× ping. See likeSetup.
  { name: "like", method: "PUT", path: "/api/v1/posts/:postId/like", setup: likeSetup },
  // A creator's public page with 100 links, from the edge cache after the first request. Target:
  // ≥ 0.7× ping. See profileSetup.
  { name: "profile", method: "GET", path: "/@:handle", setup: profileSetup },
];

export const BASELINE = "ping";
