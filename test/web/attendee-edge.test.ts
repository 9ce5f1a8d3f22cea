/**
 * The attendee pages at their edges: order forms sent with garbage, re-sent with other choices or
 * while their first sending still runs, and refused by the payment provider; refunds asked for orders
 * that cannot be refunded, for each reason, and by someone signed out; the wallet with orders in
 * every refund state; the event list with locations and pages it cannot search.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/lib/crypto";
import { bearer } from "../features/auth/helpers";
import { createEvent, d1Orders, d1Tickets, HOUR, hostWithToken, inventory } from "../features/events/helpers";
import { qrToken, registerDevice, scan, scanBody } from "../features/gate/helpers";
import { FakeStripe } from "../features/payments/fake-stripe";
import { PaymentsHarness } from "../features/payments/harness";
import { checkout, d1Rows, PRICE, paid } from "../features/payments/helpers";
import { call } from "../helpers";
import { freezeClock } from "../support/clock";
import { at, hasOrderForm, orderFields, signedIn, unique } from "./attendee-helpers";
import { Browser, textOf } from "./browser";

afterEach(() => {
  vi.restoreAllMocks();
});

function quiet() {
  vi.spyOn(console, "log").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
}

describe("the order form's hints", () => {
  it("says what is left for this person: one more ticket, the last ticket, and what they already hold", async () => {
    const host = await hostWithToken();
    const { browser } = await signedIn();
    const pair = await createEvent(host.token, { capacity: 10, perUserLimit: 2 });
    const first = await browser.submit(`/e/${pair.id}/order`, orderFields(await browser.get(`/e/${pair.id}`)));
    expect(first.status).toBe(303);
    const again = await browser.get(`/e/${pair.id}`);
    const text = textOf(again.html);
    expect(text).toContain("You can get one more ticket.");
    expect(text).toContain("You already have 1 ticket for this event.");
    // One left to choose: no select, a fixed quantity of one.
    expect(again.html).not.toContain("<select");
    expect(again.html).toContain('name="quantity" value="1"');

    const last = await createEvent(host.token, { capacity: 1, perUserLimit: 3 });
    const lastPage = await browser.get(`/e/${last.id}`);
    expect(textOf(lastPage.html)).toContain("One ticket left.");
    expect(textOf(lastPage.html)).not.toContain("You already have");

    const single = await createEvent(host.token, { capacity: 10, perUserLimit: 1 });
    expect(textOf((await browser.get(`/e/${single.id}`)).html)).toContain("One ticket per person.");
  });

  it("an event without a description is described by its title and venue, with no About section", async () => {
    const host = await hostWithToken();
    const title = unique("Plain Night");
    const event = await createEvent(host.token, { title, description: "" });
    const page = await new Browser().get(`/e/${event.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`<meta name="description" content="${title} at De Kade"/>`);
    expect(page.html).not.toContain('id="about-heading"');
  });

  it("a paid event whose host offers no refunds says so before anyone buys", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: PRICE, currency: "EUR" });
    const before = await new Browser().get(`/e/${event.id}`);
    expect(textOf(before.html)).toContain("Until 48 h before the start");
    const set = await call(`/api/v1/events/${event.id}/refund-policy`, {
      method: "PUT",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ refundable: false, cutoffHours: 48 }),
    });
    expect(set.status).toBe(200);
    const after = await new Browser().get(`/e/${event.id}`);
    expect(textOf(after.html)).toContain("Refunds This event does not offer refunds.");
    // A free event has no refund line at all.
    const free = await createEvent(host.token);
    expect(textOf((await new Browser().get(`/e/${free.id}`)).html)).not.toContain("Refunds");
  });
});

describe("order forms sent wrong", () => {
  it("a garbage quantity or a key that is not one of ours is refused with the form again, and orders nothing", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, perUserLimit: 4 });
    const { browser } = await signedIn();
    const key = orderFields(await browser.get(`/e/${event.id}`)).key ?? "";
    const bad: Record<string, string>[] = [
      { key, quantity: "abc" },
      { key, quantity: "0" },
      { key, quantity: "-1" },
      { key, quantity: "1.5" },
      { key, quantity: "1000000" },
      { key: "short", quantity: "1" },
      { key: "../../etc/passwd-but-long-enough", quantity: "1" },
      { key: "k".repeat(65), quantity: "1" },
    ];
    for (const fields of bad) {
      const page = await browser.submit(`/e/${event.id}/order`, fields);
      expect(page.status, JSON.stringify(fields)).toBe(400);
      expect(textOf(page.html)).toContain("Choose how many tickets you want, then send the form again.");
      expect(hasOrderForm(page, event.id)).toBe(true);
    }
    expect(await d1Orders(event.id)).toEqual([]);
    // The key was never claimed: the rendered form still orders, once.
    const ok = await browser.submit(`/e/${event.id}/order`, { key, quantity: "2" });
    expect(ok.status).toBe(303);
    expect((await d1Orders(event.id)).map((o) => o.quantity)).toEqual([2]);
  });

  it("an order for an event that does not exist, or a draft, is the 404 page", async () => {
    const host = await hostWithToken();
    const draft = await createEvent(host.token, {}, false);
    const { browser } = await signedIn();
    await browser.get("/");
    for (const id of ["no-such-event", draft.id]) {
      const page = await browser.submit(`/e/${id}/order`, { key: "k".repeat(22), quantity: "1" });
      expect(page.status, id).toBe(404);
      expect(textOf(page.html)).toContain("Page not found");
    }
    expect(await d1Orders(draft.id)).toEqual([]);
  });

  it("the same form re-sent with other choices is refused, and the first order stands alone", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, perUserLimit: 4 });
    const { browser } = await signedIn();
    const fields = orderFields(await browser.get(`/e/${event.id}`));
    const first = await browser.submit(`/e/${event.id}/order`, fields);
    expect(first.status).toBe(303);

    const changed = await browser.submit(`/e/${event.id}/order`, { ...fields, quantity: "3" });
    expect(changed.status).toBe(422);
    expect(textOf(changed.html)).toContain("That form was already sent with other choices.");
    // The page offers a fresh form, with the quantity asked for chosen.
    expect(hasOrderForm(changed, event.id)).toBe(true);
    expect(changed.html).toMatch(/<option value="3" selected/);
    expect(changed.html).not.toContain(`value="${fields.key}"`);
    expect((await d1Orders(event.id)).map((o) => o.quantity)).toEqual([1]);

    // Sent unchanged, it still answers where the first sending went.
    const same = await browser.submit(`/e/${event.id}/order`, fields);
    expect(same.location).toBe(first.location);
    expect(await d1Orders(event.id)).toHaveLength(1);
  });

  it("while the first sending of a form still holds it, a second waits, then says it is still being processed", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    const { browser, buyer } = await signedIn();
    const fields = orderFields(await browser.get(`/e/${event.id}`));
    // The first sending (say, a stalled tab) claimed the key and has not finished.
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, expires_at, created_at)
       VALUES (?, ?, ?, 'running', ?, ?, ?)`,
    )
      .bind(
        `user:${buyer.id}`,
        `page-order:${fields.key}`,
        await sha256Hex(`POST /e/${event.id}/order\nquantity=1`),
        now + 10 * 60_000,
        now + 24 * HOUR,
        now,
      )
      .run();
    const clock = freezeClock(now);
    const pending = browser.submit(`/e/${event.id}/order`, fields);
    // The second sending polls; past the lock time it stops waiting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    clock.advance(61_000);
    const page = await pending;
    expect(page.status).toBe(409);
    expect(textOf(page.html)).toContain("Your order is still being processed. Check My tickets in a moment.");
    expect(await d1Orders(event.id)).toEqual([]);
  });
});

describe("a paid order the payment provider refuses", () => {
  let stripe: FakeStripe;
  beforeEach(() => {
    stripe = new FakeStripe().install();
    quiet();
  });

  it("Stripe failing (5xx) comes back as the page with Retry-After; the same form then goes to one checkout", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: PRICE, currency: "EUR", capacity: 10 });
    const { browser, buyer } = await signedIn();
    const fields = orderFields(await browser.get(`/e/${event.id}`));
    let failures = 0;
    stripe.script = (c) => {
      if (c.path !== "/v1/checkout/sessions") return undefined;
      failures += 1;
      return { status: 500, type: "api_error", message: "Something went wrong on Stripe's end." };
    };
    const failed = await browser.submit(`/e/${event.id}/order`, fields);
    expect(failures).toBeGreaterThan(0);
    expect(failed.status).toBe(503);
    expect(failed.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(textOf(failed.html)).toContain("We could not reach the payment provider. Nothing was charged");
    expect(stripe.created("/v1/checkout/sessions")).toEqual([]);

    // Stripe is back; the same form (sent again) lands on the same order's checkout, not a second hold.
    stripe.script = () => undefined;
    const retried = await browser.submit(`/e/${event.id}/order`, fields);
    expect(retried.status).toBe(303);
    expect(retried.location).toMatch(/^https:\/\/checkout\.stripe\.com\/c\/pay\//);
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(1);
    const orders = (await d1Orders(event.id)).filter((o) => o.user_id === buyer.id);
    expect(orders).toHaveLength(1);
    expect(stripe.sessionByUrl(retried.location ?? "").client_reference_id).toBe(orders[0]?.id);
  });

  it("Stripe refusing (4xx) comes back as the page without Retry-After, and no checkout exists", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { price: PRICE, currency: "EUR", capacity: 10 });
    const { browser } = await signedIn();
    const fields = orderFields(await browser.get(`/e/${event.id}`));
    stripe.script = (c) =>
      c.path === "/v1/checkout/sessions"
        ? { status: 400, type: "invalid_request_error", message: "Invalid currency." }
        : undefined;
    const refused = await browser.submit(`/e/${event.id}/order`, fields);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("Retry-After")).toBeNull();
    expect(textOf(refused.html)).toContain("We could not reach the payment provider. Nothing was charged");
    expect(hasOrderForm(refused, event.id)).toBe(true);
    expect(stripe.created("/v1/checkout/sessions")).toEqual([]);
  });
});

describe("refunds that cannot be asked for", () => {
  let stripe: FakeStripe;
  let h: PaymentsHarness;
  beforeEach(() => {
    stripe = new FakeStripe().install();
    h = new PaymentsHarness();
    quiet();
  });

  async function paidOrder(overrides: Record<string, unknown> = {}, quantity = 1) {
    const host = await hostWithToken();
    const event = await createEvent(host.token, {
      price: PRICE,
      currency: "EUR",
      capacity: 10,
      perUserLimit: 4,
      ...overrides,
    });
    const { browser, buyer } = await signedIn();
    const { order: placed, session } = await checkout(h, stripe, event.id, buyer.token, quantity);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    return { host, browser, buyer, event, orderId: placed.id };
  }

  async function refundJob(orderId: string) {
    const [job] = await d1Rows<{ status: string }>("SELECT status FROM refunds WHERE order_id = ?", orderId);
    return job?.status;
  }

  it("signed out, the confirm step and the request both send to sign-in, and nothing changes", async () => {
    const { event, orderId } = await paidOrder();
    const anonymous = new Browser();
    const confirm = await anonymous.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(303);
    expect(confirm.location).toBe("/login?next=%2Fme%2Ftickets");
    await anonymous.get("/");
    const forced = await anonymous.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(forced.status).toBe(303);
    expect(forced.location).toBe("/login?next=%2Fme%2Ftickets");
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
    expect(await refundJob(orderId)).toBeUndefined();
  });

  it("a free order: the page says free tickets are not refunded, and a forced request is refused", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    const { browser } = await signedIn();
    const placed = await browser.submit(`/e/${event.id}/order`, orderFields(await browser.get(`/e/${event.id}`)));
    const orderId = new URL(placed.location ?? "", "https://x").searchParams.get("new") ?? "";
    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(409);
    expect(textOf(confirm.html)).toContain("Free tickets are not refunded.");
    expect(confirm.html).not.toContain('value="yes"');
    const forced = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(forced.status).toBe(409);
    expect(textOf(forced.html)).toContain("Free tickets are cancelled, not refunded.");
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
    // The wallet offers nothing to refund for it.
    const wallet = await browser.get("/me/tickets");
    expect(wallet.html).not.toContain(`/me/orders/${orderId}/refund`);
    expect(textOf(wallet.html)).not.toContain("Refund");
  });

  it("an event that offers no refunds: the wallet and the confirm step say so, and a forced request is refused", async () => {
    const { host, browser, event, orderId } = await paidOrder();
    const set = await call(`/api/v1/events/${event.id}/refund-policy`, {
      method: "PUT",
      headers: { ...bearer(host.token), "Content-Type": "application/json" },
      body: JSON.stringify({ refundable: false, cutoffHours: 48 }),
    });
    expect(set.status).toBe(200);
    const wallet = await browser.get("/me/tickets");
    const text = textOf(wallet.html);
    expect(text).toContain("Refund not available: This event does not offer refunds.");
    // No date: the refusal is not about time.
    expect(text).not.toMatch(/does not offer refunds\.\s*\(/);
    expect(wallet.html).not.toContain(`href="/me/orders/${orderId}/refund"`);
    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(409);
    expect(textOf(confirm.html)).toContain("This order cannot be refunded. This event does not offer refunds.");
    const forced = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(forced.status).toBe(422);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
    expect(await refundJob(orderId)).toBeUndefined();
  });

  it("once check-in has opened, refunds are closed for that reason even long before the start", async () => {
    const now = Date.now();
    const start = now + 10 * 24 * HOUR;
    const { browser, event, orderId } = await paidOrder({
      startsAt: at(start),
      endsAt: at(start + 2 * HOUR),
      checkInOpensAt: at(now + 5 * 60_000),
    });
    expect(textOf((await browser.get("/me/tickets")).html)).toContain("Refundable until");
    freezeClock(now + 6 * 60_000);
    const wallet = await browser.get("/me/tickets");
    expect(textOf(wallet.html)).toContain("Refund not available: Refunds closed when check-in opened.");
    expect(wallet.html).toContain(`datetime="${at(now + 5 * 60_000)}"`);
    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(409);
    expect(textOf(confirm.html)).toContain("Refunds closed when check-in opened.");
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["active"]);
  });

  it("a ticket used at the gate makes its order unrefundable, and says so", async () => {
    const start = Date.now() + HOUR;
    const { host, browser, buyer, event, orderId } = await paidOrder(
      { startsAt: at(start), endsAt: at(start + 3 * HOUR), perUserLimit: 2 },
      2,
    );
    const [used] = await d1Tickets(event.id);
    const device = await registerDevice(event.id, host.token);
    const admitted = await scanBody(await scan(device.token, await qrToken(used?.id ?? "", buyer.token)));
    expect(admitted.result).toBe("admitted");
    await inventory(event.id).sync();
    const wallet = await browser.get("/me/tickets");
    expect(textOf(wallet.html)).toContain(
      "Refund not available: A ticket of this order was used at the gate, so it cannot be refunded.",
    );
    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(409);
    expect(textOf(confirm.html)).toContain("2 tickets · €30.00");
    expect(textOf(confirm.html)).toContain("A ticket of this order was used at the gate");
    const forced = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    // Check-in is open, so the policy refuses it on time already (the gate's veto covers a race with it).
    expect(forced.status).toBe(422);
    expect((await d1Tickets(event.id)).map((t) => t.status).sort()).toEqual(["active", "redeemed"]);
  });

  it("a two-ticket order: the confirm step counts both; once asked it is on its way, then refunded", async () => {
    const { browser, event, orderId } = await paidOrder({}, 2);
    const confirm = await browser.get(`/me/orders/${orderId}/refund`);
    expect(confirm.status).toBe(200);
    const text = textOf(confirm.html);
    expect(text).toContain("2 tickets · €30.00");
    expect(text).toContain("€30.00 goes back to the card you paid with. The tickets stop working at once");

    const done = await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(done.status).toBe(303);
    const pending = await browser.get(`/me/orders/${orderId}/refund`);
    expect(pending.status).toBe(409);
    expect(textOf(pending.html)).toContain("A refund for this order is already on its way.");
    expect(pending.html).not.toContain('value="yes"');

    await vi.waitFor(async () => expect(await refundJob(orderId)).toBe("succeeded"), {
      timeout: 10_000,
      interval: 200,
    });
    await inventory(event.id).sync();
    const refunded = await browser.get(`/me/orders/${orderId}/refund`);
    expect(refunded.status).toBe(409);
    expect(textOf(refunded.html)).toContain("This order was refunded.");
    const wallet = await browser.get("/me/tickets");
    const walletText = textOf(wallet.html);
    expect(wallet.html).toMatch(/<p class="refund[^"]*">Refunded\.<\/p>/);
    expect(walletText).toMatch(/Ticket #\d+ Refunded/);
    expect(wallet.html).not.toContain('<figure class="qr"');
    // Asked again: the same answer, and still one refund at Stripe.
    await browser.submit(`/me/orders/${orderId}/refund`, { confirm: "yes" });
    expect(stripe.refunds).toHaveLength(1);
  });
});

describe("the wallet's cancelled events", () => {
  it("marks an order whose event was cancelled, without codes", async () => {
    const host = await hostWithToken();
    const title = unique("Called Off");
    const event = await createEvent(host.token, { title, capacity: 10 });
    const { browser } = await signedIn();
    expect(
      (await browser.submit(`/e/${event.id}/order`, orderFields(await browser.get(`/e/${event.id}`)))).status,
    ).toBe(303);
    const cancel = await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(host.token) });
    expect(cancel.status).toBe(200);
    await inventory(event.id).sync();
    const wallet = await browser.get("/me/tickets");
    const card = wallet.html.slice(wallet.html.indexOf(title));
    expect(textOf(card)).toContain("Event cancelled");
    expect(wallet.html).not.toContain('<figure class="qr"');
  });
});

describe("the event list's edge inputs", () => {
  it("a spot with nothing nearby says so, with the radius searched", async () => {
    const page = await new Browser().get("/?near=-65.000,-140.000&radiusKm=1");
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Events near you");
    expect(text).toContain("Within 1 km, nearest first.");
    expect(text).toContain("No upcoming events nearby.");
    expect(page.html).not.toContain('rel="next"');
  });

  it("a radius out of bounds or not a number is the location message, and the plain list", async () => {
    for (const radius of ["0", "501", "far"]) {
      const page = await new Browser().get(`/?near=52.370,4.890&radiusKm=${radius}`);
      expect(page.status, radius).toBe(400);
      expect(textOf(page.html)).toContain("That location is not one we can search around");
      expect(textOf(page.html)).toContain("Upcoming events");
      expect(textOf(page.html)).not.toContain("Events near you");
    }
  });

  it("a cursor too long to be one of ours is a page that does not exist", async () => {
    const page = await new Browser().get(`/?cursor=${"a".repeat(201)}`);
    expect(page.status).toBe(400);
    expect(textOf(page.html)).toContain("That page of events does not exist.");
    expect(textOf(page.html)).toContain("Upcoming events");
  });
});
