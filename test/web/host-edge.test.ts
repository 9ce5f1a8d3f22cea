/**
 * The host pages at their edges: what a host types at the limits of the units (currencies with 0 and
 * 3 decimals, times skipped or repeated by a DST change, text that is not a time or an amount), forms
 * posted half-filled or against an event in the wrong state, devices that are not there or belong to
 * another event, the write budget running out or its limiter being down, and the event page when its
 * analytics cannot be had. Every refusal is checked to have changed nothing.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { LIMITS } from "../../src/config/limits";
import { formatMoney } from "../../src/features/email/templates";
import { formErrors, readEventForm } from "../../src/web/pages/host/event-form";
import {
  formatInZone,
  fromWallClock,
  isTimeZone,
  minorDigits,
  toMajorUnits,
  toMinorUnits,
  toWallClock,
} from "../../src/web/pages/host/units";
import { bearer } from "../features/auth/helpers";
import { buyers, createEvent, DAY, HOUR, order } from "../features/events/helpers";
import { deviceAuth, registerDevice } from "../features/gate/helpers";
import { call, freshIp } from "../helpers";
import { givePayoutAccount } from "../support/payouts";
import { type Browser, ORIGIN, textOf } from "./browser";
import { decode, eventRow, fieldError, nextYear, signedIn, eventForm as validEventForm } from "./host-helpers";

/** The shared valid form, without a description (these tests are about the other fields). */
const eventForm = (overrides: Record<string, string> = {}) => validEventForm({ description: "", ...overrides });

