/**
 * The attendee pages: the event list (upcoming, nearby, paged), the event page in each of its states
 * and its order form (free claims exactly once per form, paid orders to Stripe Checkout, refusals as
 * the page with a reason), the wallet (one scannable, verifiable code per active ticket, only one's
 * own tickets, refunds where the policy allows), the wallet's service worker, and the pages' budget
 * and CSP-friendly markup.
 */
import { env } from "cloudflare:workers";
import jsQR from "jsqr";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import { ticketKeyRing } from "../../src/features/gate/keys";
import { verifyTicketToken } from "../../src/features/gate/token";
import {
  buyers,
  createEvent,
  DAY,
  d1Orders,
  d1Tickets,
  HOUR,
  hostWithToken,
  inventory,
  order,
} from "../features/events/helpers";
import { gateEvent, qrToken, registerDevice, scan, scanBody } from "../features/gate/helpers";
import { FakeStripe } from "../features/payments/fake-stripe";
import { PaymentsHarness } from "../features/payments/harness";
import { checkout, d1Rows, PRICE, paid } from "../features/payments/helpers";
import { call } from "../helpers";
import { at, hasOrderForm, orderFields, signedIn, unique } from "./attendee-helpers";
import { Browser, type Page, textOf } from "./browser";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

/** The event card (its <li>) that holds `title`. */
function cardOf(html: string, title: string): string {
  const at = html.indexOf(title);
  if (at < 0) return "";
  return html.slice(html.lastIndexOf("<li", at), html.indexOf("</li>", at));
}

