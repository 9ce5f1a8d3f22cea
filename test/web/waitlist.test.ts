/**
 * The waitlist on the event page: a signed-in person joins a sold-out event's line from `/e/:id` and
 * sees their place; the offer email's link (`/e/:id?offer=<id>`) shows the ticket held for them with
 * Accept and Decline, and accepting a free one lands in the wallet; signed out, the link asks to sign in.
 */
import { describe, expect, it } from "vitest";
import { cancelOrder, objectLine, soldOutEvent } from "../features/waitlist/helpers";
import { signedIn } from "./attendee-helpers";
import { Browser, textOf } from "./browser";

describe("the waitlist on /e/:id", () => {
  it("join from the page, see the place in line, accept the offer from the email's link", async () => {
    const { event, holders, orders } = await soldOutEvent(1);
    const { browser, buyer } = await signedIn();
    const page = await browser.get(`/e/${event.id}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain(`action="/e/${event.id}/waitlist"`);
    expect(textOf(page.html)).toContain("Join the waitlist");

    const joined = await browser.submit(`/e/${event.id}/waitlist`, { action: "join" });
    expect(joined.status).toBe(303);
    expect(joined.location).toBe(`/e/${event.id}`);
    expect(textOf((await browser.get(`/e/${event.id}`)).html)).toContain("You are on the waitlist: number 1 in line");

    expect((await cancelOrder(orders[0] as string, (holders[0] as { token: string }).token)).status).toBe(200);
    const [entry] = await objectLine(event.id);
    expect(entry).toMatchObject({ user_id: buyer.id, status: "offered" });
    const offerId = entry?.offer_id as string;

    // Signed out, the email's link asks to sign in and come back to it.
    const stranger = await new Browser().get(`/e/${event.id}?offer=${offerId}`);
    expect(stranger.status).toBe(200);
    expect(stranger.html).toContain(
      `/login?next=${encodeURIComponent(`/e/${encodeURIComponent(event.id)}?offer=${offerId}`)}`,
    );

    const offered = await browser.get(`/e/${event.id}?offer=${offerId}`);
    expect(textOf(offered.html)).toContain("A ticket is held for you until");
    expect(offered.html).toContain(`name="offer" value="${offerId}"`);
    const accepted = await browser.submit(`/e/${event.id}/waitlist`, { action: "accept", offer: offerId });
    expect(accepted.status).toBe(303);
    expect(accepted.location).toBe(`/me/tickets?new=${offerId}`);
    expect((await objectLine(event.id))[0]).toMatchObject({ status: "accepted", order_id: offerId });
  });

  it("a form without an action, or an offer that is not theirs, changes nothing", async () => {
    const { event } = await soldOutEvent(1);
    const { browser } = await signedIn();
    await browser.get(`/e/${event.id}`);
    const bad = await browser.submit(`/e/${event.id}/waitlist`, { action: "dance" });
    expect(bad.status).toBe(400);
    const foreign = await browser.submit(`/e/${event.id}/waitlist`, { action: "accept", offer: "not-an-offer" });
    expect(foreign.status).toBe(409);
    expect(textOf(foreign.html)).toContain("That offer is not yours, or no longer exists.");
    expect(await objectLine(event.id)).toEqual([]);
  });
});
