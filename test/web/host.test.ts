/**
 * The host pages: /host (events or the offer to become a host), the event form with the API's
 * messages next to its inputs, version conflicts, publish and cancel, the event's live page (the
 * API's figures, its WebSocket, the tickets-by-day chart), gate devices paired by QR and revoked at
 * once, and the page budget. Forms are submitted with the values the page rendered, as a browser would.
 */
import { env } from "cloudflare:workers";
import { encode } from "uqr";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import { LIMITS } from "../../src/config/limits";
import { signAccessToken } from "../../src/features/auth/tokens";
import { CHART_MAX_DAYS } from "../../src/web/pages/host/chart";
import { DELIVERIES_PER_PAGE } from "../../src/web/pages/host/deliveries";
import { HOST_PAGE_SIZE } from "../../src/web/pages/host/home";
import { fromWallClock, toMinorUnits, toWallClock } from "../../src/web/pages/host/units";
import { bearer, createUser } from "../features/auth/helpers";
import { buyers, createEvent, DAY, eventBody, HOUR, order } from "../features/events/helpers";
import { deviceAuth, issueTickets, qrToken, registerDevice, scan, scanBody } from "../features/gate/helpers";
import { subscribe } from "../features/webhooks/harness";
import { call } from "../helpers";
import { Browser, ORIGIN, type Page, textOf } from "./browser";
import { decode, type EventDbRow, eventForm, eventRow, fieldError, nextYear, signedIn } from "./host-helpers";

// ---------------------------------------------------------------- helpers

/** The fields a browser would submit from the form posting to `action`, as the page rendered them. */
function formFields(html: string, action: string): Record<string, string> {
  const start = html.indexOf(`action="${action}"`);
  expect(start, `form ${action}`).toBeGreaterThan(-1);
  const form = html.slice(start, html.indexOf("</form>", start));
  const fields: Record<string, string> = {};
  for (const tag of form.match(/<input\b[^>]*>/g) ?? []) {
    const name = /\sname="([^"]*)"/.exec(tag)?.[1];
    if (!name || name === "_csrf") continue;
    if (/type="(radio|checkbox)"/.test(tag) && !/\schecked=""/.test(tag)) continue;
    fields[name] = decode(/\svalue="([^"]*)"/.exec(tag)?.[1] ?? "");
  }
  for (const [, name = "", value = ""] of form.matchAll(
    /<textarea\b[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/textarea>/g,
  )) {
    fields[name] = decode(value);
  }
  for (const [, name = "", options = ""] of form.matchAll(/<select\b[^>]*name="([^"]*)"[^>]*>([\s\S]*?)<\/select>/g)) {
    fields[name] = decode(/<option value="([^"]*)" selected=""/.exec(options)?.[1] ?? "");
  }
  return fields;
}

async function eventsOf(hostId: string) {
  const { results } = await env.DB.prepare("SELECT * FROM events WHERE host_id = ?").bind(hostId).all<EventDbRow>();
  return results;
}

/** The API's field errors for a create body, by path. */
async function apiErrors(token: string, body: unknown): Promise<Record<string, string>> {
  const res = await call("/api/v1/events", {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(400);
  const problem = (await res.json()) as { errors: { path: string; message: string }[] };
  return Object.fromEntries(problem.errors.map((e) => [e.path, e.message]));
}

/** The dark modules of the page's QR code, read back from its path of horizontal runs ("M4,4h7v1h-7z"). */
function qrModules(svg: string): boolean[][] {
  const size = Number(/viewBox="0 0 (\d+) \1"/.exec(svg)?.[1]);
  const grid = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  const d = /<path[^>]* d="([^"]+)"/.exec(svg)?.[1] ?? "";
  expect(d.replace(/M(\d+),(\d+)h(\d+)v1h-\3z/g, ""), "path made of runs only").toBe("");
  for (const [, x, y, run] of d.matchAll(/M(\d+),(\d+)h(\d+)v1h-\3z/g)) {
    for (let i = 0; i < Number(run); i++) (grid[Number(y)] as boolean[])[Number(x) + i] = true;
  }
  return grid;
}

const stat = (html: string, name: string) =>
  Number(new RegExp(`data-stat="${name}">(\\d+)<`).exec(html)?.[1] ?? Number.NaN);
const figure = (html: string, name: string) =>
  decode(new RegExp(`data-figure="${name}">([^<]*)<`).exec(html)?.[1] ?? "");