async function deviceCount(eventId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM gate_devices WHERE event_id = ?")
    .bind(eventId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

// ---------------------------------------------------------------- units

describe("times at a DST change and text that is not a time", () => {
  it("reads a time repeated by fall-back as its first occurrence, in zones east and west of UTC", () => {
    // Amsterdam, 31 Oct 2027: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice; the first is 00:30Z.
    const amsterdam = fromWallClock("2027-10-31T02:30", "Europe/Amsterdam");
    expect(amsterdam).toBe(Date.UTC(2027, 9, 31, 0, 30));
    expect(toWallClock(amsterdam ?? 0, "Europe/Amsterdam")).toBe("2027-10-31T02:30");
    // New York, 7 Nov 2027: 01:30 EDT (05:30Z) comes before 01:30 EST (06:30Z).
    expect(fromWallClock("2027-11-07T01:30", "America/New_York")).toBe(Date.UTC(2027, 10, 7, 5, 30));
    // Just outside the repeated hour there is one reading.
    expect(fromWallClock("2027-10-31T03:00", "Europe/Amsterdam")).toBe(Date.UTC(2027, 9, 31, 2, 0));
    expect(fromWallClock("2027-10-31T01:59", "Europe/Amsterdam")).toBe(Date.UTC(2027, 9, 30, 23, 59));
  });

  it("moves a time skipped by spring-forward to just after the gap", () => {
    const amsterdam = fromWallClock("2027-03-28T02:30", "Europe/Amsterdam");
    expect(amsterdam).toBe(Date.UTC(2027, 2, 28, 1, 30));
    expect(toWallClock(amsterdam ?? 0, "Europe/Amsterdam")).toBe("2027-03-28T03:30");
    const newYork = fromWallClock("2027-03-14T02:30", "America/New_York");
    expect(toWallClock(newYork ?? 0, "America/New_York")).toBe("2027-03-14T03:30");
    // Lord Howe Island moves its clocks by half an hour: 02:15 does not exist on 3 Oct 2027.
    const lordHowe = fromWallClock("2027-10-03T02:15", "Australia/Lord_Howe");
    expect(toWallClock(lordHowe ?? 0, "Australia/Lord_Howe")).toBe("2027-10-03T02:45");
  });

  it("takes seconds and surrounding spaces, and refuses times and dates that do not exist", () => {
    expect(fromWallClock(" 2027-07-14T19:00:30 ", "UTC")).toBe(Date.UTC(2027, 6, 14, 19, 0, 30));
    expect(fromWallClock("2028-02-29T12:00", "UTC")).toBe(Date.UTC(2028, 1, 29, 12));
    for (const text of [
      "2027-02-29T12:00",
      "2027-13-01T10:00",
      "2027-07-14T24:00",
      "2027-07-14T19:60",
      "2027-07-14T19:00:60",
      "2027-07-14 19:00",
      "14/07/2027 19:00",
      "",
    ]) {
      expect(fromWallClock(text, "Europe/Amsterdam"), text).toBeNull();
    }
  });

  it("knows a time zone from a name that is not one, and shows times in UTC when the zone is unknown", () => {
    expect(isTimeZone("Europe/Amsterdam")).toBe(true);
    expect(isTimeZone("")).toBe(false);
    expect(isTimeZone("Mars/Olympus")).toBe(false);
    const at = Date.UTC(2027, 6, 14, 17, 0);
    expect(formatInZone(at, "Europe/Amsterdam")).toBe("Wed, 14 Jul 2027, 19:00 CEST");
    expect(formatInZone(at, "Mars/Olympus")).toBe("Wed, 14 Jul 2027, 17:00 UTC");
    expect(formatInZone(at, "")).toBe("Wed, 14 Jul 2027, 17:00 UTC");
  });
});

describe("amounts in currencies with 0, 2 and 3 decimals", () => {
  it("converts both ways with the currency's own decimals", () => {
    expect(minorDigits("JPY")).toBe(0);
    expect(minorDigits("EUR")).toBe(2);
    expect(minorDigits("KWD")).toBe(3);
    expect(toMinorUnits("1.234", "KWD")).toEqual({ value: 1234 });
    expect(toMinorUnits("1,5", "KWD")).toEqual({ value: 1500 });
    expect(toMajorUnits(1234, "KWD")).toBe("1.234");
    expect(toMajorUnits(1500, "JPY")).toBe("1500");
    expect(toMajorUnits(5, "EUR")).toBe("0.05");
    // Trailing zeros are not extra precision; a bare point is a whole amount.
    expect(toMinorUnits("12.500", "EUR")).toEqual({ value: 1250 });
    expect(toMinorUnits("1500.00", "JPY")).toEqual({ value: 1500 });
    expect(toMinorUnits("12.", "EUR")).toEqual({ value: 1200 });
    expect(toMinorUnits(" 7 ", "USD")).toEqual({ value: 700 });
  });

  it("says what is wrong in the currency's terms", () => {
    expect(toMinorUnits("1.2345", "KWD")).toEqual({ error: "use at most 3 decimal places in KWD" });
    expect(toMinorUnits("abc", "EUR")).toEqual({ error: "must be an amount such as 12.50" });
    expect(toMinorUnits("abc", "JPY")).toEqual({ error: "must be a whole amount such as 1500" });
    expect(toMinorUnits("1,500", "JPY")).toEqual({ error: "JPY has no decimal places" });
    expect(toMinorUnits("1e3", "EUR")).toHaveProperty("error");
    expect(toMinorUnits("1234567890123", "EUR")).toHaveProperty("error");
    expect(toMinorUnits("", "EUR")).toHaveProperty("error");
  });

  it("treats a code that is not a currency as having 2 decimals", () => {
    expect(minorDigits("EURO")).toBe(2);
    expect(toMinorUnits("3.10", "EURO")).toEqual({ value: 310 });
  });
});

// ---------------------------------------------------------------- the event form, read

describe("reading the event form", () => {
  it("fills blank optional times as the API would: no sales window, doors before the start, check-in until the end", () => {
    const read = readEventForm(eventForm({ perUserLimit: "" }), "create");
    if (!read.ok) throw new Error(JSON.stringify(read.errors));
    const start = Date.UTC(nextYear, 6, 14, 17, 0);
    expect(read.input).toMatchObject({
      startsAt: new Date(start).toISOString(),
      salesStartAt: null,
      salesEndAt: null,
      checkInOpensAt: new Date(start - LIMITS.checkInLeadMs).toISOString(),
      checkInClosesAt: new Date(start + 4 * HOUR).toISOString(),
      price: 1250,
    });
  });

  it("keeps optional times that are set, in the event's zone", () => {
    const read = readEventForm(
      eventForm({
        salesStartAt: `${nextYear}-06-01T10:00`,
        salesEndAt: `${nextYear}-07-14T18:00`,
        checkInOpensAt: `${nextYear}-07-14T18:30`,
        checkInClosesAt: `${nextYear}-07-14T22:00`,
      }),
      "create",
    );
    if (!read.ok) throw new Error(JSON.stringify(read.errors));
    expect(read.input).toMatchObject({
      salesStartAt: new Date(Date.UTC(nextYear, 5, 1, 8, 0)).toISOString(),
      salesEndAt: new Date(Date.UTC(nextYear, 6, 14, 16, 0)).toISOString(),
      checkInOpensAt: new Date(Date.UTC(nextYear, 6, 14, 16, 30)).toISOString(),
      checkInClosesAt: new Date(Date.UTC(nextYear, 6, 14, 20, 0)).toISOString(),
    });
  });

  it("names every missing field when the form arrives without them, in the form's words", () => {
    const read = readEventForm({}, "create");
    expect(read.ok).toBe(false);
    if (read.ok) return;
    for (const path of ["title", "timezone", "startsAt", "endsAt", "venue.name", "venue.address", "capacity"]) {
      expect(read.errors[path], path).toBe("is required");
    }
    expect(read.errors.currency).toMatch(/expected one of "USD"/);
    // Without a start there is no default for the doors to open: the form does not invent one.
    expect(read.errors.checkInOpensAt).toBeUndefined();
  });

  it("says a time that is not a time must be a date and time, and a count that is not a number must be a number", () => {
    const read = readEventForm(eventForm({ startsAt: "next friday", capacity: "lots" }), "create");
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.errors.startsAt).toBe("must be a date and time");
    expect(read.errors.capacity).toBe("must be a number");
  });

  it("reads a price whose currency is not sold as euros, and leaves the currency's own error to the schema", () => {
    const read = readEventForm(eventForm({ currency: "XYZ", price: "3.105" }), "create");
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.errors.price).toBe("use at most 2 decimal places in EUR");
    expect(read.errors.currency).toBeTruthy();
  });

  it("puts the API's price rules in money only for a currency it knows", () => {
    const rule = [{ path: "price", message: "must be 0 or at least 300 in SEK" }];
    expect(formErrors(rule, "SEK").price).toBe(`must be 0 or at least ${formatMoney(300, "SEK")}`);
    expect(formatMoney(300, "SEK")).toMatch(/3[.,]00/);
    expect(formErrors(rule, "XYZ").price).toBe("must be 0 or at least 300 in SEK");
    // The first message for a path is the one shown.
    expect(
      formErrors(
        [
          { path: "title", message: "first" },
          { path: "title", message: "second" },
        ],
        "EUR",
      ),
    ).toEqual({ title: "first" });
  });

  it("needs the version when editing", () => {
    const read = readEventForm(eventForm(), "edit");
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.errors.version).toBe("is required");
    const withVersion = readEventForm(eventForm({ version: "3" }), "edit");
    expect(withVersion.ok && withVersion.input.version).toBe(3);
  });
});

