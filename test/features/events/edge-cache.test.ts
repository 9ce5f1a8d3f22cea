/**
 * Edge caching of event reads (src/lib/edge-cache.ts): nearby events cached per coarse cell and
 * radius bucket yet exact for the precise point, invalidated by publish, edit and cancel through the
 * `events` version; an event's body cached under its own version with availability read live.
 * Requests go through the Worker's handler with an execution context that the test waits on, so a
 * miss's deferred store has finished before the next request.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { distanceKm } from "../../../src/features/events/listing";
import worker from "../../../src/index";
import { freshIp, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "./helpers";

const KM_PER_DEG = (6371 * Math.PI) / 180;

async function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`https://gatehouse.test${path}`, { headers: { "CF-Connecting-IP": freshIp(), ...headers } }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

type Nearby = { items: { id: string; title: string; distanceKm: number }[]; nextCursor: string | null };

async function nearby(query: string): Promise<{ cache: string | null; body: Nearby }> {
  const res = await get(`/api/v1/events/nearby?${query}`);
  if (res.status !== 200) throw new Error(`nearby: ${res.status} ${await res.text()}`);
  return { cache: res.headers.get("X-Cache"), body: (await res.json()) as Nearby };
}

/** A point of its own in the empty South Pacific, in the middle of a 0.1° cell, so no other test's event is near. */
function somewhere() {
  const lat = -40 - Math.floor(Math.random() * 100) / 10 - 0.05;
  const lng = -140 + Math.floor(Math.random() * 200) / 10 + 0.05;
  return { lat, lng };
}

/** A point `km` north of `p` (a meridian is a great circle). */
const north = (p: { lat: number; lng: number }, km: number) => ({ lat: p.lat + km / KM_PER_DEG, lng: p.lng });

const venue = (p: { lat: number; lng: number }) => ({ venue: { name: "Somewhere", address: "At sea", ...p } });

