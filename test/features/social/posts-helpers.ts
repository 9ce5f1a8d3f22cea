/** Fixtures for the posts, comments and reactions tests: users with tokens, media rows, API calls. */
import { env } from "cloudflare:workers";
import { call } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";

export interface Person {
  id: string;
  email: string;
  token: string;
}

export interface ApiPost {
  id: string;
  author: { id: string; name: string; handle: string | null; avatarUrl: string | null };
  text: string;
  media: { id: string; url: string; width: number; height: number }[];
  eventId: string | null;
  createdAt: string;
  counts: { likes: number; comments: number; reposts: number; bookmarks: number };
  viewer: { liked: boolean; bookmarked: boolean; reposted: boolean };
}

export interface ApiComment {
  id: string;
  postId: string;
  parentId: string | null;
  author: { id: string; name: string };
  text: string;
  likeCount: number;
  createdAt: string;
}

/** `count` users with access tokens (sessions written directly). */
export function people(count: number): Promise<Person[]> {
  return buyers(count);
}

export async function person(): Promise<Person> {
  const [p] = await buyers(1);
  if (!p) throw new Error("no user");
  return p;
}

/** A media row owned by `ownerId` (the bytes are not needed to attach it to a post). */
export async function mediaFor(ownerId: string, purpose = "post", visibility = "private"): Promise<string> {
  const id = crypto.randomUUID();
  await env.DB.prepare(
    `INSERT INTO media (id, owner_id, purpose, visibility, content_type, r2_key, bytes, width, height, sha256, created_at)
     VALUES (?, ?, ?, ?, 'image/jpeg', ?, 1000, 640, 480, ?, ?)`,
  )
    .bind(id, ownerId, purpose, visibility, `media/${id}`, "0".repeat(64), Date.now())
    .run();
  return id;
}

export function send(method: string, path: string, token: string | null, payload?: unknown, headers = {}) {
  return call(path, {
    method,
    headers: {
      ...(token ? bearer(token) : {}),
      ...(payload === undefined ? {} : { "Content-Type": "application/json" }),
      ...headers,
    },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
}

export async function createPost(
  token: string,
  payload: Record<string, unknown> = { text: "Hello" },
): Promise<ApiPost> {
  const res = await send("POST", "/api/v1/posts", token, payload);
  if (res.status !== 201) throw new Error(`create post: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiPost;
}

export async function createComment(
  token: string,
  postId: string,
  payload: Record<string, unknown> = { text: "Nice" },
): Promise<ApiComment> {
  const res = await send("POST", `/api/v1/posts/${postId}/comments`, token, payload);
  if (res.status !== 201) throw new Error(`create comment: ${res.status} ${await res.text()}`);
  return (await res.json()) as ApiComment;
}

export async function react(method: "PUT" | "DELETE", postId: string, what: string, token: string) {
  const res = await send(method, `/api/v1/posts/${postId}/${what}`, token);
  if (res.status !== 200) throw new Error(`${method} ${what}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { active: boolean; counts: ApiPost["counts"] };
}

export async function block(blockerId: string, blockedId: string): Promise<void> {
  await env.DB.prepare("INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?)")
    .bind(blockerId, blockedId, Date.now())
    .run();
}