// ---------------------------------------------------------------- pages: becoming a host, the form

describe("becoming a host", () => {
  it("asking again when already a host changes nothing and lands on the host page", async () => {
    const { user, browser } = await signedIn();
    await browser.get("/host");
    const again = await browser.submit("/host/become", {});
    expect(again.status).toBe(303);
    expect(again.location).toBe("/host?notice=host");
    const row = await env.DB.prepare("SELECT roles FROM users WHERE id = ?").bind(user.id).first<{ roles: string }>();
    expect(JSON.parse(row?.roles ?? "[]")).toEqual(["attendee", "host"]);
    const grants = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM audit_log WHERE user_id = ? AND action = 'role.grant'",
    )
      .bind(user.id)
      .first<{ n: number }>();
    expect(grants?.n).toBe(0);
  });

  it("an unknown notice key shows no message", async () => {
    const { browser } = await signedIn();
    const page = await browser.get("/host?notice=%3Cscript%3E");
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('class="alert success"');
    expect(page.html).not.toContain("<script>");
  });
});

describe("the event form in the units of its currency", () => {
  it("a yen event's form asks for a whole amount; a single bad field is named once", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { currency: "JPY", price: 1500 }, false);
    const form = await browser.get(`/host/events/${event.id}/edit`);
    expect(form.html).toMatch(/<input[^>]*id="f-price"[^>]*inputmode="numeric"/);
    expect(form.html).toMatch(/<input[^>]*id="f-price"[^>]*value="1500"/);
    expect(textOf(form.html)).toContain("In JPY. 0 makes it free");
    expect(textOf(form.html)).not.toContain("e.g. 12.50");

    const bad = await browser.submit(`/host/events/${event.id}/edit`, {
      ...eventForm({ currency: "JPY", price: "15.5" }),
      version: "1",
    });
    expect(bad.status).toBe(400);
    expect(textOf(bad.html)).toContain("1 field needs attention; nothing was saved.");
    expect(fieldError(bad.html, "price")).toBe("JPY has no decimal places");
    expect(await eventRow(event.id)).toMatchObject({ title: "Rooftop Jazz", version: 1 });
  });

  it("a currency it does not sell is refused next to the currency select, which keeps EUR selected", async () => {
    const { user, browser } = await signedIn();
    await browser.get("/host/new-event");
    const page = await browser.submit("/host/new-event", eventForm({ currency: "XYZ", price: "5" }));
    expect(page.status).toBe(400);
    expect(fieldError(page.html, "currency")).toBeTruthy();
    expect(page.html).toContain('<div class="field invalid"><label for="f-currency">');
    expect(page.html).toMatch(/<option value="EUR"[^>]*>EUR<\/option>/);
    const created = await env.DB.prepare("SELECT COUNT(*) AS n FROM events WHERE host_id = ?")
      .bind(user.id)
      .first<{ n: number }>();
    expect(created?.n).toBe(0);
  });
});

