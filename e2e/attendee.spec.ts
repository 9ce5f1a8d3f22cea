/**
 * An attendee in the browser: finds a free event, signs in on the way, claims a ticket, and the
 * wallet's QR code, read off the screen like a camera would, is a ticket token the gate admits.
 * The wallet also keeps showing the tickets when the phone goes offline.
 */

import { expect, test } from "./fixtures";
import { decodeQr, ticketIdOf } from "./support/qr";

/** A compact JWS: three base64url parts (src/features/gate/token.ts). */
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

test("a visitor signs in from an event page, claims a free ticket, and the wallet's QR code admits them once", async ({
  page,
  account,
  gatehouse,
}) => {
  const event = await gatehouse.publishedEvent({ title: `Launch night ${Date.now().toString(36)}` });

  await page.goto("/");
  await page.getByRole("link", { name: event.title }).click();
  await expect(page).toHaveURL(new RegExp(`/e/${event.id}$`));
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();

  // Signed out, the page offers sign-in and brings the person back.
  await page.getByRole("link", { name: "Sign in to get tickets" }).click();
  await expect(page).toHaveURL(/\/login\?next=/);
  await page.getByLabel("Email address").fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`/e/${event.id}$`));

  await page.getByRole("button", { name: "Get free tickets" }).click();
  await expect(page).toHaveURL(/\/me\/tickets\?new=/);
  await expect(page.getByText("Your tickets are ready")).toBeVisible();
  const order = page.getByRole("listitem").filter({ has: page.getByRole("heading", { name: event.title }) });
  await expect(order.getByText("Active")).toBeVisible();

  const token = await decodeQr(order.getByRole("img", { name: "Entry code" }));
  expect(token).toMatch(JWS);

  // The ticket the API lists for this account is the one the code admits, and only once.
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const tickets = (await gatehouse.tickets(accessToken)).filter((t) => t.event.id === event.id);
  expect(tickets).toHaveLength(1);
  expect(ticketIdOf(token)).toBe(tickets[0]!.id);
  const { accessToken: hostToken } = await gatehouse.hostTokens();
  const [north, south] = [
    await gatehouse.deviceFor(event.id, hostToken),
    await gatehouse.deviceFor(event.id, hostToken),
  ];
  const first = await gatehouse.scan(north, token);
  expect(first.result).toBe("admitted");
  expect(first.ticket?.id).toBe(tickets[0]!.id);
  // The same code at another gate (the same device within seconds counts as the same admission).
  expect((await gatehouse.scan(south, token)).result).toBe("already_redeemed");

  // The wallet now says so, and shows no code for a used ticket. The wallet reads the tickets' read
  // model in D1, which the event's object updates right after the scan (its outbox push, within a
  // moment): a page opened in that moment may still show the code, so the check reloads until then.
  await expect(async () => {
    await page.goto("/me/tickets");
    await expect(order.getByText(/Checked in/)).toBeVisible({ timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(order.getByRole("img", { name: "Entry code" })).toHaveCount(0);

  // One ticket per person for a free event: the event page says so instead of offering another.
  await page.goto(`/e/${event.id}`);
  await expect(page.getByRole("button", { name: "Get free tickets" })).toHaveCount(0);
  await expect(page.getByText(/the most one person may hold/)).toBeVisible();
});

test("the wallet still shows the ticket and its code when the phone is offline", async ({
  page,
  context,
  account,
  signIn,
  gatehouse,
}) => {
  const event = await gatehouse.publishedEvent();
  await signIn(page, account);
  await page.goto(`/e/${event.id}`);
  await page.getByRole("button", { name: "Get free tickets" }).click();
  await expect(page).toHaveURL(/\/me\/tickets\?new=/);
  const online = await decodeQr(page.getByRole("img", { name: "Entry code" }));

  // The wallet's service worker keeps the last good copy. Wait until it is active, then open the
  // wallet again: a navigation that starts after that is always controlled, while a page loading
  // at the moment of activation may miss clients.claim() and stay uncontrolled for its lifetime.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.goto("/me/tickets");
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: "My tickets" })).toBeVisible();

  await context.setOffline(true);
  await page.reload();
  await expect(page.getByRole("status").filter({ hasText: "Offline" })).toBeVisible();
  await expect(page.getByRole("heading", { name: event.title })).toBeVisible();
  const offline = await decodeQr(page.getByRole("img", { name: "Entry code" }));
  expect(offline).toMatch(JWS);
  // A code shown offline is the last one fetched: still a token for the same ticket.
  expect(ticketIdOf(offline)).toBe(ticketIdOf(online));
  await context.setOffline(false);
});
