/** Creating events: who may, the field boundaries, sanitising, and the server-side defaults. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, d1Event, eventBody, HOUR, hostWithToken } from "./helpers";

function postEvent(token: string | null, overrides: Record<string, unknown> = {}) {
  return call("/api/v1/events", {
    method: "POST",
    headers: { ...(token ? bearer(token) : {}), "Content-Type": "application/json" },
    body: JSON.stringify(eventBody(overrides)),
  });
}

async function created(res: Response) {
  if (res.status !== 201) throw new Error(`expected 201, got ${res.status}: ${await res.text()}`);
  return (await res.json()) as Record<string, unknown> & { id: string };
}

/** Asserts a 400 validation-failed naming `path`, and returns the problem. */
async function rejectedAt(res: Response, path: string) {
  expect(res.status).toBe(400);
  const problem = await problemOf(res);
  expect(problem.type).toMatch(/\/validation-failed$/);
  expect((problem.errors as { path: string }[]).map((e) => e.path)).toContain(path);
  return problem;
}

async function eventsOf(hostId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE host_id = ?")
    .bind(hostId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

describe("POST /api/v1/events: who may create", () => {
  it("anonymous callers get 401 and users without the host role get 403; nothing is stored", async () => {
    const anonymous = await postEvent(null);
    expect(anonymous.status).toBe(401);
    expect((await problemOf(anonymous)).type).toMatch(/\/unauthorized$/);

    const [attendee] = await buyers(1);
    if (!attendee) throw new Error("no attendee");
    const forbidden = await postEvent(attendee.token);
    expect(forbidden.status).toBe(403);
    expect((await problemOf(forbidden)).type).toMatch(/\/forbidden$/);
    expect(await eventsOf(attendee.id)).toBe(0);
  });

  it("a host creates a draft owned by them; status, hostId, id and version in the body are ignored", async () => {
    const host = await hostWithToken();
    const event = await created(
      await postEvent(host.token, { status: "published", hostId: "someone-else", id: "chosen-id", version: 7 }),
    );
    expect(event).toMatchObject({ status: "draft", hostId: host.id, version: 1 });
    expect(event.id).not.toBe("chosen-id");
    expect(await d1Event(event.id)).toMatchObject({ status: "draft", host_id: host.id, version: 1 });
  });
});

describe("POST /api/v1/events: field boundaries", () => {
  it("title: 200 characters are accepted, 201 are refused at path title", async () => {
    const host = await hostWithToken();
    expect((await created(await postEvent(host.token, { title: "t".repeat(200) }))).title).toBe("t".repeat(200));
    await rejectedAt(await postEvent(host.token, { title: "t".repeat(201) }), "title");
    await rejectedAt(await postEvent(host.token, { title: "   " }), "title");
    expect(await eventsOf(host.id)).toBe(1);
  });

  it("description: 20,000 characters are accepted, 20,001 are refused", async () => {
    const host = await hostWithToken();
    await created(await postEvent(host.token, { description: "d".repeat(20_000) }));
    await rejectedAt(await postEvent(host.token, { description: "d".repeat(20_001) }), "description");
    expect(await eventsOf(host.id)).toBe(1);
  });

  it("description HTML is sanitised before it is stored: scripts removed, links get rel=nofollow noopener ugc", async () => {
    const host = await hostWithToken();
    const event = await created(
      await postEvent(host.token, {
        description:
          '<p>Doors <b>early</b></p><script>alert("x")</script><a href="https://example.com/map">map</a>' +
          '<a href="javascript:alert(1)">bad</a><img src=x onerror="alert(2)">',
      }),
    );
    const stored = String((await d1Event(event.id))?.description);
    expect(stored).toBe(event.description);
    expect(stored).toContain("<p>Doors <b>early</b></p>");
    expect(stored).not.toMatch(/<script|alert\("x"\)|javascript:|onerror|<img/i);
    expect(stored).toContain('<a href="https://example.com/map" rel="nofollow noopener ugc">map</a>');
  });

  it("endsAt must be after startsAt (equal or earlier is refused at path endsAt); a start in the past is refused", async () => {
    const host = await hostWithToken();
    const start = Date.now() + 7 * 24 * HOUR;
    const at = (ms: number) => new Date(ms).toISOString();
    await rejectedAt(await postEvent(host.token, { startsAt: at(start), endsAt: at(start) }), "endsAt");
    await rejectedAt(await postEvent(host.token, { startsAt: at(start), endsAt: at(start - HOUR) }), "endsAt");
    await rejectedAt(await postEvent(host.token, { startsAt: at(Date.now() - HOUR), endsAt: at(start) }), "startsAt");
    await created(await postEvent(host.token, { startsAt: at(start), endsAt: at(start + 1000) }));
    expect(await eventsOf(host.id)).toBe(1);
  });

  it("capacity: 0 and 1,000,001 are refused; 1 and 1,000,000 are accepted", async () => {
    const host = await hostWithToken();
    await rejectedAt(await postEvent(host.token, { capacity: 0 }), "capacity");
    await rejectedAt(await postEvent(host.token, { capacity: 1_000_001 }), "capacity");
    await rejectedAt(await postEvent(host.token, { capacity: 2.5 }), "capacity");
    expect((await created(await postEvent(host.token, { capacity: 1 }))).capacity).toBe(1);
    const big = await created(await postEvent(host.token, { capacity: 1_000_000 }));
    expect(big.capacity).toBe(1_000_000);
    expect((await d1Event(big.id))?.capacity).toBe(1_000_000);
    expect(await eventsOf(host.id)).toBe(2);
  });

  it("a paid price below the currency's Stripe minimum is refused at path price (EUR 49); the minimum itself is accepted", async () => {
    const host = await hostWithToken();
    await rejectedAt(await postEvent(host.token, { price: 49, currency: "EUR" }), "price");
    await rejectedAt(await postEvent(host.token, { price: 1, currency: "EUR" }), "price");
    await rejectedAt(await postEvent(host.token, { price: 299, currency: "SEK" }), "price");
    expect((await created(await postEvent(host.token, { price: 50, currency: "EUR" }))).price).toBe(50);
    expect((await created(await postEvent(host.token, { price: 0, currency: "EUR" }))).price).toBe(0);
    expect(await eventsOf(host.id)).toBe(2);
  });
});

describe("POST /api/v1/events: server-side defaults", () => {
  it("perUserLimit defaults to 1 for free events and 10 for paid ones; an explicit value wins", async () => {
    const host = await hostWithToken();
    const free = await created(await postEvent(host.token, { price: 0 }));
    const paid = await created(await postEvent(host.token, { price: 1500 }));
    const chosen = await created(await postEvent(host.token, { price: 0, perUserLimit: 4 }));
    expect([free.perUserLimit, paid.perUserLimit, chosen.perUserLimit]).toEqual([1, 10, 4]);
    expect((await d1Event(paid.id))?.per_user_limit).toBe(10);
  });

  it("the check-in window defaults to 2 hours before the start until the end", async () => {
    const host = await hostWithToken();
    const body = eventBody();
    const event = await created(await postEvent(host.token, body));
    expect(event.checkInOpensAt).toBe(new Date(Date.parse(body.startsAt) - 2 * HOUR).toISOString());
    expect(event.checkInClosesAt).toBe(new Date(Date.parse(body.endsAt)).toISOString());
    const row = await d1Event(event.id);
    expect(row?.check_in_opens_at).toBe(Date.parse(event.startsAt as string) - 2 * HOUR);
    expect(row?.check_in_closes_at).toBe(Date.parse(event.endsAt as string));
  });
});