/** Bytes of the page's HTML plus every stylesheet and script it references. */
async function pageWeight(page: Page): Promise<number> {
  const assets = [
    ...page.html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g),
    ...page.html.matchAll(/<script[^>]* src="([^"]+)"/g),
  ].map((m) => m[1] as string);
  let total = new TextEncoder().encode(page.html).length;
  for (const asset of new Set(assets)) {
    const res = await call(asset);
    expect(res.status, asset).toBe(200);
    total += (await res.arrayBuffer()).byteLength;
  }
  return total;
}

// ---------------------------------------------------------------- the units a host types

describe("what a host types", () => {
  it("reads wall-clock times in the event's zone, across summer time, and refuses dates that do not exist", () => {
    expect(fromWallClock("2027-07-14T19:00", "Europe/Amsterdam")).toBe(Date.UTC(2027, 6, 14, 17, 0));
    expect(fromWallClock("2027-01-14T19:00", "Europe/Amsterdam")).toBe(Date.UTC(2027, 0, 14, 18, 0));
    expect(fromWallClock("2027-07-14T19:00", "America/New_York")).toBe(Date.UTC(2027, 6, 14, 23, 0));
    expect(fromWallClock("2027-03-28T01:30", "Europe/Amsterdam")).toBe(Date.UTC(2027, 2, 28, 0, 30));
    expect(fromWallClock("2027-02-30T10:00", "UTC")).toBeNull();
    expect(fromWallClock("tomorrow", "UTC")).toBeNull();
    expect(toWallClock(Date.UTC(2027, 6, 14, 17, 0), "Europe/Amsterdam")).toBe("2027-07-14T19:00");
    expect(toWallClock(Date.UTC(2027, 6, 14, 17, 0), "Asia/Tokyo")).toBe("2027-07-15T02:00");
  });

  it("turns a price in major units into minor units with the currency's own decimals", () => {
    expect(toMinorUnits("12.50", "EUR")).toEqual({ value: 1250 });
    expect(toMinorUnits("12,5", "EUR")).toEqual({ value: 1250 });
    expect(toMinorUnits("0", "USD")).toEqual({ value: 0 });
    expect(toMinorUnits("1500", "JPY")).toEqual({ value: 1500 });
    expect(toMinorUnits("12.505", "EUR")).toEqual({ error: "use at most 2 decimal places in EUR" });
    expect(toMinorUnits("15.5", "JPY")).toEqual({ error: "JPY has no decimal places" });
    expect(toMinorUnits("-3", "EUR")).toHaveProperty("error");
  });
});

// ---------------------------------------------------------------- /host