describe("the event list (/)", () => {
  it("lists published upcoming events with time in the event's zone, venue, price and availability; not drafts", async () => {
    const host = await hostWithToken();
    const soon = Date.now() + 20 * 60 * 1000;
    const jazz = unique("Early Jazz");
    const draftTitle = unique("Secret Draft");
    const full = unique("Tiny Room");
    const published = await createEvent(host.token, {
      title: jazz,
      startsAt: at(soon),
      endsAt: at(soon + 2 * HOUR),
      timezone: "America/New_York",
      price: 1500,
      currency: "USD",
      capacity: 100,
    });
    await createEvent(host.token, { title: draftTitle, startsAt: at(soon + 1000), endsAt: at(soon + HOUR) }, false);
    const tiny = await createEvent(host.token, {
      title: full,
      startsAt: at(soon + 2000),
      endsAt: at(soon + HOUR),
      capacity: 1,
    });
    const fewTitle = unique("Almost Full");
    const few = await createEvent(host.token, {
      title: fewTitle,
      startsAt: at(soon + 3000),
      endsAt: at(soon + HOUR),
      capacity: 5,
      perUserLimit: 5,
    });
    const [someone] = await buyers(1);
    expect((await order(tiny.id, someone?.token ?? "")).status).toBe(201);
    expect((await order(few.id, someone?.token ?? "", 3)).status).toBe(201);

    const page = await new Browser().get("/");
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain(jazz);
    expect(text).not.toContain(draftTitle);
    expect(page.html).toContain(`href="/e/${published.id}"`);
    const nyTime = new Intl.DateTimeFormat("en-GB", {
      timeZone: "America/New_York",
      hour: "2-digit",
      minute: "2-digit",
    }).format(new Date(soon));
    const card = cardOf(page.html, jazz);
    expect(card).toContain(nyTime);
    expect(card).toMatch(/GMT-[45]|E[SD]T/);
    expect(textOf(card)).toContain("De Kade");
    expect(textOf(card)).toContain("US$15.00");
    const tinyCard = cardOf(page.html, full);
    expect(textOf(tinyCard)).toContain("Sold out");
    expect(textOf(tinyCard)).toContain("Free");
    const fewCard = cardOf(page.html, fewTitle);
    expect(textOf(fewCard)).toContain("Only 2 left");
    expect(textOf(card)).not.toMatch(/Sold out|left/);
    // The near-me button exists only for the script to reveal.
    expect(page.html).toMatch(/<button[^>]*id="near-me"[^>]*hidden/);
    expect(page.html).toContain('src="/assets/events.js"');
    expect(page.headers.get("Cache-Control")).toBe("private, max-age=0, must-revalidate");
  });

  it("pages with the listing's cursor behind a “More events” link", async () => {
    // Three hosts: one host's writes are rate-limited (dashboard-write).
    const hosts = await Promise.all([hostWithToken(), hostWithToken(), hostWithToken()]);
    // A spot of its own (the South Atlantic) so other tests' events do not interleave.
    const base = Date.now() + 3 * DAY;
    const titles: string[] = [];
    for (let i = 0; i < 21; i++) {
      const title = unique(`Paged ${String(i).padStart(2, "0")}`);
      titles.push(title);
      await createEvent(hosts[i % 3]?.token ?? "", {
        title,
        startsAt: at(base + i * 60_000),
        endsAt: at(base + i * 60_000 + HOUR),
        venue: { name: "Far Hall", address: "Ocean 1", lat: -40.1, lng: -20.1 },
      });
    }
    const browser = new Browser();
    const first = await browser.get("/?near=-40.100,-20.100&radiusKm=5");
    expect(first.status).toBe(200);
    for (const title of titles.slice(0, 20)) expect(textOf(first.html)).toContain(title);
    expect(textOf(first.html)).not.toContain(titles[20]);
    const more = /<a[^>]*rel="next"[^>]*href="([^"]+)"/.exec(first.html)?.[1]?.replace(/&amp;/g, "&");
    expect(more).toMatch(/^\/\?cursor=.+&near=-40\.100%2C-20\.100&radiusKm=5$/);
    const second = await browser.get(more ?? "");
    expect(textOf(second.html)).toContain(titles[20]);
    expect(textOf(second.html)).not.toContain(titles[0]);
  });

  it("with ?near= lists only events within the radius, nearest first, with their distance", async () => {
    const host = await hostWithToken();
    const start = Date.now() + 2 * DAY;
    // Around a point in the Southern Ocean: the later events are the nearer ones.
    const spots = [
      { title: unique("Far"), lat: -50.15, lng: 100.1, offset: 0 },
      { title: unique("Middle"), lat: -50.08, lng: 100.05, offset: 1 },
      { title: unique("Near"), lat: -50.01, lng: 100.0, offset: 2 },
      { title: unique("Outside"), lat: -51.5, lng: 100.0, offset: 3 },
    ];
    for (const spot of spots) {
      await createEvent(host.token, {
        title: spot.title,
        startsAt: at(start + spot.offset * HOUR),
        endsAt: at(start + spot.offset * HOUR + HOUR),
        venue: { name: `${spot.title} hall`, address: "Sea", lat: spot.lat, lng: spot.lng },
      });
    }
    const page = await new Browser().get("/?near=-50.000,100.000");
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Events near you");
    const positions = spots.slice(0, 3).map((s) => text.indexOf(s.title));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect(positions[2]).toBeLessThan(positions[1] as number);
    expect(positions[1]).toBeLessThan(positions[0] as number);
    expect(text).not.toContain(spots[3]?.title);
    expect(text).toMatch(/\d+ m away|\d+\.\d km away/);
    expect(page.html).toContain('href="/"');
  });

  it("answers a malformed or out-of-range location with a clear message and the plain list", async () => {
    for (const near of ["garbage", "95.000,10.000", "1,2,3"]) {
      const page = await new Browser().get(`/?near=${encodeURIComponent(near)}`);
      expect(page.status, near).toBe(400);
      expect(textOf(page.html)).toContain("That location is not one we can search around");
      expect(textOf(page.html)).toContain("Upcoming events");
    }
    const badCursor = await new Browser().get("/?cursor=not-a-cursor");
    expect(badCursor.status).toBe(400);
    expect(textOf(badCursor.html)).toContain("That page of events does not exist");
  });
});