describe("GET /api/v1/events/nearby", () => {
  it("refuses missing, malformed and out-of-range coordinates and radii (400)", async () => {
    for (const query of [
      "lng=4",
      "lat=52",
      "lat=&lng=4",
      "lat=abc&lng=4",
      "lat=90.01&lng=4",
      "lat=-90.01&lng=4",
      "lat=52&lng=180.5",
      "lat=52&lng=-181",
      "lat=52&lng=4&radiusKm=0",
      "lat=52&lng=4&radiusKm=200.01",
      "lat=52&lng=4&radiusKm=-1",
      "lat=52&lng=4&limit=101",
      "lat=52&lng=4&cursor=nonsense",
    ]) {
      const res = await get(`/api/v1/events/nearby?${query}`);
      expect(res.status, query).toBe(400);
      await problemOf(res);
    }
    for (const query of ["lat=90&lng=180&radiusKm=200", "lat=-90&lng=-180&radiusKm=0.5", "lat=52&lng=4"]) {
      expect((await get(`/api/v1/events/nearby?${query}`)).status, query).toBe(200);
    }
  });

  it("is documented with its query in /openapi.json (it answers through the {id} route)", async () => {
    const doc = (await (await get("/openapi.json")).json()) as {
      paths: Record<string, { get?: { parameters?: { name: string }[] } }>;
    };
    const names = doc.paths["/api/v1/events/nearby"]?.get?.parameters?.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["lat", "lng", "radiusKm", "limit", "cursor"]));
  });

  it("lists upcoming published events within the radius, nearest first, with their distance; drafts and cancelled ones are not listed", async () => {
    const host = await hostWithToken();
    const here = somewhere();
    const near = await createEvent(host.token, { title: "Near", ...venue(north(here, 3)) });
    const far = await createEvent(host.token, { title: "Far", ...venue(north(here, 24.5)) });
    const out = await createEvent(host.token, { title: "Out", ...venue(north(here, 25.5)) });
    const mid = await createEvent(host.token, { title: "Mid", ...venue(north(here, 10)) });
    await createEvent(host.token, { title: "Draft", ...venue(north(here, 1)) }, false);
    const cancelled = await createEvent(host.token, { title: "Cancelled", ...venue(north(here, 2)) });
    await call(`/api/v1/events/${cancelled.id}/cancel`, host.token);

    const { body } = await nearby(`lat=${here.lat}&lng=${here.lng}`);
    expect(body.items.map((e) => e.id)).toEqual([near.id, mid.id, far.id]);
    expect(body.items.map((e) => e.distanceKm)).toEqual([
      expect.closeTo(3, 2),
      expect.closeTo(10, 2),
      expect.closeTo(24.5, 2),
    ]);
    expect(body.nextCursor).toBeNull();
    const wider = await nearby(`lat=${here.lat}&lng=${here.lng}&radiusKm=26`);
    expect(wider.body.items.map((e) => e.id)).toEqual([near.id, mid.id, far.id, out.id]);
  });

  it("a second request is a hit; publishing, editing and cancelling an event nearby each make the next one a miss that shows it", async () => {
    const host = await hostWithToken();
    const here = somewhere();
    const q = `lat=${here.lat}&lng=${here.lng}&radiusKm=20`;
    const first = await createEvent(host.token, { title: "First", ...venue(north(here, 5)) });
    expect((await nearby(q)).cache).toBe("MISS");
    const hit = await nearby(q);
    expect(hit.cache).toBe("HIT");
    expect(hit.body.items.map((e) => e.id)).toEqual([first.id]);

    // Publish: the draft was not listed, the published event is, at once.
    const second = await createEvent(host.token, { title: "Second", ...venue(north(here, 2)) }, false);
    expect((await nearby(q)).body.items.map((e) => e.id)).toEqual([first.id]);
    await call(`/api/v1/events/${second.id}/publish`, host.token);
    const afterPublish = await nearby(q);
    expect(afterPublish.cache).toBe("MISS");
    expect(afterPublish.body.items.map((e) => e.id)).toEqual([second.id, first.id]);
    expect((await nearby(q)).cache).toBe("HIT");

    // Edit: the first event moves out of range.
    const edit = await send(`/api/v1/events/${first.id}`, host.token, "PATCH", {
      version: first.version,
      ...venue(north(here, 40)),
    });
    expect(edit.status).toBe(200);
    const afterEdit = await nearby(q);
    expect(afterEdit.cache).toBe("MISS");
    expect(afterEdit.body.items.map((e) => e.id)).toEqual([second.id]);

    // Cancel: gone.
    await call(`/api/v1/events/${second.id}/cancel`, host.token);
    const afterCancel = await nearby(q);
    expect(afterCancel.cache).toBe("MISS");
    expect(afterCancel.body.items).toEqual([]);
  });

  it("points of one cell share its cached candidates, yet each answer is exact for its own point and radius", async () => {
    const host = await hostWithToken();
    const here = somewhere();
    // Both points lie inside one 0.1° cell (cells start at multiples of 0.1°; `here` is mid-cell).
    const a = { lat: here.lat - 0.04, lng: here.lng };
    const b = { lat: here.lat + 0.04, lng: here.lng };
    const target = north(b, 9.5); // ~9.5 km from b, ~18.4 km from a
    const event = await createEvent(host.token, { title: "Between", ...venue(target) });
    expect(distanceKm(a.lat, a.lng, target.lat, target.lng)).toBeGreaterThan(10);

    const fromB = await nearby(`lat=${b.lat}&lng=${b.lng}&radiusKm=10`);
    expect(fromB.cache).toBe("MISS");
    expect(fromB.body.items.map((e) => e.id)).toEqual([event.id]);
    const fromA = await nearby(`lat=${a.lat}&lng=${a.lng}&radiusKm=10`);
    expect(fromA.cache).toBe("HIT");
    expect(fromA.body.items).toEqual([]);
    const fromA2 = await nearby(`lat=${a.lat}&lng=${a.lng}&radiusKm=9.9`);
    expect(fromA2.cache).toBe("HIT");
    expect(fromA2.body.items).toEqual([]);
    const wide = await nearby(`lat=${a.lat}&lng=${a.lng}&radiusKm=19`);
    expect(wide.body.items.map((e) => [e.id, e.distanceKm])).toEqual([
      [event.id, expect.closeTo(distanceKm(a.lat, a.lng, target.lat, target.lng), 2)],
    ]);
  });

  it("the cursor pages through every event once, nearest first", async () => {
    const host = await hostWithToken();
    const here = somewhere();
    const ids: string[] = [];
    for (const km of [1, 2, 3, 4, 5]) {
      ids.push((await createEvent(host.token, { title: `At ${km}`, ...venue(north(here, km)) })).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: Nearby } = await nearby(
        `lat=${here.lat}&lng=${here.lng}&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      seen.push(...page.body.items.map((e) => e.id));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids);
  });

  it("events at the same distance come in id order, and the cursor pages through the tie losing and repeating none", async () => {
    const host = await hostWithToken();
    const here = somewhere();
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4, 5]) {
      ids.push((await createEvent(host.token, { title: `Same place ${n}`, ...venue(here) })).id);
    }
    // Another test's random point may lie near this one: only this test's events are judged.
    const mine: { id: string; distanceKm: number }[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: { body: Nearby } = await nearby(
        `lat=${here.lat}&lng=${here.lng}&radiusKm=0.5&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      mine.push(...page.body.items.filter((e) => ids.includes(e.id)));
      cursor = page.body.nextCursor;
      pages += 1;
    } while (cursor && pages < 20);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(mine.map((e) => e.distanceKm)).toEqual([0, 0, 0, 0, 0]);
    expect(mine.map((e) => e.id)).toEqual([...ids].sort());
  });
});