describe("editing an event in a state that refuses it", () => {
  it("a cancelled event's form is refused, and so is a post to it", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Called Off" });
    await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(token) });
    const form = await browser.get(`/host/events/${event.id}/edit`);
    expect(form.status).toBe(409);
    expect(textOf(form.html)).toContain("A cancelled event cannot be edited.");
    const post = await browser.submit(`/host/events/${event.id}/edit`, {
      ...eventForm({ title: "Back On" }),
      version: "2",
    });
    expect(post.status).toBe(409);
    expect(await eventRow(event.id)).toMatchObject({ title: "Called Off", status: "cancelled" });
  });

  it("an invalid edit keeps what was typed and saves nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Kept" }, false);
    await browser.get(`/host/events/${event.id}/edit`);
    const page = await browser.submit(`/host/events/${event.id}/edit`, {
      ...eventForm({ title: "Changed", "venue.lat": "north", capacity: "0" }),
      version: "1",
    });
    expect(page.status).toBe(400);
    expect(textOf(page.html)).toContain("2 fields need attention; nothing was saved.");
    expect(fieldError(page.html, "capacity")).toBeTruthy();
    expect(fieldError(page.html, "venue.lat")).toBe("must be a number");
    expect(page.html).toMatch(/<input[^>]*name="title"[^>]*value="Changed"/);
    expect(await eventRow(event.id)).toMatchObject({ title: "Kept", version: 1 });
  });

  it("an edit posted without the version it was made on is refused, naming the version, and saves nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Versioned" }, false);
    await browser.get(`/host/events/${event.id}/edit`);
    const page = await browser.submit(`/host/events/${event.id}/edit`, eventForm({ title: "Unversioned" }));
    expect(page.status).toBe(400);
    expect(textOf(page.html)).toMatch(/1 field needs attention; nothing was saved\. Version ?: is required/);
    // The summary's link lands on the (hidden) version field.
    expect(page.html).toContain('href="#f-version"');
    expect(page.html).toContain('<input type="hidden" id="f-version" name="version" value=""/>');
    expect(await eventRow(event.id)).toMatchObject({ title: "Versioned", version: 1 });
  });

  it("the service's cross-field rules show next to their inputs, even when the form sent no currency", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Crossed", currency: "EUR", price: 1250 }, false);
    await browser.get(`/host/events/${event.id}/edit`);
    const { currency: _, ...noCurrency } = eventForm({
      endsAt: `${nextYear}-07-14T18:00`,
      price: "0.10",
    });
    const page = await browser.submit(`/host/events/${event.id}/edit`, { ...noCurrency, version: "1" });
    expect(page.status).toBe(400);
    expect(fieldError(page.html, "endsAt")).toBeTruthy();
    expect(fieldError(page.html, "price")).toBe("must be 0 or at least €0.50");
    const row = await eventRow(event.id);
    expect(row).toMatchObject({ title: "Crossed", version: 1 });
  });

  it("a capacity below the tickets already sold is refused next to the capacity, with the sold count", async () => {
    const { browser, token, user } = await signedIn();
    // The form sends a price: turning this free event paid needs a payout account that can take charges.
    await givePayoutAccount(user.id);
    const event = await createEvent(token, { title: "Selling", capacity: 10, perUserLimit: 5 });
    const [buyer] = await buyers(1);
    expect((await order(event.id, buyer?.token ?? "", 3)).status).toBe(201);
    const form = await browser.get(`/host/events/${event.id}/edit`);
    const version = /name="version" value="(\d+)"/.exec(form.html)?.[1] ?? "";
    const start = Date.now() + 7 * DAY;
    const wall = (ms: number) => toWallClock(ms, "Europe/Amsterdam");
    const saved = await env.DB.prepare("SELECT starts_at, ends_at FROM events WHERE id = ?")
      .bind(event.id)
      .first<{ starts_at: number; ends_at: number }>();
    const page = await browser.submit(`/host/events/${event.id}/edit`, {
      ...eventForm({
        capacity: "2",
        startsAt: wall(saved?.starts_at ?? start),
        endsAt: wall(saved?.ends_at ?? start + HOUR),
      }),
      version,
    });
    expect(page.status).toBe(409);
    expect(fieldError(page.html, "capacity")).toMatch(/3/);
    expect((await eventRow(event.id))?.capacity).toBe(10);
  });
});