describe("the event page (/e/:id)", () => {
  it("shows details and availability; signed out it offers sign-in instead of the form", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 40 });
    const page = await new Browser().get(`/e/${event.id}`);
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Rooftop Jazz");
    expect(text).toContain("Kade 1, Amsterdam");
    expect(text).toContain("40 available");
    expect(text).toContain("Bring a jacket");
    expect(page.html).toContain('<meta name="description" content="Bring a jacket."/>');
    expect(page.html).toContain(`href="/login?next=%2Fe%2F${event.id}"`);
    expect(text).toContain("Sign in to get tickets");
    expect(hasOrderForm(page, event.id)).toBe(false);
  });

  it("is not found for a draft (except for its host), like the API", async () => {
    const host = await hostWithToken();
    const draft = await createEvent(host.token, {}, false);
    const { browser } = await signedIn();
    const page = await browser.get(`/e/${draft.id}`);
    expect(page.status).toBe(404);
    expect(textOf(page.html)).toContain("Page not found");
    expect((await new Browser().get("/e/no-such-event")).status).toBe(404);

    const owner = new Browser();
    owner.cookies.set("__Host-access", host.token);
    const own = await owner.get(`/e/${draft.id}`);
    expect(own.status).toBe(200);
    expect(textOf(own.html)).toContain("Draft: only you can see this page.");
  });

  it("sold out, not yet on sale, sales ended, started and cancelled each say so and offer no form", async () => {
    const host = await hostWithToken();
    const { browser } = await signedIn();
    const soldOut = await createEvent(host.token, { capacity: 1 });
    const [other] = await buyers(1);
    expect((await order(soldOut.id, other?.token ?? "")).status).toBe(201);
    const salesStart = Date.now() + DAY;
    const notYet = await createEvent(host.token, { salesStartAt: at(salesStart) });
    const cancelled = await createEvent(host.token);
    expect(
      (
        await call(`/api/v1/events/${cancelled.id}/cancel`, {
          method: "POST",
          headers: { Authorization: `Bearer ${host.token}` },
        })
      ).status,
    ).toBe(200);

    const cases: [string, string][] = [
      [soldOut.id, "Sold out. Every ticket has been taken."],
      [notYet.id, "Not on sale yet. Tickets go on sale on"],
      [cancelled.id, "This event was cancelled."],
    ];
    for (const [id, message] of cases) {
      const page = await browser.get(`/e/${id}`);
      expect(page.status, message).toBe(200);
      expect(textOf(page.html), message).toContain(message);
      expect(hasOrderForm(page, id), message).toBe(false);
    }
    const notYetPage = await browser.get(`/e/${notYet.id}`);
    expect(notYetPage.html).toContain(`datetime="${new Date(salesStart).toISOString()}"`);

    // Times move on: sales close an hour before a start that then passes.
    const start = Date.now() + 2 * HOUR;
    const closing = await createEvent(host.token, {
      startsAt: at(start),
      endsAt: at(start + HOUR),
      salesEndAt: at(start - HOUR),
    });
    expect(hasOrderForm(await browser.get(`/e/${closing.id}`), closing.id)).toBe(true);
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(start - 30 * 60 * 1000);
    const ended = await browser.get(`/e/${closing.id}`);
    expect(textOf(ended.html)).toContain("Ticket sales ended on");
    expect(hasOrderForm(ended, closing.id)).toBe(false);
    vi.setSystemTime(start + 60 * 1000);
    const started = await browser.get(`/e/${closing.id}`);
    expect(textOf(started.html)).toContain("This event has started");
    expect(hasOrderForm(started, closing.id)).toBe(false);
    vi.setSystemTime(start + 2 * HOUR);
    const over = await new Browser().get(`/e/${closing.id}`);
    expect(textOf(over.html)).toContain("This event has ended.");
    expect(hasOrderForm(over, closing.id)).toBe(false);
  });

  it("bounds the quantity choice by the per-person limit and what is left", async () => {
    const host = await hostWithToken();
    const { browser } = await signedIn();
    const event = await createEvent(host.token, { capacity: 3, perUserLimit: 5 });
    const page = await browser.get(`/e/${event.id}`);
    const options = [...page.html.matchAll(/<option value="(\d+)"/g)].map((m) => m[1]);
    expect(options).toEqual(["1", "2", "3"]);
    const limited = await createEvent(host.token, { capacity: 50, perUserLimit: 2 });
    const limitedPage = await browser.get(`/e/${limited.id}`);
    expect([...limitedPage.html.matchAll(/<option value="(\d+)"/g)].map((m) => m[1])).toEqual(["1", "2"]);
  });
});

