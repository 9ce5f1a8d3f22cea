/**
 * Nearby events: upcoming published events within a radius of a point, nearest first, each with its
 * distance. Edge-cached (src/lib/edge-cache.ts) for 10 minutes without giving up exactness: what is
 * cached is the candidate set of a coarse cell (0.1° of latitude and longitude, about 11 km) for a
 * radius bucket, i.e. every upcoming published event that any point of the cell could reach. Each
 * request then computes its own great-circle distances from the precise point, drops what is out of
 * its radius or has started since, sorts and pages. Nearby requests share the cell's entry; the
 * answer is the same as an uncached query's.
 *
 * The key carries the `events` version, which every publish, edit and cancel bumps in the same
 * statement batch as its write (service.ts): a new event nearby is listed at the next request.
 */
import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { LIMITS } from "../../config/limits";
import type { AppContext, AppEnv } from "../../context";
import { problem } from "../../http/problem";
import { fieldErrors } from "../../http/validation";
import { decodeCursor as decodeCursorText, encodeCursor as encodeCursorText } from "../../lib/crypto";
import { cacheKey, EDGE_TTL, edgeCached, readVersions, scopes } from "../../lib/edge-cache";
import { invalidCursorError } from "../../lib/errors";
import { boundingBox, distanceKm } from "./listing";
import { EventSchema } from "./schema";
import { type EventRow, toApiEvent } from "./service";

/** The side of a cache cell, in degrees. */
export const NEARBY_CELL_DEG = 0.1;
/** Radii are rounded up to one of these for the candidate set (the filter uses the exact radius). */
const RADIUS_BUCKETS_KM = [5, 10, 25, 50, 100, 200] as const;
export const NEARBY_RADIUS_MAX_KM = 200;
/**
 * At most this many candidates per cell and bucket, the nearest to the cell's centre: a list read
 * nearest first never reaches past them in practice, and the entry stays small enough to parse on
 * every request.
 */
export const NEARBY_CANDIDATES_MAX = 500;

/** A number given as text: an empty or non-numeric value is refused, not read as 0. */
const coordinate = (name: string, bound: number) =>
  z
    .string()
    .regex(/^-?\d{1,3}(\.\d+)?$/, `${name} must be a decimal number`)
    .transform(Number)
    .pipe(z.number().min(-bound).max(bound))
    .openapi({ type: "string", example: name === "lat" ? "52.37" : "4.89" });

export const NearbyQuery = z.object({
  lat: coordinate("lat", 90),
  lng: coordinate("lng", 180),
  radiusKm: z.coerce.number().gt(0).max(NEARBY_RADIUS_MAX_KM).default(25),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSizeMax).default(20),
  cursor: z.string().max(200).optional(),
});
export type NearbyQueryInput = z.infer<typeof NearbyQuery>;

export const NearbyListSchema = z
  .object({
    items: z.array(EventSchema.extend({ distanceKm: z.number() })),
    nextCursor: z.string().nullable(),
  })
  .openapi("NearbyEventList");

interface Cursor {
  d: number;
  i: string;
}

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(decodeCursorText(raw) ?? "null") as Cursor;
    if (typeof parsed.d === "number" && typeof parsed.i === "string") return parsed;
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

/** The cell holding a point: integer indices, so the key never depends on float formatting. */
export function cellOf(lat: number, lng: number): { row: number; col: number } {
  return { row: Math.floor(lat / NEARBY_CELL_DEG), col: Math.floor(lng / NEARBY_CELL_DEG) };
}

function bucketOf(radiusKm: number): number {
  return RADIUS_BUCKETS_KM.find((bucket) => bucket >= radiusKm) ?? NEARBY_RADIUS_MAX_KM;
}

/**
 * Every upcoming published event within `reachKm` of any point of the cell: the union of the
 * bounding boxes around the cell's corners (a point inside the cell reaches no further in latitude, nor
 * in longitude, whose degrees are shortest at the corner furthest from the equator), the nearest to the cell's centre first.
 */