describe("/host", () => {
  it("sends a signed-out visitor to sign in, and offers a signed-in attendee the host role", async () => {
    const away = await new Browser().get("/host");
    expect(away.status).toBe(303);
    expect(away.location).toBe("/login?next=%2Fhost");

    const { user, browser } = await signedIn({ roles: ["attendee"] });
    const offer = await browser.get("/host");
    expect(offer.status).toBe(200);
    expect(textOf(offer.html)).toContain("Become a host");
    expect(offer.html).toContain('action="/host/become"');
    expect((await browser.get("/host/new-event")).status).toBe(403);

    const become = await browser.submit("/host/become", {});
    expect(become.status).toBe(303);
    expect(become.location).toBe("/host?notice=host");
    const roles = await env.DB.prepare("SELECT roles FROM users WHERE id = ?").bind(user.id).first<{ roles: string }>();
    expect(JSON.parse(roles?.roles ?? "[]")).toContain("host");
    const home = await browser.get("/host?notice=host");
    expect(textOf(home.html)).toContain("You are a host now");
    expect(home.html).toContain('href="/host/new-event"');
  });

  it("tells an account whose email is not verified to verify it first, and grants nothing", async () => {
    const user = await createUser({ verified: false });
    const sid = crypto.randomUUID();
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'password', ?, ?, ?)",
    )
      .bind(sid, user.id, now, now, now + DAY)
      .run();
    const browser = new Browser();
    browser.cookies.set(
      "__Host-access",
      await signAccessToken(getConfig(env).jwtKeys, { sub: user.id, sid, epoch: 0 }),
    );
    await browser.get("/host");
    const refused = await browser.submit("/host/become", {});
    expect(refused.status).toBe(403);
    expect(refused.html).toContain('role="alert"');
    expect(textOf(refused.html)).toContain("Verify your email address before hosting events");
    const roles = await env.DB.prepare("SELECT roles FROM users WHERE id = ?").bind(user.id).first<{ roles: string }>();
    expect(JSON.parse(roles?.roles ?? "[]")).toEqual(["attendee"]);
  });

  it("lists the host's own events of every status with their badges, newest first", async () => {
    const { token, browser } = await signedIn();
    const draft = await createEvent(token, { title: "Draft Night" }, false);
    const live = await createEvent(token, { title: "Live Night" });
    const gone = await createEvent(token, { title: "Gone Night" });
    await call(`/api/v1/events/${gone.id}/cancel`, { method: "POST", headers: bearer(token) });
    const other = await signedIn();
    await createEvent(other.token, { title: "Someone Else's" }, false);

    const page = await browser.get("/host");
    const text = textOf(page.html);
    for (const [title, badge] of [
      ["Draft Night", "Draft"],
      ["Live Night", "Published"],
      ["Gone Night", "Cancelled"],
    ]) {
      expect(text).toMatch(new RegExp(`${title} ${badge}`));
    }
    expect(text).not.toContain("Someone Else's");
    expect(text.indexOf("Gone Night")).toBeLessThan(text.indexOf("Draft Night"));
    expect(page.html).toContain(`href="/host/events/${draft.id}"`);
    expect(page.html).toContain(`href="/host/events/${live.id}/edit"`);
    expect(page.html).not.toContain(`href="/host/events/${gone.id}/edit"`);
  });

  it("pages a long list by creation time: every event once, in order, across pages", async () => {
    const { user, token, browser } = await signedIn();
    const first = await createEvent(token, { title: "Event 00" }, false);
    // Copies of it, created a minute apart (the list's order); two share a moment, so the id breaks the tie.
    const copies = Array.from({ length: HOST_PAGE_SIZE + 5 }, (_, i) => i + 1);
    await env.DB.batch(
      copies.map((i) =>
        env.DB.prepare(
          `INSERT INTO events SELECT ?, host_id, ?, description, starts_at, ends_at, timezone, venue_name, venue_address,
             lat, lng, capacity, price, currency, per_user_limit, sales_start_at, sales_end_at, check_in_opens_at,
             check_in_closes_at, cover_media_id, status, version, ?, updated_at, published_at, cancelled_at,
             queue_mode, queue_admit_per_second, contacts_purged_at
           FROM events WHERE id = ?`,
        ).bind(
          `copy-${String(i).padStart(2, "0")}`,
          `Event ${String(i).padStart(2, "0")}`,
          Date.now() + Math.min(i, 29) * 60_000,
          first.id,
        ),
      ),
    );
    const titles: string[] = [];
    let path: string | null = "/host";
    let pages = 0;
    while (path) {
      const page = await browser.get(path);
      expect(page.status).toBe(200);
      titles.push(
        ...[...page.html.matchAll(/<h2><a href="\/host\/events\/[^"]+">([^<]+)<\/a><\/h2>/g)].map((m) => m[1] ?? ""),
      );
      path = decode(/<a href="(\/host\?before=[^"]+)">Older events<\/a>/.exec(page.html)?.[1] ?? "") || null;
      pages += 1;
    }
    expect(pages).toBe(2);
    const expected = (await eventsOf(user.id))
      .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? 1 : -1))
      .map((e) => e.title);
    expect(titles).toHaveLength(HOST_PAGE_SIZE + 6);
    expect(titles).toEqual(expected);
    expect(titles.slice(0, 3)).toEqual(["Event 30", "Event 29", "Event 28"]);
    expect(titles.at(-1)).toBe("Event 00");
  });
});

// ---------------------------------------------------------------- the event form

