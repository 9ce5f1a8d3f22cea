/**
 * Playwright for the browser tests: the system's Chromium (CHROMIUM_PATH, default /usr/bin/chromium;
 * Playwright's own browser download is never used) against the Worker at BASE_URL, which
 * scripts/e2e.mjs starts (`npm run test:e2e`). Pointed at an already running `npm run dev`
 * (BASE_URL=http://localhost:8787 npx playwright test -c e2e/playwright.config.ts) it works too.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig, devices } from "@playwright/test";

const baseURL = process.env.BASE_URL ?? "http://localhost:8787";

export default defineConfig({
  testDir: ".",
  testMatch: "*.spec.ts",
  outputDir: process.env.E2E_OUTPUT_DIR ?? join(tmpdir(), "gatehouse-e2e-results"),
  // The Worker's pages are quick; the time goes to scrypt (sign-up, sign-in) and the first request of
  // each Durable Object. A minute per test is generous, and a hung page still fails fast enough.
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  // Two workers: this machine's cores also run wrangler dev (workerd) and its Durable Objects.
  workers: Number(process.env.E2E_WORKERS ?? 2),
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: process.env.CI ? [["list"]] : [["list"]],
  use: {
    baseURL,
    browserName: "chromium",
    ...devices["Desktop Chrome"],
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
    locale: "en-GB",
    timezoneId: "Europe/Amsterdam",
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
});