async function cellCandidates(db: D1Database, cell: { row: number; col: number }, reachKm: number, now: number) {
  const latLow = Math.max(-90, cell.row * NEARBY_CELL_DEG);
  const latHigh = Math.min(90, (cell.row + 1) * NEARBY_CELL_DEG);
  const lngLow = cell.col * NEARBY_CELL_DEG;
  const lngHigh = (cell.col + 1) * NEARBY_CELL_DEG;
  const boxes = [latLow, latHigh].flatMap((lat) => [lngLow, lngHigh].map((lng) => boundingBox(lat, lng, reachKm)));
  const where = ["status = 'published'", "starts_at > ?", "lat BETWEEN ? AND ?"];
  const bindings: unknown[] = [now, Math.min(...boxes.map((b) => b.latMin)), Math.max(...boxes.map((b) => b.latMax))];
  const lngs = boxes.map((b) => b.lng);
  if (lngs.every((lng) => lng !== null)) {
    where.push("lng BETWEEN ? AND ?");
    bindings.push(Math.min(...lngs.map((lng) => lng.min)), Math.max(...lngs.map((lng) => lng.max)));
  }
  const centreLat = (latLow + latHigh) / 2;
  const centreLng = (lngLow + lngHigh) / 2;
  const lngScale = Math.cos((centreLat * Math.PI) / 180);
  const rows = await db
    .prepare(
      `SELECT * FROM events WHERE ${where.join(" AND ")}
       ORDER BY (lat - ?) * (lat - ?) + ((lng - ?) * ?) * ((lng - ?) * ?), id LIMIT ?`,
    )
    .bind(...bindings, centreLat, centreLat, centreLng, lngScale, centreLng, lngScale, NEARBY_CANDIDATES_MAX)
    .all<EventRow>();
  return rows.results;
}

/**
 * GET /api/v1/events/nearby, as the middleware of GET /api/v1/events/{id}: Hono's RegExpRouter cannot
 * hold a static path beside a param path at the same level (both would match "nearby"), and the whole
 * app would fall back to the slower TrieRouter (test/http/router.test.ts). So the `{id}` route hands
 * the id "nearby" (never an event id: ids are random) to this, which validates the query with the
 * documented schema.
 */
export const nearbyByPath: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.param("id") !== "nearby") return next();
  const parsed = NearbyQuery.safeParse(c.req.query());
  if (!parsed.success) {
    const errors = fieldErrors(parsed.error.issues);
    return problem(c, "validation-failed", `${errors.length} field(s) are not valid.`, { errors, in: "query" });
  }
  return c.json(await nearbyEvents(c, parsed.data), 200);
};

/** GET /api/v1/events/nearby: reads the cell's candidates (cached) and answers for the exact point. */
export async function nearbyEvents(c: AppContext, query: NearbyQueryInput) {
  const now = Date.now();
  const after = query.cursor ? decodeCursor(query.cursor) : null;
  const cell = cellOf(query.lat, query.lng);
  const reachKm = bucketOf(query.radiusKm);
  const versions = await readVersions(c.env.DB, [scopes.events]);
  const candidates = await edgeCached(
    c,
    cacheKey("events-nearby", { row: cell.row, col: cell.col, reach: reachKm, events: versions[scopes.events] }),
    EDGE_TTL.nearby,
    () => cellCandidates(c.env.DB, cell, reachKm, now),
  );
  const inRange = candidates
    .filter((row) => row.starts_at > now)
    .map((row) => ({ row, d: distanceKm(query.lat, query.lng, row.lat, row.lng) }))
    .filter(({ d }) => d <= query.radiusKm)
    .sort((a, b) => a.d - b.d || (a.row.id < b.row.id ? -1 : a.row.id > b.row.id ? 1 : 0));
  const start = after ? inRange.filter(({ d, row }) => d > after.d || (d === after.d && row.id > after.i)) : inRange;
  const page = start.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(({ row, d }) => ({ ...toApiEvent(row), distanceKm: Math.round(d * 1000) / 1000 })),
    nextCursor:
      start.length > query.limit && last ? encodeCursorText(JSON.stringify({ d: last.d, i: last.row.id })) : null,
  };
}