// ---------------------------------------------------------------- publish and cancel

describe("publish and cancel from the wrong state", () => {
  it("publishing an event that is already published says why and changes nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Already Out" });
    const before = await eventRow(event.id);
    await browser.get(`/host/events/${event.id}`);
    const page = await browser.submit(`/host/events/${event.id}/publish`, {});
    expect(page.status).toBe(409);
    expect(textOf(page.html)).toContain("Not published: A published event cannot be published.");
    expect(await eventRow(event.id)).toEqual(before);
  });

  it("a draft with a sales start says publishing opens sales at the time set", async () => {
    const { browser, token } = await signedIn();
    const start = Date.now() + 7 * DAY;
    const timed = await createEvent(
      token,
      { salesStartAt: new Date(start - 3 * DAY).toISOString(), price: 1250, currency: "EUR" },
      false,
    );
    const page = await browser.get(`/host/events/${timed.id}`);
    expect(textOf(page.html)).toContain("opens ticket sales at the time you set.");
    expect(textOf(page.html)).toContain("Price €12.50");
    const open = await createEvent(token, { price: 0 }, false);
    const free = await browser.get(`/host/events/${open.id}`);
    expect(textOf(free.html)).toContain("opens ticket sales.");
    expect(textOf(free.html)).toContain("Price free");
  });

  it("an event already cancelled: its confirmation sends back to the event, and a second cancel is refused", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Twice" });
    await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(token) });
    const confirm = await browser.get(`/host/events/${event.id}/cancel`);
    expect(confirm.status).toBe(303);
    expect(confirm.location).toBe(`/host/events/${event.id}`);
    await browser.get(`/host/events/${event.id}`);
    const again = await browser.submit(`/host/events/${event.id}/cancel`, { confirm: "yes" });
    expect(again.status).toBe(409);
    expect(textOf(again.html)).toMatch(/cancel/i);
    expect(again.html).toContain('class="alert error"');
    expect((await eventRow(event.id))?.status).toBe("cancelled");
  });
  it("an event that has ended: no cancel button, its confirmation sends back to the event, and a cancel posted anyway is refused", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Last Night" });
    const base = `/host/events/${event.id}`;
    expect((await browser.get(base)).html).toContain(`href="${base}/cancel"`);
    await env.DB.prepare("UPDATE events SET starts_at = ?, ends_at = ? WHERE id = ?")
      .bind(Date.now() - 4 * HOUR, Date.now() - HOUR, event.id)
      .run();
    const dashboard = await browser.get(base);
    expect(dashboard.status).toBe(200);
    expect(dashboard.html).not.toContain(`href="${base}/cancel"`);
    const confirm = await browser.get(`${base}/cancel`);
    expect(confirm.status).toBe(303);
    expect(confirm.location).toBe(base);
    await browser.get(base);
    const posted = await browser.submit(`${base}/cancel`, { confirm: "yes" });
    expect(posted.status).toBe(409);
    expect(textOf(posted.html)).toContain("The event has ended: it can no longer be cancelled.");
    expect((await eventRow(event.id))?.status).toBe("published");
  });
});

