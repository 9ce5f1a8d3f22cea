/**
 * The public event listing: published upcoming events by start time, keyset-paginated with an
 * opaque cursor, optionally narrowed to a radius around a point (great-circle distance).
 */

import { decodeCursor as decodeCursorText, encodeCursor as encodeCursorText } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { type EventRow, type EventsDeps, toApiEvent } from "./service";

interface Cursor {
  s: number;
  i: string;
}

function encodeCursor(c: Cursor): string {
  return encodeCursorText(JSON.stringify(c));
}

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = JSON.parse(decodeCursorText(raw) ?? "null") as Cursor;
    if (typeof parsed.s === "number" && typeof parsed.i === "string") return parsed;
  } catch {
    // fall through
  }
  throw invalidCursorError();
}

const EARTH_RADIUS_KM = 6371;

export function distanceKm(aLat: number, aLng: number, bLat: number, bLng: number): number {
  const rad = Math.PI / 180;
  const dLat = (bLat - aLat) * rad;
  const dLng = (bLng - aLng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(aLat * rad) * Math.cos(bLat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Degrees of latitude and longitude spanning `radiusKm` around a point: the SQL prefilter of a distance search. */
export interface BoundingBox {
  latMin: number;
  latMax: number;
  /** Null when the box crosses the antimeridian: every longitude is then a candidate. */
  lng: { min: number; max: number } | null;
}

export function boundingBox(lat: number, lng: number, radiusKm: number): BoundingBox {
  const dLat = radiusKm / 111.32;
  const dLng = radiusKm / (111.32 * Math.max(0.01, Math.cos((lat * Math.PI) / 180)));
  return {
    latMin: lat - dLat,
    latMax: lat + dLat,
    lng: lng - dLng >= -180 && lng + dLng <= 180 ? { min: lng - dLng, max: lng + dLng } : null,
  };
}

/**
 * Published upcoming events by start time, keyset-paginated on (starts_at, id). `near` narrows by a
 * bounding box in SQL and the exact great-circle distance here; a page may then hold fewer than
 * `limit` items while `nextCursor` still continues the scan.
 */
export async function listEvents(
  deps: EventsDeps,
  query: { limit: number; cursor?: string; near?: string; radiusKm: number },
) {
  const now = deps.now ?? Date.now();
  const where = ["status = 'published'", "starts_at > ?"];
  const bindings: unknown[] = [now];
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    where.push("(starts_at > ? OR (starts_at = ? AND id > ?))");
    bindings.push(c.s, c.s, c.i);
  }
  let center: [number, number] | null = null;
  if (query.near) {
    const [lat, lng] = query.near.split(",").map(Number) as [number, number];
    if (Math.abs(lat) > 90 || Math.abs(lng) > 180) {
      throw new DomainError("validation-failed", "near is out of range.", {
        errors: [{ path: "near", message: "lat must be within ±90 and lng within ±180" }],
      });
    }
    center = [lat, lng];
    const box = boundingBox(lat, lng, query.radiusKm);
    where.push("lat BETWEEN ? AND ?");
    bindings.push(box.latMin, box.latMax);
    if (box.lng) {
      where.push("lng BETWEEN ? AND ?");
      bindings.push(box.lng.min, box.lng.max);
    }
  }
  const rows = await deps.db
    .prepare(`SELECT * FROM events WHERE ${where.join(" AND ")} ORDER BY starts_at, id LIMIT ?`)
    .bind(...bindings, query.limit + 1)
    .all<EventRow>();
  const page = rows.results.slice(0, query.limit);
  const more = rows.results.length > query.limit;
  const last = page[page.length - 1];
  const items = center ? page.filter((r) => distanceKm(center[0], center[1], r.lat, r.lng) <= query.radiusKm) : page;
  return {
    items: items.map(toApiEvent),
    nextCursor: more && last ? encodeCursor({ s: last.starts_at, i: last.id }) : null,
  };
}
