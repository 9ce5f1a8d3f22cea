/** Fixtures for the live-count tests: users, posts and likes written straight to D1, and a socket reader. */
import { env } from "cloudflare:workers";
import { call } from "../../helpers";

export interface LiveCounts {
  likes: number;
  comments: number;
  reposts: number;
}

export async function liveUser(): Promise<string> {
  const id = `u-live-${crypto.randomUUID().slice(0, 12)}`;
  await env.DB.prepare(
    "INSERT INTO users (id, email, name, roles, created_at, updated_at) VALUES (?, ?, 'Live Viewer', '[\"attendee\"]', 1, 1)",
  )
    .bind(id, `${id}@example.com`)
    .run();
  return id;
}

export async function livePost(authorId: string, text = "hello"): Promise<string> {
  const id = `p-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, ?, ?)")
    .bind(id, authorId, text, Date.now())
    .run();
  return id;
}

/** A like stored as POSTS stores one (the triggers keep posts.like_count). */
export async function storeLike(postId: string, userId: string): Promise<void> {
  await env.DB.prepare("INSERT INTO post_likes (post_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
    .bind(postId, userId, Date.now())
    .run();
}

export async function storedCounts(postId: string): Promise<LiveCounts> {
  const row = await env.DB.prepare("SELECT like_count, comment_count, repost_count FROM posts WHERE id = ?")
    .bind(postId)
    .first<{ like_count: number; comment_count: number; repost_count: number }>();
  if (!row) throw new Error(`no post ${postId}`);
  return { likes: row.like_count, comments: row.comment_count, reposts: row.repost_count };
}

export interface LiveSocket {
  ws: WebSocket;
  messages: LiveCounts[];
  /** Answers to "ping". */
  pongs: string[];
  /** Resolves once `predicate` holds for the messages so far (rejects after 3 s). */
  until(predicate: (all: LiveCounts[]) => boolean, what: string): Promise<LiveCounts[]>;
  closing(): Promise<{ code: number; reason: string }>;
}

/** Reads a socket from an accepted 101 response. */
export function readSocket(res: Response): LiveSocket {
  if (res.status !== 101 || !res.webSocket) throw new Error(`live: ${res.status}`);
  const ws = res.webSocket;
  const messages: LiveCounts[] = [];
  const pongs: string[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.addEventListener("message", (event) => {
    const data = event.data as string;
    if (data === "pong") pongs.push(data);
    else messages.push(JSON.parse(data) as LiveCounts);
    for (const w of waiters.splice(0)) w();
  });
  ws.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
    for (const w of waiters.splice(0)) w();
  });
  ws.accept();
  const wait = <T>(ready: () => T | null, what: string) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(messages)}`)),
        3000,
      );
      const check = () => {
        const value = ready();
        if (value !== null) {
          clearTimeout(timer);
          resolve(value);
        } else waiters.push(check);
      };
      check();
    });
  return {
    ws,
    messages,
    pongs,
    until: (predicate, what) => wait(() => (predicate(messages) ? messages : null), what),
    closing: () => wait(() => closed, "the close"),
  };
}

/** Opens `GET /api/v1/posts/:id/live` through the Worker. */
export async function openPostLive(postId: string, init: { ip?: string } = {}): Promise<LiveSocket> {
  const res = await call(`/api/v1/posts/${postId}/live`, { headers: { Upgrade: "websocket" }, ...init });
  if (res.status !== 101) throw new Error(`live: ${res.status} ${await res.text()}`);
  return readSocket(res);
}

export const lastOf = (all: LiveCounts[]) => all[all.length - 1] as LiveCounts;