describe("ordering from the event page", () => {
  it("a free claim creates exactly one order even when the same form is sent twice at once", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, perUserLimit: 4 });
    const { browser, buyer } = await signedIn();
    const page = await browser.get(`/e/${event.id}`);
    const fields = { ...orderFields(page), quantity: "2" };

    const [a, b] = await Promise.all([
      browser.submit(`/e/${event.id}/order`, fields),
      browser.submit(`/e/${event.id}/order`, fields),
    ]);
    expect(a.status).toBe(303);
    expect(b.status).toBe(303);
    expect(a.location).toMatch(/^\/me\/tickets\?new=[A-Za-z0-9_-]+$/);
    expect(b.location).toBe(a.location);

    const orders = await d1Orders(event.id);
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ user_id: buyer.id, status: "confirmed", quantity: 2 });
    expect(a.location).toBe(`/me/tickets?new=${orders[0]?.id}`);
    expect(await d1Tickets(event.id)).toHaveLength(2);

    // Sent again later (back button): the same order, still one.
    const again = await browser.submit(`/e/${event.id}/order`, fields);
    expect(again.location).toBe(a.location);
    expect(await d1Orders(event.id)).toHaveLength(1);

    // A new rendering of the form is a new order.
    const fresh = orderFields(await browser.get(`/e/${event.id}`));
    const second = await browser.submit(`/e/${event.id}/order`, { ...fresh, quantity: "1" });
    expect(second.status).toBe(303);
    expect(second.location).not.toBe(a.location);
    expect(await d1Orders(event.id)).toHaveLength(2);
  });

  it("refusals come back as the event page with the reason, and nothing is ordered", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 1 });
    const { browser } = await signedIn();
    const fields = orderFields(await browser.get(`/e/${event.id}`));
    // Someone else takes the last seat while the form is open.
    const [other] = await buyers(1);
    expect((await order(event.id, other?.token ?? "")).status).toBe(201);

    const refused = await browser.submit(`/e/${event.id}/order`, fields);
    expect(refused.status).toBe(409);
    expect(refused.headers.get("Content-Type")).toMatch(/^text\/html/);
    const text = textOf(refused.html);
    expect(text).toContain("Sold out.");
    expect(text).toContain("Rooftop Jazz");
    expect(hasOrderForm(refused, event.id)).toBe(false);
    expect(await d1Orders(event.id)).toHaveLength(1);

    // Over the per-person limit (a forged quantity): the service's reason.
    const roomy = await createEvent(host.token, { capacity: 10, perUserLimit: 2 });
    const roomyFields = orderFields(await browser.get(`/e/${roomy.id}`));
    const over = await browser.submit(`/e/${roomy.id}/order`, { ...roomyFields, quantity: "3" });
    expect(over.status).toBe(409);
    expect(textOf(over.html)).toContain("At most 2 ticket(s) per person");
    expect(hasOrderForm(over, roomy.id)).toBe(true);
    expect(await d1Orders(roomy.id)).toEqual([]);

    // Already holding the one ticket a free event allows.
    const single = await createEvent(host.token, { capacity: 10 });
    const first = await browser.submit(`/e/${single.id}/order`, orderFields(await browser.get(`/e/${single.id}`)));
    expect(first.status).toBe(303);
    const held = await browser.get(`/e/${single.id}`);
    expect(textOf(held.html)).toContain("You have 1 ticket for this event");
    expect(hasOrderForm(held, single.id)).toBe(false);
    const forged = await browser.submit(`/e/${single.id}/order`, { key: "k".repeat(22), quantity: "1" });
    expect(forged.status).toBe(409);
    expect(textOf(forged.html)).toContain("You already have a ticket for this event");
    expect(await d1Orders(single.id)).toHaveLength(1);
  });

  it("refuses a form without its key or CSRF token, and signed out sends to sign-in", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    const { browser } = await signedIn();
    await browser.get(`/e/${event.id}`);
    const noKey = await browser.submit(`/e/${event.id}/order`, { quantity: "1" });
    expect(noKey.status).toBe(400);
    expect(textOf(noKey.html)).toContain("Choose how many tickets you want");
    const forged = await browser.submit(
      `/e/${event.id}/order`,
      { key: "k".repeat(22), quantity: "1" },
      { csrf: "x.y" },
    );
    expect(forged.status).toBe(403);
    expect(await d1Orders(event.id)).toEqual([]);

    const anonymous = new Browser();
    await anonymous.get(`/e/${event.id}`);
    const out = await anonymous.submit(`/e/${event.id}/order`, { key: "k".repeat(22), quantity: "1" });
    expect(out.status).toBe(303);
    expect(out.location).toBe(`/login?next=%2Fe%2F${event.id}`);
  });

  it("takes the orders rate policy: past it the page says to wait, and no order is made", async () => {
    const host = await hostWithToken();
    const { browser } = await signedIn();
    const events = await Promise.all(Array.from({ length: 6 }, () => createEvent(host.token, { capacity: 10 })));
    const answers: Page[] = [];
    for (const event of events) {
      const fields = orderFields(await browser.get(`/e/${event.id}`));
      answers.push(await browser.submit(`/e/${event.id}/order`, fields));
    }
    expect(answers.slice(0, 5).map((a) => a.status)).toEqual([303, 303, 303, 303, 303]);
    const limited = answers[5] as Page;
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(textOf(limited.html)).toContain("Too many order attempts");
    expect(await d1Orders(events[5]?.id ?? "")).toEqual([]);
  });

  it("a paid order goes to the Stripe Checkout page Stripe returned, once per form", async () => {
    const stripe = new FakeStripe().install();
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: PRICE, currency: "EUR", capacity: 10 });
    const { browser, buyer } = await signedIn();
    const page = await browser.get(`/e/${event.id}`);
    expect(textOf(page.html)).toContain("Buy tickets · €15.00 each");
    const fields = orderFields(page);

    const [a, b] = await Promise.all([
      browser.submit(`/e/${event.id}/order`, fields),
      browser.submit(`/e/${event.id}/order`, fields),
    ]);
    expect(a.status).toBe(303);
    expect(a.location).toMatch(/^https:\/\/checkout\.stripe\.com\/c\/pay\//);
    expect(b.location).toBe(a.location);
    const session = stripe.sessionByUrl(a.location ?? "");
    expect(session.amount_total).toBe(PRICE);
    expect(session.success_url).toContain("/me/tickets?");
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(1);
    const orders = await d1Orders(event.id);
    expect(orders).toHaveLength(1);
    expect(orders[0]).toMatchObject({ user_id: buyer.id, status: "held", quantity: 1 });
  });
});

