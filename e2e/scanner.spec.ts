/**
 * The scanner app at the gate, in Chromium with a camera that films a file: the spec writes the
 * ticket's QR code into a Y4M video (uqr's module matrix as raw YUV frames) that Chromium's fake
 * capture device plays (--use-file-for-fake-video-capture). Chromium opens the file on each
 * getUserMedia, so showing the next ticket is rewriting the file and restarting the camera. Chromium
 * on Linux has no BarcodeDetector: this also runs the self-hosted WebAssembly decoder under the
 * page's CSP. Setup through the API; what the gate then holds is checked through the API too.
 */
import { renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { APIRequestContext, Page } from "@playwright/test";
import { encode } from "uqr";
import { expect, test } from "./fixtures";
import { axe } from "./support/axe";
import type { Gatehouse } from "./support/gatehouse";

/** This worker process's camera: one file per process, since tests in parallel run in others. */
const CAMERA_FILE = join(tmpdir(), `gatehouse-e2e-camera-${process.pid}.y4m`);
const WIDTH = 640;
const HEIGHT = 480;

/** Writes `text` as a QR code (black on white, quiet zone included) into the camera's video file. */
function showToCamera(text: string): void {
  const { data, size } = encode(text, { ecc: "M", border: 4 });
  const px = Math.floor(Math.min(WIDTH, HEIGHT) / size);
  const left = Math.floor((WIDTH - px * size) / 2);
  const top = Math.floor((HEIGHT - px * size) / 2);
  const luma = Buffer.alloc(WIDTH * HEIGHT, 235);
  data.forEach((row, r) => {
    row.forEach((dark, c) => {
      if (!dark) return;
      for (let y = 0; y < px; y++) {
        const start = (top + r * px + y) * WIDTH + left + c * px;
        luma.fill(16, start, start + px);
      }
    });
  });
  // 4:2:0 chroma: neutral grey at a quarter of the resolution each.
  const chroma = Buffer.alloc((WIDTH / 2) * (HEIGHT / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from("FRAME\n"), luma, chroma]);
  const header = Buffer.from(`YUV4MPEG2 W${WIDTH} H${HEIGHT} F10:1 Ip A1:1 C420jpeg\n`);
  // A new file renamed into place: a camera still reading the old one never sees half a frame.
  writeFileSync(`${CAMERA_FILE}.tmp`, Buffer.concat([header, frame, frame]));
  renameSync(`${CAMERA_FILE}.tmp`, CAMERA_FILE);
}

showToCamera("nothing yet");

test.use({
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      `--use-file-for-fake-video-capture=${CAMERA_FILE}`,
    ],
  },
  permissions: ["camera"],
});

interface Ticket {
  id: string;
  serial: number;
  /** The holder's access token. */
  holder: string;
}

/** A free ticket of the event claimed by a new verified attendee (the event's per-person limit is one). */
async function claimTicket(gatehouse: Gatehouse, request: APIRequestContext, eventId: string): Promise<Ticket> {
  const account = await gatehouse.verifiedAccount("gate-attendee");
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const res = await request.post(`/api/v1/events/${eventId}/orders`, {
    headers: { Authorization: `Bearer ${accessToken}`, "Idempotency-Key": crypto.randomUUID() },
    data: { quantity: 1 },
  });
  expect(res.status(), await res.text()).toBe(201);
  const [ticket] = ((await res.json()) as { tickets: { id: string; serial: number }[] }).tickets;
  if (!ticket) throw new Error("the order has no ticket");
  return { id: ticket.id, serial: ticket.serial, holder: accessToken };
}