describe("the event form", () => {
  it("shows the API's message next to each invalid input and creates nothing", async () => {
    const { user, browser, token } = await signedIn();
    await browser.get("/host/new-event");
    const page = await browser.submit(
      "/host/new-event",
      eventForm({
        title: "",
        "venue.lat": "95",
        capacity: "0",
        perUserLimit: "500",
        timezone: "Mars/Olympus",
        price: "12.505",
      }),
    );
    expect(page.status).toBe(400);
    const api = await apiErrors(
      token,
      eventBody({ venue: { ...eventBody().venue, lat: 95 }, capacity: 0, perUserLimit: 500, timezone: "Mars/Olympus" }),
    );
    expect(fieldError(page.html, "venue.lat")).toBe(api["venue.lat"]);
    expect(fieldError(page.html, "capacity")).toBe(api.capacity);
    expect(fieldError(page.html, "perUserLimit")).toBe(api.perUserLimit);
    expect(fieldError(page.html, "timezone")).toBe(api.timezone);
    expect(api.timezone).toBe("must be an IANA time zone");
    expect(fieldError(page.html, "title")).toBe("is required");
    expect(fieldError(page.html, "price")).toBe("use at most 2 decimal places in EUR");
    expect(fieldError(page.html, "venue.lng")).toBeNull();
    // The summary names every problem and links to its input; what was typed stays in the form.
    expect(textOf(page.html)).toContain("6 fields need attention; nothing was saved.");
    expect(page.html).toContain('href="#f-venue-lat"');
    expect(formFields(page.html, "/host/new-event")["venue.address"]).toBe("Kade 1, Amsterdam");

    // Rules across fields are the service's: the same check as the API's, in the form's units.
    const crossed = await browser.submit(
      "/host/new-event",
      eventForm({ endsAt: `${nextYear}-07-14T18:00`, price: "0.10" }),
    );
    expect(crossed.status).toBe(400);
    const apiCrossed = await apiErrors(token, eventBody({ endsAt: eventBody().startsAt, price: 10 }));
    expect(fieldError(crossed.html, "endsAt")).toBe(apiCrossed.endsAt);
    expect(apiCrossed.price).toBe("must be 0 or at least 50 in EUR");
    expect(fieldError(crossed.html, "price")).toBe("must be 0 or at least €0.50");
    expect(await eventsOf(user.id)).toEqual([]);
  });

  it("creates a draft from valid fields (times in the event's zone, price in major units) and lists it", async () => {
    const { user, browser } = await signedIn();
    await browser.get("/host/new-event");
    const created = await browser.submit("/host/new-event", eventForm());
    expect(created.status).toBe(303);
    const [row] = await eventsOf(user.id);
    expect(created.location).toBe(`/host/events/${row?.id}?notice=created`);
    const start = Date.UTC(nextYear, 6, 14, 17, 0);
    expect(row).toMatchObject({
      title: "Harbour Lights",
      status: "draft",
      starts_at: start,
      ends_at: start + 4 * HOUR,
      price: 1250,
      currency: "EUR",
      per_user_limit: 10,
      lat: 52.37,
      sales_start_at: null,
      check_in_opens_at: start - 2 * HOUR,
      check_in_closes_at: start + 4 * HOUR,
    });
    const home = await browser.get("/host");
    expect(textOf(home.html)).toMatch(/Harbour Lights Draft/);

    const yen = await browser.submit(
      "/host/new-event",
      eventForm({ title: "Tokyo Nights", currency: "JPY", price: "1500", timezone: "Asia/Tokyo" }),
    );
    expect(yen.status).toBe(303);
    const tokyo = (await eventsOf(user.id)).find((e) => e.title === "Tokyo Nights");
    expect(tokyo).toMatchObject({ price: 1500, currency: "JPY", starts_at: Date.UTC(nextYear, 6, 14, 10, 0) });
  });

  it("an edit from a stale version shows the conflict and the saved event, and changes nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "First Title", price: 1250, currency: "EUR" }, false);
    const form = await browser.get(`/host/events/${event.id}/edit`);
    expect(form.status).toBe(200);
    const fields = formFields(form.html, `/host/events/${event.id}/edit`);
    expect(fields).toMatchObject({ title: "First Title", version: "1", price: "12.50", currency: "EUR" });
    const saved = await eventRow(event.id);
    expect(fields.startsAt).toBe(toWallClock(saved?.starts_at ?? 0, "Europe/Amsterdam"));

    const meanwhile = await call(`/api/v1/events/${event.id}`, {
      method: "PATCH",
      headers: { ...bearer(token), "Content-Type": "application/json" },
      body: JSON.stringify({ title: "Changed Elsewhere", version: 1 }),
    });
    expect(meanwhile.status).toBe(200);

    const stale = await browser.submit(`/host/events/${event.id}/edit`, { ...fields, title: "From The Page" });
    expect(stale.status).toBe(409);
    expect(textOf(stale.html)).toContain("changed elsewhere while you were editing, so nothing you entered was saved");
    const shown = formFields(stale.html, `/host/events/${event.id}/edit`);
    expect(shown).toMatchObject({ title: "Changed Elsewhere", version: "2" });
    expect(await eventRow(event.id)).toMatchObject({ title: "Changed Elsewhere", version: 2 });

    // Made again on the version now shown, the edit goes through.
    const again = await browser.submit(`/host/events/${event.id}/edit`, {
      ...shown,
      title: "From The Page",
      capacity: "75",
    });
    expect(again.status).toBe(303);
    expect(again.location).toBe(`/host/events/${event.id}?notice=saved`);
    expect(await eventRow(event.id)).toMatchObject({ title: "From The Page", version: 3, price: 1250 });
  });

  it("publishes a draft, and cancels only after the confirmation that states what cancelling does", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Lifecycle", perUserLimit: 2 }, false);
    const draft = await browser.get(`/host/events/${event.id}`);
    expect(draft.html).toContain(`action="/host/events/${event.id}/publish"`);
    const published = await browser.submit(`/host/events/${event.id}/publish`, {});
    expect(published.status).toBe(303);
    expect((await eventRow(event.id))?.status).toBe("published");
    expect(textOf((await browser.get(published.location ?? "")).html)).toContain("Published: the event is listed");

    const [buyer] = await buyers(1);
    expect((await order(event.id, buyer?.token ?? "", 2)).status).toBe(201);
    const confirm = await browser.get(`/host/events/${event.id}/cancel`);
    expect(confirm.status).toBe(200);
    expect(figure(confirm.html, "sold")).toBe("2");
    expect(figure(confirm.html, "payments")).toBe("0");
    expect(textOf(confirm.html)).toContain("every ticket holder is emailed");

    const unconfirmed = await browser.submit(`/host/events/${event.id}/cancel`, {});
    expect(unconfirmed.status).toBe(400);
    expect(textOf(unconfirmed.html)).toContain("nothing was cancelled");
    expect((await eventRow(event.id))?.status).toBe("published");

    const cancelled = await browser.submit(`/host/events/${event.id}/cancel`, { confirm: "yes" });
    expect(cancelled.status).toBe(303);
    expect((await eventRow(event.id))?.status).toBe("cancelled");
    const api = await call(`/api/v1/events/${event.id}`);
    expect(((await api.json()) as { availability: { sold: number } }).availability.sold).toBe(0);
    const after = await browser.get(`/host/events/${event.id}`);
    expect(textOf(after.html)).toContain("Cancelled");
    expect(after.html).not.toContain(`/host/events/${event.id}/edit`);
    expect(after.html).not.toContain("data-live-url");

    const republish = await browser.submit(`/host/events/${event.id}/publish`, {});
    expect(republish.status).toBe(409);
    expect(textOf(republish.html)).toContain("A cancelled event cannot be published.");
  });

  it("another host gets what the API answers: 404 for a draft's pages, 403 once it is public", async () => {
    const owner = await signedIn();
    const event = await createEvent(owner.token, { title: "Not Yours" }, false);
    const other = await signedIn();
    await other.browser.get("/host");
    for (const path of [
      `/host/events/${event.id}`,
      `/host/events/${event.id}/edit`,
      `/host/events/${event.id}/cancel`,
    ]) {
      const page = await other.browser.get(path);
      expect(page.status, path).toBe(404);
      expect(textOf(page.html)).not.toContain("Not Yours");
    }
    expect((await other.browser.submit(`/host/events/${event.id}/publish`, {})).status).toBe(404);
    expect(
      (await other.browser.submit(`/host/events/${event.id}/devices`, { name: "Mine", role: "steward" })).status,
    ).toBe(404);
    expect((await other.browser.submit(`/host/events/${event.id}/edit`, { ...eventForm(), version: "1" })).status).toBe(
      404,
    );
    expect(await eventRow(event.id)).toMatchObject({ status: "draft", title: "Not Yours", version: 1 });

    await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(owner.token) });
    const api = await call(`/api/v1/events/${event.id}/analytics`, { headers: bearer(other.token) });
    expect(api.status).toBe(403);
    expect((await other.browser.get(`/host/events/${event.id}`)).status).toBe(403);
    expect((await other.browser.get(`/host/events/${event.id}/edit`)).status).toBe(403);
  });
});

