/** Fixtures for the profile and graph tests: users with tokens, the routes, and what D1 counts. */
import { env } from "cloudflare:workers";
import { call } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";

export interface Person {
  id: string;
  email: string;
  token: string;
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

export function send(method: string, path: string, token: string | null, payload?: unknown) {
  return call(path, {
    method,
    headers: {
      ...(token ? bearer(token) : {}),
      ...(payload === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
}

export const follow = (who: Person, targetId: string) => send("PUT", `/api/v1/users/${targetId}/follow`, who.token);
export const unfollow = (who: Person, targetId: string) =>
  send("DELETE", `/api/v1/users/${targetId}/follow`, who.token);
export const block = (who: Person, targetId: string) => send("PUT", `/api/v1/users/${targetId}/block`, who.token);
export const unblock = (who: Person, targetId: string) => send("DELETE", `/api/v1/users/${targetId}/block`, who.token);

export async function ok<T = Record<string, unknown>>(res: Response, status = 200): Promise<T> {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

export interface Stats {
  posts: number;
  followers: number;
  following: number;
  eventsHosted: number;
  ticketsHeld?: number;
}

export interface ProfileCounters {
  posts_count: number;
  followers_count: number;
  following_count: number;
}

export async function counters(userId: string): Promise<ProfileCounters | null> {
  return env.DB.prepare("SELECT posts_count, followers_count, following_count FROM profiles WHERE user_id = ?")
    .bind(userId)
    .first<ProfileCounters>();
}

/** What the rows say a user's counters must be. */
export async function counted(userId: string): Promise<ProfileCounters | null> {
  return env.DB.prepare(
    `SELECT (SELECT COUNT(*) FROM posts WHERE author_id = ?1 AND removed_at IS NULL) AS posts_count,
            (SELECT COUNT(*) FROM follows WHERE followee_id = ?1) AS followers_count,
            (SELECT COUNT(*) FROM follows WHERE follower_id = ?1) AS following_count`,
  )
    .bind(userId)
    .first<ProfileCounters>();
}

/** A post written straight to D1 (the graph tests need its count, not the posts API). */
export async function insertPost(authorId: string, createdAt = Date.now()): Promise<string> {
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, 'hello', ?)")
    .bind(id, authorId, createdAt)
    .run();
  return id;
}

export async function cacheVersion(scope: string): Promise<number> {
  const row = await env.DB.prepare("SELECT version FROM cache_versions WHERE scope = ?")
    .bind(scope)
    .first<{ version: number }>();
  return row?.version ?? 0;
}