describe("the cancel confirmation", () => {
  it("states the refunds still owed: only payments not yet refunded in full, with what is left of each", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Refunds Due", price: 1500, currency: "EUR" });
    const pay = (amount: number, refunded: number) =>
      env.DB.prepare(
        `INSERT INTO payments (id, payment_intent, order_id, event_id, user_id, amount, currency, amount_refunded, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'buyer', ?, 'EUR', ?, 'succeeded', ?, ?)`,
      )
        .bind(
          crypto.randomUUID(),
          `pi_${crypto.randomUUID()}`,
          crypto.randomUUID(),
          event.id,
          amount,
          refunded,
          Date.now(),
          Date.now(),
        )
        .run();
    await pay(3000, 0);
    await pay(1500, 1500); // refunded in full already: not counted
    const one = await browser.get(`/host/events/${event.id}/cancel`);
    expect(one.status).toBe(200);
    expect(textOf(one.html)).toContain("1 paid order is refunded in full (€30.00 in all)");
    await pay(1500, 500); // refunded in part: the rest is owed
    const two = await browser.get(`/host/events/${event.id}/cancel`);
    expect(textOf(two.html)).toContain("2 paid orders are refunded in full (€40.00 in all)");
    expect((await eventRow(event.id))?.status).toBe("published");
  });
});

// ---------------------------------------------------------------- devices