/** The dark modules of the page's compact SVG (one stroked run per segment), as an RGBA image. */
function rasterize(svg: string, scale = 4): { data: Uint8ClampedArray; width: number; height: number } {
  const size = Number(/viewBox="0 0 (\d+) \d+"/.exec(svg)?.[1]);
  const d = /<path[^>]* d="([^"]+)"/.exec(svg)?.[1] ?? "";
  const width = size * scale;
  const data = new Uint8ClampedArray(width * width * 4).fill(255);
  let x = 0;
  let y = 0;
  for (const [, cmd, a, b, run] of d.matchAll(/([Mm])(\d+) (\d+(?:\.5)?)h(\d+)/g)) {
    if (cmd === "M") {
      x = Number(a);
      y = Math.floor(Number(b));
    } else x += Number(a);
    for (let i = 0; i < Number(run); i++) {
      for (let dy = 0; dy < scale; dy++) {
        for (let dx = 0; dx < scale; dx++) {
          const offset = ((y * scale + dy) * width + (x + i) * scale + dx) * 4;
          data[offset] = data[offset + 1] = data[offset + 2] = 0;
        }
      }
    }
    x += Number(run);
  }
  return { data, width, height: width };
}

describe("the wallet (/me/tickets)", () => {
  it("shows one scannable QR per active ticket, signed for that ticket, with its expiry; never anyone else's", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { title: unique("Wallet Night"), capacity: 10, perUserLimit: 3 });
    const othersEvent = await createEvent(host.token, { title: unique("Not Yours"), capacity: 10 });
    const { browser, buyer } = await signedIn();
    const fields = { ...orderFields(await browser.get(`/e/${event.id}`)), quantity: "2" };
    const placed = await browser.submit(`/e/${event.id}/order`, fields);
    const [other] = await buyers(1);
    expect((await order(othersEvent.id, other?.token ?? "")).status).toBe(201);
    expect((await order(event.id, other?.token ?? "")).status).toBe(201);

    const wallet = await browser.get(placed.location ?? "");
    expect(wallet.status).toBe(200);
    expect(wallet.headers.get("Cache-Control")).toBe("no-store");
    const text = textOf(wallet.html);
    expect(text).toContain("Your tickets are ready");
    expect(text).not.toContain("Not Yours");

    const mine = (await d1Tickets(event.id)).filter((t) => t.user_id === buyer.id);
    expect(mine).toHaveLength(2);
    const figures = [
      ...wallet.html.matchAll(
        /<figure class="qr" data-ticket-id="([^"]+)" data-expires-at="([^"]+)">([\s\S]*?)<\/figure>/g,
      ),
    ];
    expect(figures.map((f) => f[1]).sort()).toEqual(mine.map((t) => t.id).sort());

    const ring = await ticketKeyRing(getConfig(env));
    for (const [, ticketId, expiresAt, inner] of figures) {
      expect(Date.parse(expiresAt ?? "")).toBeGreaterThan(Date.now());
      const svg = /<svg[\s\S]*<\/svg>/.exec(inner ?? "")?.[0] ?? "";
      const image = rasterize(svg);
      const decoded = jsQR(image.data, image.width, image.height);
      expect(decoded, "the SVG is a readable QR code").not.toBeNull();
      const check = await verifyTicketToken(ring.verifiers, decoded?.data ?? "", { at: Date.now(), skewSeconds: 0 });
      expect(check.ok).toBe(true);
      if (check.ok) {
        expect(check.ticketId).toBe(ticketId);
        expect(check.expiresAt).toBe(Date.parse(expiresAt ?? ""));
      }
    }
    expect(wallet.html).toContain('src="/assets/wallet.js"');
    expect(wallet.html).toMatch(/<div id="wallet-offline"[^>]*hidden/);
  });

  it("shows a cancelled order's tickets without codes, with their status", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { title: unique("Given Back"), capacity: 10 });
    const { browser, buyer } = await signedIn();
    const placed = await browser.submit(`/e/${event.id}/order`, orderFields(await browser.get(`/e/${event.id}`)));
    const orderId = new URL(placed.location ?? "", "https://x").searchParams.get("new");
    const cancel = await call(`/api/v1/orders/${orderId}/cancel`, {
      method: "POST",
      headers: { Authorization: `Bearer ${buyer.token}` },
    });
    expect(cancel.status).toBe(200);
    const wallet = await browser.get("/me/tickets");
    expect(textOf(wallet.html)).toContain("Cancelled");
    expect(wallet.html).not.toContain('<figure class="qr"');
  });

  it("says when a ticket was checked in, and shows no code for it", async () => {
    const { host, event } = await gateEvent({ title: unique("Doors Open"), perUserLimit: 2 });
    const { browser, buyer } = await signedIn();
    await browser.submit(`/e/${event.id}/order`, {
      ...orderFields(await browser.get(`/e/${event.id}`)),
      quantity: "2",
    });
    const [used, unused] = (await d1Tickets(event.id)).filter((t) => t.user_id === buyer.id);
    const device = await registerDevice(event.id, host.token);
    const admitted = await scanBody(await scan(device.token, await qrToken(used?.id ?? "", buyer.token)));
    expect(admitted.result).toBe("admitted");
    // Scans reach the read model within LIMITS.gateProjectionDelayMs; the wallet reads that.
    await inventory(event.id).sync();

    const wallet = await browser.get("/me/tickets");
    const text = textOf(wallet.html);
    expect(text).toMatch(/Ticket #\d+ Checked in at \w{3}, \d{1,2} \w{3} \d{4}, \d{2}:\d{2}/);
    expect(wallet.html).toContain(`datetime="${admitted.scannedAt}"`);
    expect(wallet.html).not.toContain(`data-ticket-id="${used?.id}"`);
    expect(wallet.html).toContain(`data-ticket-id="${unused?.id}"`);
  });

  it("lists tickets of events that are over under Past, without codes", async () => {
    const host = await hostWithToken();
    const over = await createEvent(host.token, { title: unique("Last Week"), capacity: 10 });
    const coming = await createEvent(host.token, { title: unique("Next Week"), capacity: 10 });
    const { browser } = await signedIn();
    for (const event of [over, coming]) {
      expect(
        (await browser.submit(`/e/${event.id}/order`, orderFields(await browser.get(`/e/${event.id}`)))).status,
      ).toBe(303);
    }
    // The wallet reads the D1 read model: move that event into the past there.
    const now = Date.now();
    await env.DB.prepare("UPDATE events SET starts_at = ?, ends_at = ? WHERE id = ?")
      .bind(now - 5 * HOUR, now - 2 * HOUR, over.id)
      .run();
    const wallet = await browser.get("/me/tickets");
    const html = wallet.html;
    const pastAt = html.indexOf("<h2>Past</h2>");
    expect(pastAt).toBeGreaterThan(0);
    const upcoming = html.slice(0, pastAt);
    const past = html.slice(pastAt);
    expect(textOf(upcoming)).toContain("Next Week");
    expect(textOf(upcoming)).not.toContain("Last Week");
    expect(textOf(past)).toContain("Last Week");
    expect(past).not.toContain('<figure class="qr"');
    expect((upcoming.match(/<figure class="qr"/g) ?? []).length).toBe(1);
  });

  it("says how a Stripe checkout ended when Stripe sends the buyer back", async () => {
    const { browser } = await signedIn();
    expect(textOf((await browser.get("/me/tickets?checkout=success&order=x")).html)).toContain("Payment received");
    expect(textOf((await browser.get("/me/tickets?checkout=cancelled&order=x")).html)).toContain(
      "Checkout cancelled: nothing was charged.",
    );
    // Someone else's order id in ?new= earns no “ready” banner.
    expect(textOf((await browser.get("/me/tickets?new=not-mine")).html)).not.toContain("Your tickets are ready");
  });

  it("sends a signed-out visitor to sign in and back", async () => {
    const page = await new Browser().get("/me/tickets");
    expect(page.status).toBe(303);
    expect(page.location).toBe("/login?next=%2Fme%2Ftickets");
  });

  it("serves its service worker under /me/ with the scope header, from the assets", async () => {
    const response = await call("/me/sw.js");
    expect(response.status).toBe(200);
    expect(response.headers.get("Content-Type")).toMatch(/javascript/);
    expect(response.headers.get("Service-Worker-Allowed")).toBe("/me/");
    expect(response.headers.get("X-Content-Type-Options")).toBe("nosniff");
    // Its own fetches (the wallet, the assets) obey this CSP: the API's default-src 'none' would fail them all.
    expect(response.headers.get("Content-Security-Policy")).toBe(
      "default-src 'none'; connect-src 'self'; frame-ancestors 'none'",
    );
    const body = await response.text();
    expect(body).toContain('const PAGE = "/me/tickets"');
    expect(body).toContain("caches.delete(CACHE)");
  });
});

