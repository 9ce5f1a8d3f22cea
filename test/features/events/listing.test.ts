/**
 * GET /api/v1/events: published upcoming events by start time, keyset pagination, distance filter.
 * The database is shared with the rest of the suite, so each test runs at its own far-future "now"
 * (fake timers): everything other tests created lies in the past there and is not listed.
 */
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { bearer } from "../auth/helpers";
import { createEvent, DAY, HOUR, hostWithToken } from "./helpers";

type Listed = { id: string; startsAt: string; status: string };
type Page = { items: Listed[]; nextCursor: string | null };

async function list(query: string): Promise<Page> {
  const res = await call(`/api/v1/events${query}`);
  if (res.status !== 200) throw new Error(`list: ${res.status} ${await res.text()}`);
  return (await res.json()) as Page;
}

const at = (ms: number) => new Date(ms).toISOString();
const times = (start: number) => ({ startsAt: at(start), endsAt: at(start + 2 * HOUR) });

describe("GET /api/v1/events", () => {
  it("lists only published upcoming events, ordered by start; cursor pages have no duplicates and no gaps", async () => {
    const t0 = Date.UTC(2095, 0, 1);
    freezeClock(t0);
    const host = await hostWithToken();
    const base = t0 + DAY;
    // Two events share a start time, and the page boundary (limit 3) falls between them.
    const offsets = [0, 1, 2, 2, 4, 5, 6].map((h) => base + h * HOUR);
    const upcoming = [];
    for (const [i, start] of offsets.entries()) {
      const e = await createEvent(host.token, { title: `Listed ${i}`, ...times(start) });
      upcoming.push({ id: e.id, start });
    }
    const startedSoon = await createEvent(host.token, { title: "Starts within the hour", ...times(t0 + HOUR) });
    const draft = await createEvent(host.token, { title: "Draft", ...times(base + 30 * 60 * 1000) }, false);
    const cancelled = await createEvent(host.token, { title: "Cancelled", ...times(base + 90 * 60 * 1000) });
    const cancel = await call(`/api/v1/events/${cancelled.id}/cancel`, { method: "POST", headers: bearer(host.token) });
    expect(cancel.status).toBe(200);

    // Two hours later the first event has started: no longer upcoming.
    setClock(t0 + 2 * HOUR);
    const expected = [...upcoming].sort((a, b) => a.start - b.start || (a.id < b.id ? -1 : 1)).map((e) => e.id);

    const pages: Page[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await list(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      pages.push(page);
      cursor = page.nextCursor;
    } while (cursor && pages.length < 10);

    expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1]);
    expect(pages.at(-1)?.nextCursor).toBeNull();
    const ids = pages.flatMap((p) => p.items.map((e) => e.id));
    expect(ids).toEqual(expected);
    expect(new Set(ids).size).toBe(ids.length);
    for (const excluded of [startedSoon.id, draft.id, cancelled.id]) expect(ids).not.toContain(excluded);
    expect(pages.flatMap((p) => p.items.map((e) => e.status))).toEqual(Array(7).fill("published"));
    const starts = pages.flatMap((p) => p.items.map((e) => Date.parse(e.startsAt)));
    expect(starts).toEqual([...starts].sort((a, b) => a - b));
  });

  it("?near=52.37,4.89&radiusKm=10 includes an Amsterdam event and excludes Berlin (and anything beyond 10 km, even inside the bounding box)", async () => {
    const t0 = Date.UTC(2092, 0, 1);
    freezeClock(t0);
    const host = await hostWithToken();
    const start = t0 + 3 * DAY;
    const venue = (name: string, lat: number, lng: number) => ({ name, address: `${name} 1`, lat, lng });
    const amsterdam = await createEvent(host.token, { ...times(start), venue: venue("Amsterdam", 52.3731, 4.8922) });
    const berlin = await createEvent(host.token, { ...times(start), venue: venue("Berlin", 52.52, 13.405) });
    const utrecht = await createEvent(host.token, { ...times(start), venue: venue("Utrecht", 52.0907, 5.1214) });
    // Inside the 10 km bounding box (its north-east corner) but 12.5 km away: only the exact distance excludes it.
    const corner = await createEvent(host.token, { ...times(start), venue: venue("Corner", 52.45, 5.02) });

    const near10 = (await list("?near=52.37,4.89&radiusKm=10&limit=100")).items.map((e) => e.id);
    expect(near10).toContain(amsterdam.id);
    expect(near10).not.toContain(berlin.id);
    expect(near10).not.toContain(utrecht.id);
    expect(near10).not.toContain(corner.id);

    const near50 = (await list("?near=52.37,4.89&radiusKm=50&limit=100")).items.map((e) => e.id);
    expect(near50).toEqual(expect.arrayContaining([amsterdam.id, utrecht.id, corner.id]));
    expect(near50).not.toContain(berlin.id);

    const everywhere = (await list("?limit=100")).items.map((e) => e.id);
    expect(everywhere).toEqual(expect.arrayContaining([amsterdam.id, berlin.id, utrecht.id]));
  });

  it("refuses radiusKm above 500, a malformed near, a limit above 100 and a malformed cursor with 400", async () => {
    expect((await call("/api/v1/events?near=52.37,4.89&radiusKm=500")).status).toBe(200);
    const cases: [string, string][] = [
      ["?near=52.37,4.89&radiusKm=501", "radiusKm"],
      ["?near=amsterdam", "near"],
      ["?near=91,4.89", "near"],
      ["?limit=101", "limit"],
      ["?cursor=%25%25%25", "cursor"],
      [`?cursor=${encodeURIComponent(btoa("not json"))}`, "cursor"],
      [`?cursor=${encodeURIComponent(btoa('{"s":"x","i":1}'))}`, "cursor"],
      [`?cursor=${encodeURIComponent(btoa("null"))}`, "cursor"],
    ];
    for (const [query, path] of cases) {
      const res = await call(`/api/v1/events${query}`);
      expect(res.status, query).toBe(400);
      const problem = await problemOf(res);
      expect(problem.type).toMatch(/\/validation-failed$/);
      expect(
        (problem.errors as { path: string }[]).map((e) => e.path),
        query,
      ).toContain(path);
    }
  });
});
