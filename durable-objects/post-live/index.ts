/**
 * PostLive: one object per post (addressed by the post's id), holding the WebSockets of everyone
 * watching that post's counts. Sockets are accepted on the Hibernation API (`ctx.acceptWebSocket`),
 * so the runtime keeps them open while the object sleeps; each socket carries the last message it was
 * sent as its attachment (to skip unchanged counts), and a tag for the address it came from (for the
 * per-address cap). Nothing lives only in memory except the coalescing timer.
 *
 * The object stores nothing. The counts are D1's (triggers keep posts.like_count and friends true);
 * the object reads them itself on connect and after `changed()`, so what a client sees always
 * converges to the stored counts, whatever order the changes were reported in. Changes are coalesced:
 * at most one D1 read and broadcast per LIMITS.liveCoalesceMs, and a trailing one once a burst stops,
 * so a hot post costs a few messages a second and one read per interval, however many likes arrive.
 */
import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../../src/config/limits";
import { log } from "../../src/lib/log";
import { POST_GONE, POST_LIVE_URL, type PostCounts } from "./contract";

export { POST_GONE, POST_LIVE_URL, type PostCounts } from "./contract";

const LIVE_TAG = "live";

export interface SocketCaps {
  total: number;
  perAddress: number;
}

export const DEFAULT_CAPS: SocketCaps = {
  total: LIMITS.postLiveMaxSockets,
  perAddress: LIMITS.postLivePerAddress,
};

/** Why one more socket is refused (null: admitted), given the sockets already open. */
export function socketRefusal(open: number, fromAddress: number, caps: SocketCaps): "full" | "address" | null {
  if (open >= caps.total) return "full";
  if (fromAddress >= caps.perAddress) return "address";
  return null;
}

/** The stored counts of a visible post, or null when it is missing or removed. */
export async function readPostCounts(db: D1Database, postId: string): Promise<PostCounts | null> {
  const row = await db
    .prepare("SELECT like_count, comment_count, repost_count FROM posts WHERE id = ?1 AND removed_at IS NULL")
    .bind(postId)
    .first<{ like_count: number; comment_count: number; repost_count: number }>();
  return row ? { likes: row.like_count, comments: row.comment_count, reposts: row.repost_count } : null;
}

function message(counts: PostCounts): string {
  return JSON.stringify({ likes: counts.likes, comments: counts.comments, reposts: counts.reposts });
}

/** Sends `text` unless this socket was last sent the same; false when nothing went out. */
function sendIfChanged(ws: WebSocket, text: string): boolean {
  const last = (ws.deserializeAttachment() as { last?: string } | null)?.last;
  if (last === text) return false;
  try {
    ws.send(text);
    ws.serializeAttachment({ last: text });
    return true;
  } catch {
    // Closing or closed: the runtime drops it from getWebSockets().
    return false;
  }
}

export class PostLive extends DurableObject<Env> {
  /** Socket caps; a field so a test can lower them instead of opening thousands of sockets. */
  caps: SocketCaps = DEFAULT_CAPS;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #readAt = 0;
  /** Reads are numbered as they start; a read that finishes after a later one is stale and dropped. */
  #started = 0;
  #latest: { seq: number; text: string } | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Keep-alive pings are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** Upgrades to a live socket: 404 for a missing or removed post, 503 when full, 429 for a crowded address. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const postId = url.searchParams.get("post");
    if (
      `${url.origin}${url.pathname}` !== POST_LIVE_URL ||
      !postId ||
      request.headers.get("Upgrade")?.toLowerCase() !== "websocket"
    ) {
      return new Response("Not found", { status: 404 });
    }
    const addressTag = `addr:${url.searchParams.get("addr") ?? "unknown"}`;
    // Checked before the read (a refused socket costs no D1 query) and again after it: other
    // upgrades may have been accepted while this one waited for D1.
    const early = this.#refusal(addressTag);
    if (early) return early;

    const seq = ++this.#started;
    let counts: PostCounts | null;
    try {
      counts = await readPostCounts(this.env.DB, postId);
    } catch (error) {
      log("error", "post live: counts unreadable on connect", { postId, error });
      return new Response("Unavailable", { status: 503 });
    }
    if (!counts) return new Response("Not found", { status: 404 });
    const late = this.#refusal(addressTag);
    if (late) return late;

    // A broadcast that started after this read knows newer counts: the new socket gets those.
    const text = this.#latest && this.#latest.seq > seq ? this.#latest.text : message(counts);
    if (!this.#latest || this.#latest.seq < seq) this.#latest = { seq, text };

    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket];
    this.ctx.acceptWebSocket(server, [LIVE_TAG, addressTag]);
    sendIfChanged(server, text);
    return new Response(null, { status: 101, webSocket: client });
  }

  #refusal(addressTag: string): Response | null {
    const why = socketRefusal(
      this.ctx.getWebSockets(LIVE_TAG).length,
      this.ctx.getWebSockets(addressTag).length,
      this.caps,
    );
    if (why === "full") return new Response("Full", { status: 503 });
    if (why === "address") return new Response("Too many sockets from this address", { status: 429 });
    return null;
  }

  /**
   * The post's counts changed in D1 (a like, a comment, a repost…). Broadcasts at once when the last
   * read is older than the interval, otherwise once the interval ends: every change reported while a
   * read is under way is followed by another read, so the last message always shows the stored counts.
   */
  async changed(postId: string): Promise<void> {
    if (this.ctx.getWebSockets(LIVE_TAG).length === 0) return;
    const due = this.#readAt + LIMITS.liveCoalesceMs;
    const now = Date.now();
    if (now >= due) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      await this.#broadcast(postId);
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = null;
        void this.#broadcast(postId);
      }, due - now);
    }
  }

  /** Sockets open on this post (tests and diagnostics). */
  viewers(): number {
    return this.ctx.getWebSockets(LIVE_TAG).length;
  }

  async #broadcast(postId: string): Promise<void> {
    this.#readAt = Date.now();
    const seq = ++this.#started;
    let counts: PostCounts | null;
    try {
      counts = await readPostCounts(this.env.DB, postId);
    } catch (error) {
      // The next change reads again; the clients keep the counts they have meanwhile.
      log("error", "post live: counts unreadable", { postId, error });
      return;
    }
    // A read that started later (a connect's) finished first: its counts are the newer ones.
    const newer = this.#latest && this.#latest.seq > seq ? this.#latest.text : null;
    if (!counts && !newer) {
      this.#latest = null;
      for (const ws of this.ctx.getWebSockets(LIVE_TAG)) {
        try {
          ws.close(POST_GONE, "post removed");
        } catch {
          // Already closing.
        }
      }
      return;
    }
    const text = newer ?? message(counts as PostCounts);
    if (!newer) this.#latest = { seq, text };
    for (const ws of this.ctx.getWebSockets(LIVE_TAG)) sendIfChanged(ws, text);
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    // Watchers only listen. "ping" is answered by the runtime without waking us (the auto-response);
    // should one arrive here all the same, it is answered. Anything else would wake the object for
    // nothing, so a socket that talks is closed (RFC 6455 §7.4.1: policy violation).
    if (message === "ping") {
      try {
        ws.send("pong");
      } catch {
        // Closing.
      }
      return;
    }
    try {
      ws.close(1008, "this socket only listens");
    } catch {
      // Already closing.
    }
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    log("warn", "post live: socket error", { error });
    try {
      ws.close(1011, "socket error");
    } catch {
      // Already closed.
    }
  }
}