describe("refunds from the wallet", () => {
  let stripe: FakeStripe;
  beforeEach(() => {
    stripe = new FakeStripe().install();
    vi.spyOn(console, "log").mockImplementation(() => {});
    vi.spyOn(console, "warn").mockImplementation(() => {});
  });

  async function paidTicket(overrides: Record<string, unknown> = {}) {
    const h = new PaymentsHarness();
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: PRICE, currency: "EUR", capacity: 10, ...overrides });
    const { browser, buyer } = await signedIn();
    const { order: placed, session } = await checkout(h, stripe, event.id, buyer.token);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    return { browser, buyer, event, orderId: placed.id };
  }

  it("where the policy allows: a confirm step, then the tickets stop admitting and the wallet says so", async () => {
    const { browser, event, orderId } = await paidTicket();
    const wallet = await browser.get("/me/tickets");
    expect(textOf(wallet.html)).toContain("Refundable until");
    expect(wallet.html).toContain(`href="/me/orders/${orderId}/refund"`);

    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(200);
    expect(textOf(confirm.html)).toContain("€15.00 goes back to the card you paid with");
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);

    const unconfirmed = await browser.submit(`/me/orders/${orderId}/refund`, {});
    expect(unconfirmed.status).toBe(400);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);

    const done = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(done.status).toBe(303);
    expect(done.location).toBe(`/me/tickets?refunded=${orderId}`);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["refunding"]);
    const after = await browser.get(done.location ?? "");
    expect(textOf(after.html)).toContain("Refund requested");
    expect(after.html).not.toContain('<figure class="qr"');

    // The payments queue then asks Stripe, once (while Stripe is still faked).
    await vi.waitFor(
      async () => {
        const [job] = await d1Rows<{ status: string }>("SELECT status FROM refunds WHERE order_id = ?", orderId);
        expect(job?.status).toBe("succeeded");
      },
      { timeout: 10_000, interval: 200 },
    );
    expect(stripe.refunds).toHaveLength(1);
  });

  it("after the cut-off: says why not, and a forced request changes nothing", async () => {
    const start = Date.now() + 24 * HOUR;
    const { browser, event, orderId } = await paidTicket({
      startsAt: at(start),
      endsAt: at(start + 2 * HOUR),
    });
    const wallet = await browser.get("/me/tickets");
    expect(textOf(wallet.html)).toContain("Refund not available: Refunds closed 48 h before the event.");
    expect(wallet.html).not.toContain(`href="/me/orders/${orderId}/refund"`);

    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(409);
    expect(confirm.html).not.toContain('value="yes"');
    const forced = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(forced.status).toBe(422);
    expect(textOf(forced.html)).toContain("Refunds were possible until 48 h before the start");
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
  });

  it("someone else's order is not found", async () => {
    const { orderId } = await paidTicket();
    const { browser } = await signedIn();
    expect((await browser.get(`/me/orders/${orderId}/refund`)).status).toBe(404);
    expect((await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" })).status).toBe(404);
  });
});

