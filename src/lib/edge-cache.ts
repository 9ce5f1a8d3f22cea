/**
 * Read-through caching at the edge with the Workers Cache API (`caches.default`), for JSON answers
 * that are expensive to build and cheap to key: the home feed, nearby events, an event's body, a
 * public profile.
 *
 * Invalidation is by version, never by delete: `caches.default.delete` only reaches the data centre
 * that runs it, while a key that names the version of everything the answer depends on is simply
 * never asked for again once a writer bumps that version, in every data centre at once. Versions live
 * in `cache_versions` (a missing row reads as 0; writers put `bumpVersion` in the same batch as their
 * write) or, for the home feed, in `profiles.feed_version` (kept by triggers).
 *
 * Keys are synthetic URLs on a host nobody can request (`edge-cache.gatehouse.internal`), never a
 * user-visible URL: a cached answer cannot be reached, or poisoned, by a client choosing a URL. A key
 * must carry every input that changes the answer (the path's ids, the query, the viewer for personal
 * answers, the versions).
 *
 * The store runs after the answer is sent (`defer`, src/http/after-response), so a miss costs the
 * client nothing more than the uncached read. A Cache API failure is logged and read through.
 */
import type { AppContext } from "../context";
import { log } from "./log";

/** Runs a task once the response is built (the shape of src/http/after-response's `defer`). */
export type Defer = (task: () => Promise<unknown>) => void;

/** How long each cached answer lives (seconds). Versions make most entries unreachable long before. */
export const EDGE_TTL = {
  feed: 5 * 60,
  nearby: 10 * 60,
  event: 30 * 60,
  profile: 15 * 60,
} as const;

/** Bump to orphan every entry when the shape of a cached answer changes between deployments. */
const KEY_SCHEMA = 1;
const KEY_ORIGIN = "https://edge-cache.gatehouse.internal";

/** The response header that says whether an answer came from the cache: `HIT` or `MISS`. */
export const CACHE_HEADER = "X-Cache";

export type KeyPart = string | number | boolean | null | undefined;

/**
 * The internal URL for `namespace` (e.g. "feed") and the inputs of the answer. Parts are sorted by
 * name and percent-encoded, so the same inputs always make the same key; `undefined` parts are left
 * out, `null` is kept (as an empty value) since "no cursor" is an input too.
 */
export function cacheKey(namespace: string, parts: Record<string, KeyPart>): string {
  const query = Object.keys(parts)
    .filter((name) => parts[name] !== undefined)
    .sort()
    .map((name) => `${encodeURIComponent(name)}=${encodeURIComponent(String(parts[name] ?? ""))}`)
    .join("&");
  return `${KEY_ORIGIN}/v${KEY_SCHEMA}/${encodeURIComponent(namespace)}?${query}`;
}

export interface Cached<T> {
  value: T;
  hit: boolean;
}

/**
 * The JSON stored under `key`, or `produce()`'s answer, stored for `ttlSeconds` after the response
 * (through `defer`). Nothing is stored when `produce` throws.
 */
export async function getOrProduce<T>(
  key: string,
  ttlSeconds: number,
  defer: Defer,
  produce: () => Promise<T>,
): Promise<Cached<T>> {
  const cache = edgeCache();
  if (cache) {
    try {
      const stored = await cache.match(key);
      if (stored) return { value: (await stored.json()) as T, hit: true };
    } catch (error) {
      log("warn", "edge cache read failed", { error });
    }
  }
  const value = await produce();
  if (cache) {
    const body = JSON.stringify(value);
    defer(() =>
      cache.put(
        key,
        new Response(body, {
          headers: {
            "Content-Type": "application/json",
            "Cache-Control": `public, s-maxage=${ttlSeconds}, max-age=${ttlSeconds}`,
          },
        }),
      ),
    );
  }
  return { value, hit: false };
}

/** As getOrProduce, for a route: stores through the request's defer and sets the X-Cache header. */
export async function edgeCached<T>(
  c: AppContext,
  key: string,
  ttlSeconds: number,
  produce: () => Promise<T>,
): Promise<T> {
  const { value, hit } = await getOrProduce(key, ttlSeconds, c.get("defer"), produce);
  c.header(CACHE_HEADER, hit ? "HIT" : "MISS");
  return value;
}

/** `caches.default`, or null where the runtime has no Cache API. */
function edgeCache(): Cache | null {
  return typeof caches === "undefined" ? null : caches.default;
}

// ---------------------------------------------------------------- versions

/** Version scopes: one for all events (listings, nearby), one per event, one per profile. */
export const scopes = {
  events: "events",
  event: (id: string) => `event:${id}`,
  profile: (userId: string) => `profile:${userId}`,
} as const;

/** The versions of `names` in one query; a scope without a row is at version 0. */
export async function readVersions<const S extends string>(
  db: D1Database,
  names: readonly S[],
): Promise<Record<S, number>> {
  const versions = Object.fromEntries(names.map((name) => [name, 0])) as Record<S, number>;
  if (names.length === 0) return versions;
  const rows = await db
    .prepare(`SELECT scope, version FROM cache_versions WHERE scope IN (${names.map(() => "?").join(", ")})`)
    .bind(...names)
    .all<{ scope: S; version: number }>();
  for (const row of rows.results) versions[row.scope] = row.version;
  return versions;
}

/** The statement that moves `scope` to its next version: for the writer's own batch. */
export function bumpVersion(db: D1Database, scope: string): D1PreparedStatement {
  return db
    .prepare(
      "INSERT INTO cache_versions (scope, version) VALUES (?, 1) ON CONFLICT (scope) DO UPDATE SET version = version + 1",
    )
    .bind(scope);
}