// ---------------------------------------------------------------- the event's live page

describe("/host/events/:id", () => {
  it("renders the API's counts and analytics, and points host.js at the live socket this browser may open", async () => {
    const { user, browser, token } = await signedIn();
    const start = Date.now() + HOUR;
    const event = await createEvent(token, {
      startsAt: new Date(start).toISOString(),
      endsAt: new Date(start + 3 * HOUR).toISOString(),
      capacity: 40,
      perUserLimit: 10,
    });
    const tickets = await issueTickets(event.id, 3, 10);
    const device = await registerDevice(event.id, token);
    const first = tickets[0];
    if (!first) throw new Error("no ticket");
    expect((await scanBody(await scan(device.token, await qrToken(first.id, first.holder.token)))).result).toBe(
      "admitted",
    );

    const page = await browser.get(`/host/events/${event.id}`);
    expect(page.status).toBe(200);
    const { availability } = (await (await call(`/api/v1/events/${event.id}`)).json()) as {
      availability: { capacity: number; sold: number; held: number; remaining: number };
    };
    for (const name of ["capacity", "sold", "held", "remaining"] as const) {
      expect(stat(page.html, name), name).toBe(availability[name]);
    }
    expect(availability.sold).toBe(3);
    const gate = (await (await call(`/api/v1/events/${event.id}/gate/stats`, { headers: bearer(token) })).json()) as {
      checkedIn: number;
    };
    expect(stat(page.html, "checkedIn")).toBe(gate.checkedIn);
    expect(gate.checkedIn).toBe(1);

    const analytics = (await (
      await call(`/api/v1/events/${event.id}/analytics`, { headers: bearer(token) })
    ).json()) as {
      ticketCount: number;
      checkedInCount: number;
      checkInRate: number;
      revenue: number;
    };
    expect(figure(page.html, "tickets")).toBe(String(analytics.ticketCount));
    expect(figure(page.html, "checked-in")).toBe(String(analytics.checkedInCount));
    expect(figure(page.html, "rate")).toBe(`${Math.round(analytics.checkInRate * 1000) / 10}%`);
    expect(figure(page.html, "revenue")).toBe("€0.00");

    // The page's script and the socket it opens: same origin, authenticated by this browser's cookie.
    const csp = page.headers.get("Content-Security-Policy") ?? "";
    expect(csp).toContain("connect-src 'self'");
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(page.html).toContain(`<script nonce="${nonce}" src="/assets/host.js"`);
    expect(page.html).toContain('aria-live="polite"');
    const liveUrl = /data-live-url="([^"]+)"/.exec(page.html)?.[1];
    expect(liveUrl).toBe(`/api/v1/events/${event.id}/live`);
    const res = await call(liveUrl ?? "", {
      headers: { Upgrade: "websocket", Cookie: browser.cookieHeader(), Origin: ORIGIN },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket;
    if (!ws) throw new Error("no socket");
    const message = new Promise<Record<string, number>>((resolve) =>
      ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string))),
    );
    ws.accept();
    const counts = await message;
    ws.close();
    for (const name of ["capacity", "sold", "held", "remaining", "checkedIn"]) {
      expect(counts[name], name).toBe(stat(page.html, name));
    }
    expect(user.id).toBeTruthy();
  });

  it("charts tickets by day: one bar per day from the first sale to the last, with the days as a table", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { perUserLimit: 10 });
    const [buyer] = await buyers(1);
    const res = await order(event.id, buyer?.token ?? "", 4);
    expect(res.status).toBe(201);
    const ids = ((await res.json()) as { tickets: { id: string }[] }).tickets.map((t) => t.id);
    // Spread over the read model's days: one three days ago, two yesterday, one today (gap included).
    const move = (id: string | undefined, days: number) =>
      env.DB.prepare("UPDATE tickets SET created_at = created_at - ? WHERE id = ?")
        .bind(days * DAY, id ?? "")
        .run();
    await move(ids[0], 3);
    await move(ids[1], 1);
    await move(ids[2], 1);

    const page = await browser.get(`/host/events/${event.id}`);
    const analytics = (await (
      await call(`/api/v1/events/${event.id}/analytics`, { headers: bearer(token) })
    ).json()) as {
      attendeesByDate: { date: string; count: number }[];
    };
    expect(analytics.attendeesByDate.map((d) => d.count)).toEqual([1, 2, 1]);
    const [firstDay, , lastDay] = analytics.attendeesByDate;
    const bars = [...page.html.matchAll(/<rect class="bar"[^>]*><title>([^<]*)<\/title><\/rect>/g)].map((m) => m[1]);
    const span = (Date.parse(lastDay?.date ?? "") - Date.parse(firstDay?.date ?? "")) / DAY + 1;
    expect(span).toBe(4);
    expect(bars).toHaveLength(span);
    expect(bars[0]).toBe(`${firstDay?.date}: 1`);
    expect(bars[2]).toBe(`${analytics.attendeesByDate[1]?.date}: 2`);
    expect(bars[3]).toBe(`${lastDay?.date}: 1`);
    expect(bars[1]).toMatch(/: 0$/);
    expect(page.html).toContain('role="img" aria-labelledby="chart-title chart-desc"');
    expect(textOf(page.html)).toContain(`4 tickets over 4 days, ${firstDay?.date} to ${lastDay?.date}`);
    const rows = [...page.html.matchAll(/<tr><td>(\d{4}-\d{2}-\d{2})<\/td><td>(\d+)<\/td><\/tr>/g)];
    expect(rows.map((r) => [r[1], Number(r[2])])).toEqual(analytics.attendeesByDate.map((d) => [d.date, d.count]));
  });
});