describe("GET /api/v1/events/:id cached body, live availability", () => {
  it("a second read is a hit whose availability is still live; an edit makes the next read a miss with the new title", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { title: "Before", capacity: 10 });
    const first = await get(`/api/v1/events/${event.id}`);
    expect(first.headers.get("X-Cache")).toBe("MISS");
    const second = await get(`/api/v1/events/${event.id}`);
    expect(second.headers.get("X-Cache")).toBe("HIT");
    expect(((await second.json()) as { availability: { sold: number } }).availability.sold).toBe(0);

    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");
    expect((await order(event.id, buyer.token)).status).toBe(201);
    const afterSale = await get(`/api/v1/events/${event.id}`);
    expect(afterSale.headers.get("X-Cache")).toBe("HIT");
    expect(((await afterSale.json()) as { availability: { sold: number; remaining: number } }).availability).toEqual({
      capacity: 10,
      sold: 1,
      held: 0,
      remaining: 9,
    });

    const edit = await send(`/api/v1/events/${event.id}`, host.token, "PATCH", {
      version: event.version,
      title: "After",
    });
    expect(edit.status).toBe(200);
    const afterEdit = await get(`/api/v1/events/${event.id}`);
    expect(afterEdit.headers.get("X-Cache")).toBe("MISS");
    expect(((await afterEdit.json()) as { title: string }).title).toBe("After");
    const again = await get(`/api/v1/events/${event.id}`);
    expect(again.headers.get("X-Cache")).toBe("HIT");
    expect(((await again.json()) as { title: string }).title).toBe("After");
  });

  it("a draft cached by its host's read is still 404 for anyone else; an unknown id is 404 and stores nothing", async () => {
    const host = await hostWithToken();
    const draft = await createEvent(host.token, { title: "Secret" }, false);
    expect((await get(`/api/v1/events/${draft.id}`, bearer(host.token))).status).toBe(200);
    const mine = await get(`/api/v1/events/${draft.id}`, bearer(host.token));
    expect(mine.headers.get("X-Cache")).toBe("HIT");
    const anon = await get(`/api/v1/events/${draft.id}`);
    expect(anon.status).toBe(404);
    const unknown = `nope-${crypto.randomUUID()}`;
    expect((await get(`/api/v1/events/${unknown}`)).status).toBe(404);
    const res = await get(`/api/v1/events/${unknown}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("X-Cache")).toBeNull();
  });
});

async function send(path: string, token: string, method: string, payload?: unknown): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`https://gatehouse.test${path}`, {
      method,
      headers: { ...bearer(token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

async function call(path: string, token: string): Promise<void> {
  const res = await send(path, token, "POST");
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}