async function qrTokenOf(request: APIRequestContext, ticket: Ticket): Promise<string> {
  const res = await request.get(`/api/v1/tickets/${ticket.id}/qr`, {
    headers: { Authorization: `Bearer ${ticket.holder}` },
  });
  expect(res.status(), await res.text()).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Shows `token` to the camera and starts scanning; answers the result overlay once it is up. */
async function scanWithCamera(page: Page, token: string) {
  const toggle = page.getByRole("button", { name: /^(Start|Stop) scanning$/ });
  if ((await toggle.textContent()) === "Stop scanning") await toggle.click();
  showToCamera(token);
  await page.getByRole("button", { name: "Start scanning" }).click();
  const result = page.locator("#result");
  await expect(result).toBeVisible({ timeout: 20_000 });
  return result;
}

async function dismiss(page: Page) {
  await page.locator("#result").click();
  await expect(page.locator("#result")).toBeHidden();
}

async function statusOf(gatehouse: Gatehouse, ticket: Ticket) {
  return (await gatehouse.tickets(ticket.holder)).find((t) => t.id === ticket.id)?.status;
}

test("a paired scanner admits a ticket shown to its camera, refuses it again with the first scan's time, admits offline and syncs, listing a conflict", async ({
  page,
  context,
  gatehouse,
  request,
}) => {
  test.setTimeout(120_000);
  const event = await gatehouse.publishedEvent({ title: `Gate night ${crypto.randomUUID().slice(0, 4)}` });
  const host = await gatehouse.hostTokens();
  const deviceToken = await gatehouse.deviceFor(event.id, host.accessToken);
  const [first, second, third] = await Promise.all([1, 2, 3].map(() => claimTicket(gatehouse, request, event.id)));
  if (!first || !second || !third) throw new Error("three tickets expected");

  // Pairing: the host's pairing link, opened as the phone's camera app would; the token leaves the URL.
  await page.goto(`/scan#pair=${deviceToken}`);
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();
  expect(new URL(page.url()).hash).toBe("");
  await expect(page.getByText("E2E gate · Test Hall")).toBeVisible();
  await expect(page.getByRole("status")).toHaveText("Online");
  // The token is kept in IndexedDB, never in localStorage.
  expect(await page.evaluate(() => localStorage.length)).toBe(0);
  // The manifest arrived (the offline checks need it) and the worker controls the app.
  await expect(page.getByText(/Ticket list: 3 tickets/)).toBeAttached();
  await page.evaluate(() => navigator.serviceWorker.ready);

  // 1. The first ticket, shown to the camera: admitted.
  const firstToken = await qrTokenOf(request, first);
  let result = await scanWithCamera(page, firstToken);
  await expect(result).toContainText("Admitted");
  await expect(result).toContainText(`Ticket #${first.serial}`);
  await expect(result).toHaveAttribute("data-tone", "ok");
  const admittedAt = Date.now();
  // Held in front of the camera, it is not scanned again: the overlay goes and nothing new comes.
  await expect(result).toBeHidden({ timeout: 5_000 });
  await page.waitForTimeout(1_500);
  await expect(result).toBeHidden();
  await expect(page.locator("#count-device")).toHaveText("1");
  await expect(page.locator("#count-gate")).toHaveText("1");
  expect(await statusOf(gatehouse, first)).toBe("redeemed");

  // 2. The same ticket again, past the gate's 10 s "same admission" window: refused, with the first
  // scan's time and gate.
  await page.waitForTimeout(Math.max(0, admittedAt + 11_000 - Date.now()));
  result = await scanWithCamera(page, firstToken);
  await expect(result).toContainText("Already used");
  await expect(result).toHaveAttribute("data-tone", "bad");
  await expect(result).toContainText("First scanned");
  await expect(result).toContainText("at this device");
  const shown = Date.parse((await result.locator("time").getAttribute("datetime")) ?? "");
  expect(Math.abs(shown - admittedAt)).toBeLessThan(10_000);
  await dismiss(page);
  await expect(page.locator("#count-device")).toHaveText("1");

  // 3. The network goes: the second ticket is checked on the device (signature, manifest) and queued.
  await page.getByRole("button", { name: "Stop scanning" }).click();
  await context.setOffline(true);
  await expect(page.getByRole("status")).toHaveText(/Offline/);
  result = await scanWithCamera(page, await qrTokenOf(request, second));
  await expect(result).toContainText("Admitted");
  await expect(result).toContainText("checked offline, will sync");
  await dismiss(page);
  await expect(page.locator("#count-queue")).toHaveText("1");
  await expect(page.locator("#count-device")).toHaveText("2");
  expect(await statusOf(gatehouse, second)).toBe("active");

  // The third ticket too; meanwhile another gate admits it online: a double admission.
  const thirdToken = await qrTokenOf(request, third);
  result = await scanWithCamera(page, thirdToken);
  await expect(result).toContainText("Admitted");
  await dismiss(page);
  await expect(page.locator("#count-queue")).toHaveText("2");
  const otherGate = await gatehouse.deviceFor(event.id, host.accessToken);
  expect((await gatehouse.scan(otherGate, thirdToken)).result).toBe("admitted");

  // 4. Back online: the queue syncs by itself, the gate's count follows, the conflict is listed.
  await context.setOffline(false);
  await expect(page.getByRole("status")).toHaveText("Online");
  await expect(page.locator("#count-queue")).toHaveText("0", { timeout: 20_000 });
  const conflicts = page.getByRole("region", { name: "Conflicts found when syncing" });
  await expect(conflicts).toBeVisible();
  await expect(conflicts.getByRole("listitem")).toHaveCount(1);
  await expect(conflicts.getByRole("listitem")).toContainText(`Ticket #${third.serial}`);
  await expect(page.locator("#count-gate")).toHaveText("3");

  expect(await statusOf(gatehouse, second)).toBe("redeemed");
  expect(await statusOf(gatehouse, third)).toBe("redeemed");
  const stats = await request.get(`/api/v1/events/${event.id}/gate/stats`, {
    headers: { Authorization: `Bearer ${host.accessToken}` },
  });
  expect(stats.status()).toBe(200);
  expect(await stats.json()).toMatchObject({ checkedIn: 3, offlineScans: 2, conflicts: 1 });

  // 5. The app opens with no network at all: the service worker serves the shell, IndexedDB the rest.
  // (Last: Chromium's emulation leaves a page that loaded offline without network when it returns.)
  await context.setOffline(true);
  const offlineStart = await page.reload();
  expect(offlineStart?.fromServiceWorker(), "the page came from the service worker").toBe(true);
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();
  await expect(page.getByRole("status")).toHaveText(/Offline/);
  await expect(page.locator("#count-device")).toHaveText("3");
  await expect(page.getByRole("region", { name: "Conflicts found when syncing" })).toBeVisible();
});

test("pairing refuses a pasted token that is not a live device, accepts a pasted pairing link, and pairs again by scanning the code after unpairing", async ({
  page,
  gatehouse,
}) => {
  const event = await gatehouse.publishedEvent();
  const host = await gatehouse.hostTokens();
  const deviceToken = await gatehouse.deviceFor(event.id, host.accessToken);

  await page.goto("/scan");
  await expect(page.getByRole("heading", { level: 1, name: "Pair this device" })).toBeVisible();
  const field = page.getByLabel("Device token or pairing link");
  await field.fill("hello");
  await page.getByRole("button", { name: "Pair", exact: true }).click();
  await expect(page.getByText("That is not a device token or pairing link.")).toBeVisible();
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await field.fill(`gdt_${"A".repeat(43)}`);
  await page.getByRole("button", { name: "Pair", exact: true }).click();
  await expect(page.getByText("That device token is unknown or was revoked.")).toBeVisible();

  await field.fill(`${new URL(page.url()).origin}/scan#pair=${deviceToken}`);
  await page.getByRole("button", { name: "Pair", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible();
  await expect(page.locator("#count-device")).toHaveText("0");
  // The paired scanner's screen, at phone width: no serious or critical accessibility violation.
  await page.setViewportSize({ width: 390, height: 844 });
  expect((await axe(page)).blocking).toEqual([]);

  // Unpairing forgets everything: a reload asks for pairing again.
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByText("Device settings").click();
  await page.getByRole("button", { name: "Unpair this device" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Pair this device" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { level: 1, name: "Pair this device" })).toBeVisible();

  // Pairing again by scanning the host's pairing code with the app's own camera.
  showToCamera(`${new URL(page.url()).origin}/scan#pair=${deviceToken}`);
  await page.getByRole("button", { name: "Scan pairing code" }).click();
  await expect(page.getByRole("heading", { level: 1, name: event.title })).toBeVisible({ timeout: 20_000 });
  await expect(page.locator("#pair-camera")).toBeHidden();
});
