/**
 * The host pages in a browser: becoming a host and creating an event through the form (the API's
 * messages next to the fields, the time zone filled in by host.js, the session renewed before the
 * form is sent), and told that paid tickets wait for a payout account; the event page's
 * figures moving live over the WebSocket as tickets are claimed and scanned; a device registered on
 * the page and paired by its QR code, read from the screen as a phone would, then revoked.
 */
import { randomUUID } from "node:crypto";
import type { APIRequestContext } from "@playwright/test";
import { DEMO_HOST, expect, test } from "./fixtures";
import type { Gatehouse } from "./support/gatehouse";
import { decodeQr } from "./support/qr";

const nextYear = new Date().getUTCFullYear() + 1;

/** A new attendee claims a ticket of the event; its fresh QR token. */
async function claimAndQr(request: APIRequestContext, gatehouse: Gatehouse, eventId: string): Promise<string> {
  const attendee = await gatehouse.verifiedAccount("live");
  const { accessToken } = await gatehouse.login(attendee.email, attendee.password);
  await gatehouse.claim(accessToken, eventId);
  const [ticket] = (await gatehouse.tickets(accessToken)).filter((t) => t.event.id === eventId);
  if (!ticket) throw new Error("no ticket claimed");
  const qr = await request.get(`/api/v1/tickets/${ticket.id}/qr`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  return ((await qr.json()) as { token: string }).token;
}

test("a new host creates an event through the form, fixes what it flags, and is told paid tickets wait for payouts", async ({
  page,
  account,
  signIn,
  request,
  gatehouse,
}) => {
  await signIn(page, account);
  await page.goto("/host");
  await page.getByRole("button", { name: "Become a host" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Your events" })).toBeVisible();
  await page.getByRole("link", { name: "New event" }).click();

  // host.js offers the browser's own zone for a new event.
  await expect(page.getByLabel("Time zone")).toHaveValue("Europe/Amsterdam");
  await page.getByLabel("Title").fill("Harbour Lights");
  await page.getByLabel("Starts").fill(`${nextYear}-07-14T19:00`);
  await page.getByLabel("Ends").fill(`${nextYear}-07-14T18:00`);
  await page.getByLabel("Venue", { exact: true }).fill("De Kade");
  await page.getByLabel("Address").fill("Kade 1, Amsterdam");
  await page.getByLabel("Latitude").fill("52.37");
  await page.getByLabel("Longitude").fill("4.89");
  await page.getByLabel("Capacity").fill("120");
  await page.getByLabel("Price").fill("0.10");
  await page.getByRole("button", { name: "Create draft" }).click();

  // The service's rules, next to their fields, and the summary takes the focus.
  const summary = page.getByRole("alert").filter({ hasText: "nothing was saved" });
  await expect(summary).toBeFocused();
  await expect(page.getByLabel("Ends")).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByLabel("Ends")).toHaveAccessibleDescription("must be after startsAt");
  await expect(page.getByLabel("Price")).toHaveAccessibleDescription(/must be 0 or at least €0\.50$/);

  await page.getByLabel("Ends").fill(`${nextYear}-07-14T23:00`);
  await page.getByLabel("Price").fill("12.50");
  // A long form outlives the 15-minute access cookie: host.js renews the session before sending it.
  await page.context().clearCookies({ name: "__Host-access" });
  await page.getByRole("button", { name: "Create draft" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Harbour Lights" })).toBeVisible();
  await expect(page.getByText("Draft created")).toBeVisible();
  const eventId = new URL(page.url()).pathname.split("/").pop() ?? "";

  await page.getByText("Publish…").click();
  await page.getByRole("button", { name: "Publish now" }).click();
  // Paid tickets are sold on the host's own Stripe account: without one that can take charges the
  // event stays a draft and the page says why (the browser tests run without Stripe).
  await expect(page.getByText(/Paid tickets need a payout account/)).toBeVisible();
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const res = await request.get(`/api/v1/events/${eventId}`, { headers: { Authorization: `Bearer ${accessToken}` } });
  const event = (await res.json()) as Record<string, unknown>;
  expect(event).toMatchObject({
    status: "draft",
    price: 1250,
    startsAt: new Date(Date.UTC(nextYear, 6, 14, 17, 0)).toISOString(),
  });
});

test("the event page counts a claim and a check-in as they happen, without a reload", async ({
  page,
  signIn,
  gatehouse,
  request,
}) => {
  const event = await gatehouse.publishedEvent({ title: `Live night ${randomUUID().slice(0, 4)}` });
  const host = await gatehouse.hostTokens();
  const device = await gatehouse.deviceFor(event.id, host.accessToken);
  await signIn(page, DEMO_HOST);
  await page.goto(`/host/events/${event.id}`);
  const live = page.locator("#live");
  await expect(live).toHaveAttribute("data-state", "live");
  await expect(page.locator('[data-stat="sold"]')).toHaveText("0");

  const token = await claimAndQr(request, gatehouse, event.id);
  await expect(page.locator('[data-stat="sold"]')).toHaveText("1");
  await expect(page.locator('[data-stat="remaining"]')).toHaveText("99");
  expect((await gatehouse.scan(device, token)).result).toBe("admitted");
  await expect(page.locator('[data-stat="checkedIn"]')).toHaveText("1");
  await expect(page.locator("#live-summary")).toContainText(/Sold \d+ of 100/);
});

test("a device registered on the page pairs from its QR code, and revoking it refuses it at once", async ({
  page,
  signIn,
  gatehouse,
  request,
  baseURL,
}) => {
  const event = await gatehouse.publishedEvent({ title: `Pairing night ${randomUUID().slice(0, 4)}` });
  await signIn(page, DEMO_HOST);
  await page.goto(`/host/events/${event.id}`);
  await page.getByLabel("Device name").fill("North gate 1");
  await page.getByLabel(/Supervisor/).check();
  await page.getByRole("button", { name: "Register and show its pairing code" }).click();

  const card = page.getByRole("region", { name: "Pair “North gate 1”" });
  await expect(card).toBeFocused();
  const token = await page.getByLabel(/paste this token/).inputValue();
  expect(token).toMatch(/^gdt_/);
  expect(await decodeQr(card.locator(".qr"))).toBe(`${baseURL}/scan#pair=${token}`);
  await expect(card.getByRole("button", { name: "Copy token" })).toBeVisible();
  const keys = () => request.get("/api/v1/scanner/keys", { headers: { Authorization: `Device ${token}` } });
  expect((await keys()).status()).toBe(200);

  await page.getByRole("button", { name: "Revoke North gate 1" }).click();
  await expect(page.getByText("Device revoked")).toBeVisible();
  await expect(page.locator("#device-token")).toHaveCount(0);
  expect((await keys()).status()).toBe(401);
});