describe("every attendee page", () => {
  /** The page's HTML plus every stylesheet and script it references, in bytes. */
  async function weight(page: Page): Promise<number> {
    const refs = [
      ...page.html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g),
      ...page.html.matchAll(/<script[^>]* src="([^"]+)"/g),
    ].map((m) => m[1] ?? "");
    let total = new TextEncoder().encode(page.html).length;
    for (const ref of new Set(refs)) {
      const response = await call(ref);
      expect(response.status, ref).toBe(200);
      total += (await response.arrayBuffer()).byteLength;
    }
    return total;
  }

  function expectCspFriendly(page: Page, label: string) {
    expect(page.html, label).not.toMatch(/\sstyle="/i);
    expect(page.html, label).not.toMatch(/\son[a-z]+="/i);
    expect(page.html, label).not.toMatch(/javascript:/i);
    const nonce = /'nonce-([A-Za-z0-9_-]+)'/.exec(page.headers.get("Content-Security-Policy") ?? "")?.[1];
    for (const tag of page.html.match(/<script[^>]*>/g) ?? []) {
      expect(tag, label).toContain(`nonce="${nonce}"`);
      expect(tag, label).toMatch(/ src="\/assets\//);
    }
    expect(page.html, label).not.toMatch(/<script[^>]*>[^<]+<\/script>/);
  }

  it("stays within 50 KB of HTML, CSS and JS, with CSP-friendly markup", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 20, perUserLimit: 6 });
    const { browser } = await signedIn();
    const eventView = await browser.get(`/e/${event.id}`);
    await browser.submit(`/e/${event.id}/order`, { ...orderFields(eventView), quantity: "6" });
    const pages: [string, Page][] = [
      ["/", await new Browser().get("/")],
      ["/?near", await new Browser().get("/?near=52.370,4.890")],
      ["/e/:id", await browser.get(`/e/${event.id}`)],
      ["/me/tickets", await browser.get("/me/tickets")],
    ];
    for (const [label, page] of pages) {
      expect(page.status, label).toBe(200);
      expectCspFriendly(page, label);
      expect(await weight(page), label).toBeLessThanOrEqual(50 * 1024);
    }
    // Six tickets: four codes drawn into the page, two for wallet.js to fetch (or to open by link).
    const wallet = pages[3]?.[1].html ?? "";
    expect((wallet.match(/<figure class="qr"/g) ?? []).length).toBe(6);
    expect((wallet.match(/<svg /g) ?? []).length).toBe(4);
    const later = [...wallet.matchAll(/data-ticket-id="([^"]+)" data-expires-at=""/g)].map((m) => m[1]);
    expect(later).toHaveLength(2);
    for (const id of later) expect(wallet).toContain(`href="/api/v1/tickets/${id}/qr?format=svg"`);
  });
});