// ---------------------------------------------------------------- gate devices

describe("gate devices on the event page", () => {
  it("registers a device and shows its token once, as a QR of the /scan#pair= URL; the token works, and revoking refuses it at once", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token);
    await browser.get(`/host/events/${event.id}`);

    const blank = await browser.submit(`/host/events/${event.id}/devices`, { name: " ", role: "steward" });
    expect(blank.status).toBe(400);
    expect(fieldError(blank.html, "name")).toBe("is required");
    const none = await env.DB.prepare("SELECT COUNT(*) AS n FROM gate_devices WHERE event_id = ?")
      .bind(event.id)
      .first<{ n: number }>();
    expect(none?.n).toBe(0);

    const page = await browser.submit(`/host/events/${event.id}/devices`, { name: "North gate 1", role: "supervisor" });
    expect(page.status).toBe(200);
    expect(page.headers.get("Cache-Control")).toBe("no-store");
    const deviceToken = /id="device-token"[^>]*value="([^"]+)"/.exec(page.html)?.[1] ?? "";
    expect(deviceToken).toMatch(/^gdt_/);
    // The code's modules are exactly those of a QR code of the pairing URL (as gate codes: ECC M, 4-module border).
    const svg = /<div class="qr">(<svg[\s\S]*?<\/svg>)<\/div>/.exec(page.html)?.[1] ?? "";
    expect(svg).toContain('role="img" aria-label="Pairing QR code"');
    expect(qrModules(svg)).toEqual(encode(`${ORIGIN}/scan#pair=${deviceToken}`, { ecc: "M", border: 4 }).data);
    expect(textOf(page.html)).toContain("shown only now");
    const row = await env.DB.prepare("SELECT id, name, role, token_hash FROM gate_devices WHERE event_id = ?")
      .bind(event.id)
      .first<{ id: string; name: string; role: string; token_hash: string }>();
    expect(row).toMatchObject({ name: "North gate 1", role: "supervisor" });
    expect(row?.token_hash).not.toContain(deviceToken);

    const keys = await call("/api/v1/scanner/keys", { headers: deviceAuth(deviceToken) });
    expect(keys.status).toBe(200);

    // Never again: the event page lists the device, not its token.
    const later = await browser.get(`/host/events/${event.id}`);
    expect(later.html).not.toContain(deviceToken);
    expect(textOf(later.html)).toContain("North gate 1 supervisor");
    expect(later.html).toContain(`action="/host/events/${event.id}/devices/revoke"`);
    expect(later.html).toContain(`name="deviceId" value="${row?.id}"`);

    const revoked = await browser.submit(`/host/events/${event.id}/devices/revoke`, { deviceId: row?.id ?? "" });
    expect(revoked.status).toBe(303);
    expect(revoked.location).toBe(`/host/events/${event.id}?notice=revoked#devices`);
    expect((await call("/api/v1/scanner/keys", { headers: deviceAuth(deviceToken) })).status).toBe(401);
    const listed = await browser.get(`/host/events/${event.id}`);
    expect(textOf(listed.html)).toContain("Revoked");
  });
});