describe("gate device forms at their edges", () => {
  it("a role that is not one is refused next to the roles, and registers nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token);
    await browser.get(`/host/events/${event.id}`);
    const page = await browser.submit(`/host/events/${event.id}/devices`, { name: "Back door", role: "admin" });
    expect(page.status).toBe(400);
    expect(page.html).toContain('<fieldset class="field invalid"><legend>Role</legend>');
    expect(page.html).toMatch(/<p class="field-error" id="f-role-error">[^<]+<\/p>/);
    expect(page.html).toMatch(/<input type="radio" name="role" value="steward"[^>]*aria-describedby="f-role-error"/);
    // What was typed stays.
    expect(page.html).toMatch(/<input[^>]*name="name"[^>]*value="Back door"/);
    expect(await deviceCount(event.id)).toBe(0);
  });

  it("a device posted without a role or a name is refused with both fields named", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token);
    await browser.get(`/host/events/${event.id}`);
    const page = await browser.submit(`/host/events/${event.id}/devices`, {});
    expect(page.status).toBe(400);
    expect(fieldError(page.html, "name")).toBe("is required");
    expect(decode(/id="f-role-error">([^<]*)</.exec(page.html)?.[1] ?? "")).toBe(
      'Invalid option: expected one of "steward"|"supervisor"',
    );
    // Nothing was chosen, so nothing comes back chosen: the host picks a role.
    expect(page.html).not.toMatch(/<input type="radio" name="role"[^>]*checked=""/);
    expect(await deviceCount(event.id)).toBe(0);
  });

  it("a cancelled event takes no new devices and offers no form for them", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token);
    await browser.get(`/host/events/${event.id}`);
    await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(token) });
    const page = await browser.submit(`/host/events/${event.id}/devices`, { name: "Late gate", role: "steward" });
    expect(page.status).toBe(409);
    expect(textOf(page.html)).toContain("The event is cancelled: no new devices.");
    expect(page.html).not.toContain('id="device-token"');
    expect(await deviceCount(event.id)).toBe(0);
  });

  it("at the per-event device limit, registering is refused above the form until a device is revoked", async () => {
    const { user, browser, token } = await signedIn();
    const event = await createEvent(token);
    const ids = Array.from({ length: LIMITS.gateDevicesPerEvent }, () => crypto.randomUUID());
    await env.DB.batch(
      ids.map((id, i) =>
        env.DB.prepare(
          "INSERT INTO gate_devices (id, event_id, name, role, token_hash, created_by, created_at) VALUES (?, ?, ?, 'steward', ?, ?, ?)",
        ).bind(id, event.id, `Gate ${i}`, crypto.randomUUID(), user.id, Date.now() - i),
      ),
    );
    await browser.get(`/host/events/${event.id}`);
    const full = await browser.submit(`/host/events/${event.id}/devices`, { name: "One too many", role: "steward" });
    expect(full.status).toBe(409);
    expect(full.html).toContain(
      `<p class="field-error" role="alert">At most ${LIMITS.gateDevicesPerEvent} active devices per event.</p>`,
    );
    expect(full.html).toMatch(/<input[^>]*name="name"[^>]*value="One too many"/);
    expect(full.html).not.toContain('id="device-token"');
    expect(await deviceCount(event.id)).toBe(LIMITS.gateDevicesPerEvent);

    const revoked = await browser.submit(`/host/events/${event.id}/devices/revoke`, { deviceId: ids[0] ?? "" });
    expect(revoked.status).toBe(303);
    const room = await browser.submit(`/host/events/${event.id}/devices`, { name: "One too many", role: "steward" });
    expect(room.status).toBe(200);
    expect(room.html).toContain('id="device-token"');
  });

  it("revoking no device, an unknown one, or another event's device is refused, and that device keeps working", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token);
    const otherEvent = await createEvent(token);
    const elsewhere = await registerDevice(otherEvent.id, token);
    await browser.get(`/host/events/${event.id}`);
    for (const deviceId of ["", "no-such-device", elsewhere.deviceId]) {
      const page = await browser.submit(`/host/events/${event.id}/devices/revoke`, { deviceId });
      expect(page.status, deviceId || "blank").toBe(404);
      expect(textOf(page.html)).toContain("No such device.");
    }
    expect((await browser.submit(`/host/events/${event.id}/devices/revoke`, {})).status).toBe(404);
    const revoked = await env.DB.prepare("SELECT revoked_at FROM gate_devices WHERE id = ?")
      .bind(elsewhere.deviceId)
      .first<{ revoked_at: number | null }>();
    expect(revoked?.revoked_at).toBeNull();
    expect((await call("/api/v1/scanner/keys", { headers: deviceAuth(elsewhere.token) })).status).toBe(200);
  });
});

// ---------------------------------------------------------------- the write budget

