/**
 * Live counts of a post: `GET /api/v1/posts/:id/live` upgrades to a WebSocket held by the post's
 * PostLive object (durable-objects/post-live), which sends `{ likes, comments, reposts }` on connect
 * and after each change. Anyone may watch: the counts are public, so unlike the event's live stream
 * there is no viewer to authorise and no cookie to guard (the route reads no principal).
 *
 * Whoever changes a post's likes, comments or reposts calls `postChanged` after the change is stored
 * (deferred with c.var.defer, so it never delays the answer); the object reads the counts from D1
 * itself, so a lost or reordered call costs at most a late message, never a wrong one.
 */
import { POST_LIVE_URL, type PostLive } from "../../../durable-objects/post-live/contract";
import { sha256Hex } from "../../lib/crypto";
import { DomainError, rateLimitedError, unavailableError } from "../../lib/errors";
import { ipKey } from "../../lib/ip";
import { log } from "../../lib/log";

export type { PostCounts } from "../../../durable-objects/post-live/contract";

function liveObject(ns: DurableObjectNamespace<PostLive>, postId: string) {
  return ns.getByName(postId);
}

/** Tells the post's live-count object that its counts changed; the object reads them from D1 and broadcasts, coalesced. Never throws. */
export async function postChanged(env: Env, postId: string): Promise<void> {
  try {
    await liveObject(env.POST_LIVE, postId).changed(postId);
  } catch (error) {
    log("error", "post live: change not delivered", { postId, error });
  }
}

/**
 * The per-address tag the object counts sockets by: a hash of the address's rate-limit key (IPv6 by
 * its /64), so the object never holds the address itself.
 */
async function addressTag(ip: string | null): Promise<string> {
  if (!ip) return "unknown";
  return (await sha256Hex(ipKey(ip))).slice(0, 24);
}

/** Forwards the upgrade to the post's object and hands its socket to the client. */
export async function openPostLive(
  ns: DurableObjectNamespace<PostLive>,
  postId: string,
  ip: string | null,
): Promise<Response> {
  const url = `${POST_LIVE_URL}?post=${encodeURIComponent(postId)}&addr=${await addressTag(ip)}`;
  let upstream: Response;
  try {
    upstream = await liveObject(ns, postId).fetch(url, { headers: { Upgrade: "websocket" } });
  } catch (error) {
    log("error", "post live: object unreachable", { postId, error });
    throw unavailableError("Live counts are unavailable. Please retry shortly.");
  }
  if (upstream.status === 404) throw new DomainError("not-found", "No such post.");
  if (upstream.status === 429) {
    throw rateLimitedError("post-live", 60, "Too many live sockets from this address on this post.");
  }
  if (upstream.status !== 101 || !upstream.webSocket) {
    throw unavailableError("Live counts are unavailable. Please retry shortly.");
  }
  // A fresh response: the object's own is immutable, and middleware adds headers after this.
  return new Response(null, { status: 101, webSocket: upstream.webSocket });
}