// ---------------------------------------------------------------- budget and CSP

describe("every host page", () => {
  it("stays within 50 KB of HTML, CSS and JS, with no inline script, handler or style attribute", async () => {
    const { browser, token, user } = await signedIn();
    // A full page of failed deliveries, each answered with the longest body the log keeps.
    const endpointId = await subscribe(user.id, ["order.created"]);
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: DELIVERIES_PER_PAGE }, (_, i) => {
        const eventId = `msg_weight_${i}_${crypto.randomUUID()}`;
        const deliveryId = `dlv_weight_${i}_${crypto.randomUUID()}`;
        return [
          env.DB.prepare(
            "INSERT INTO webhook_events (id, host_id, type, data, created_at, fanned_out_at) VALUES (?, ?, 'order.created', '{}', ?, ?)",
          ).bind(eventId, user.id, now, now),
          env.DB.prepare(
            `INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, last_status_code, last_latency_ms, created_at, updated_at)
             VALUES (?, ?, ?, 'failed', 8, NULL, 500, 1234, ?, ?)`,
          ).bind(deliveryId, eventId, endpointId, now + i, now + i),
          env.DB.prepare(
            "INSERT INTO webhook_attempts (id, delivery_id, attempt, status_code, latency_ms, response_snippet, at) VALUES (?, ?, 8, 500, 1234, ?, ?)",
          ).bind(`att_${deliveryId}`, deliveryId, "x".repeat(LIMITS.webhookResponseSnippetChars), now),
        ];
      }).flat(),
    );
    const event = await createEvent(token, { perUserLimit: 10 });
    const [buyer] = await buyers(1);
    const sold = await order(event.id, buyer?.token ?? "", 5);
    // Sales spread over four months: the chart draws its most bars (the latest CHART_MAX_DAYS days).
    const ids = ((await sold.json()) as { tickets: { id: string }[] }).tickets.map((t) => t.id);
    for (const [i, id] of ids.entries()) {
      await env.DB.prepare("UPDATE tickets SET created_at = created_at - ? WHERE id = ?")
        .bind(i * 30 * DAY, id)
        .run();
    }
    await browser.get("/host");
    const pages: [string, Page][] = [];
    for (const path of [
      "/host",
      "/host/new-event",
      `/host/events/${event.id}`,
      `/host/events/${event.id}/edit`,
      `/host/events/${event.id}/cancel`,
      "/host/integrations",
      `/host/integrations/endpoints/${endpointId}`,
    ]) {
      pages.push([path, await browser.get(path)]);
    }
    const deliveries = pages.find(([path]) => path.includes("/endpoints/"))?.[1];
    expect(deliveries?.html.match(/<tr id="d-/g)).toHaveLength(DELIVERIES_PER_PAGE);
    expect(deliveries?.html).toContain("x".repeat(300));
    const key = await browser.submit("/host/integrations/keys", { name: "CRM", "scope:events:read": "on" });
    expect(key.html).toContain('id="secret-value"');
    pages.push(["integrations with a new key", key]);
    for (const name of ["North", "East", "West"]) {
      await browser.submit(`/host/events/${event.id}/devices`, { name: `${name} gate`, role: "supervisor" });
    }
    const pairing = await browser.submit(`/host/events/${event.id}/devices`, { name: "South gate", role: "steward" });
    expect(pairing.html.match(/<rect class="bar"/g)).toHaveLength(CHART_MAX_DAYS);
    expect(pairing.html).toContain('id="device-token"');
    pages.push(["dashboard with a pairing code and a full chart", pairing]);
    pages.push(["invalid form", await browser.submit("/host/new-event", eventForm({ title: "", capacity: "x" }))]);
    const attendee = await signedIn({ roles: ["attendee"] });
    pages.push(["become a host", await attendee.browser.get("/host")]);
    for (const [name, page] of pages) {
      expect(page.status, name).toBeLessThan(500);
      expect(await pageWeight(page), name).toBeLessThanOrEqual(50 * 1024);
      expect(page.html, name).not.toMatch(/\sstyle="/);
      expect(page.html, name).not.toMatch(/\son[a-z]+="/);
      expect(
        page.html.match(/<script\b[^>]*>/g)?.every((tag) => / src="\/assets\//.test(tag)),
        name,
      ).toBe(true);
    }
  });
});