describe("the write budget of the host pages", () => {
  it("is the API's dashboard-write allowance: once spent, a page write is refused with 429 and changes nothing", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Busy" }, false);
    await browser.get(`/host/events/${event.id}/cancel`);
    // Unconfirmed cancels: each takes a unit (as did creating the event through the API) and changes nothing.
    let accepted = 0;
    let last = await browser.submit(`/host/events/${event.id}/cancel`, {});
    while (last.status === 400 && accepted < 40) {
      accepted += 1;
      last = await browser.submit(`/host/events/${event.id}/cancel`, {});
    }
    expect(last.status).toBe(429);
    expect(accepted).toBe(29);
    expect(textOf(last.html)).toContain("Too many changes at once.");
    const refused = await browser.submit(`/host/events/${event.id}/publish`, {});
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect((await eventRow(event.id))?.status).toBe("draft");
    // The API's host writes draw on the same allowance.
    const api = await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(token) });
    expect(api.status).toBe(429);
  });

  it("stays open when the rate limiter cannot answer, as the policy says", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { title: "Limiter Down" }, false);
    const page = await browser.get(`/host/events/${event.id}`);
    expect(page.status).toBe(200);
    const csrf = browser.csrf ?? "";
    const downEnv = {
      ...env,
      RATE_LIMITER: {
        getByName: () => ({
          consume: () => Promise.reject(new Error("limiter down")),
          consumeAll: () => Promise.reject(new Error("limiter down")),
        }),
      },
    };
    const res = await createApp().request(
      `${ORIGIN}/host/events/${event.id}/publish`,
      {
        method: "POST",
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          Accept: "text/html",
          Origin: ORIGIN,
          "Sec-Fetch-Site": "same-origin",
          Cookie: browser.cookieHeader(),
          "CF-Connecting-IP": freshIp(),
        },
        body: new URLSearchParams({ _csrf: csrf }),
      },
      downEnv,
    );
    const body = await res.text();
    expect(res.status, textOf(body).slice(0, 400)).toBe(303);
    expect((await eventRow(event.id))?.status).toBe("published");
  });
});

// ---------------------------------------------------------------- analytics unavailable

describe("the event page when analytics cannot be had", () => {
  /** D1 whose batch() fails (the analytics queries) while single statements still work. */
  const brokenDb = new Proxy(env.DB, {
    get(target, property) {
      if (property === "batch") return () => Promise.reject(new Error("D1 is unavailable"));
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

  async function pageWithBrokenD1(browser: Browser, path: string): Promise<{ status: number; html: string }> {
    const res = await createApp().request(
      `${ORIGIN}${path}`,
      {
        headers: { Accept: "text/html", Cookie: browser.cookieHeader(), "CF-Connecting-IP": freshIp() },
      },
      { ...env, DB: brokenDb },
    );
    return { status: res.status, html: await res.text() };
  }

  it("still renders, saying analytics are briefly unavailable; then shows the last figures, marked as delayed", async () => {
    const { browser, token } = await signedIn();
    const event = await createEvent(token, { perUserLimit: 5 });
    const [buyer] = await buyers(1);
    expect((await order(event.id, buyer?.token ?? "", 2)).status).toBe(201);
    await browser.get("/host");

    const never = await pageWithBrokenD1(browser, `/host/events/${event.id}`);
    expect(never.status).toBe(200);
    expect(textOf(never.html)).toContain("Analytics are briefly unavailable. Reload in a minute.");
    expect(never.html).not.toContain('data-figure="tickets"');
    expect(never.html).toMatch(/data-stat="sold">2</);

    // A good load keeps its answer; the next failure shows it, marked stale.
    const good = await browser.get(`/host/events/${event.id}`);
    expect(good.html).toContain('data-figure="tickets">2<');
    expect(textOf(good.html)).not.toContain("fresh ones are delayed");
    const stale = await pageWithBrokenD1(browser, `/host/events/${event.id}`);
    expect(stale.status).toBe(200);
    expect(stale.html).toContain('data-figure="tickets">2<');
    expect(textOf(stale.html)).toMatch(
      /Showing the last figures we had \(\d{4}-\d{2}-\d{2}T[^)]+\); fresh ones are delayed\./,
    );
  });
});
