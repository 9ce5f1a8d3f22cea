/**
 * The README's screenshots: the main pages at phone (390 × 844) and desktop (1280 × 800) width, as
 * the person who would see them, written to docs/screenshots/<page>-<phone|desktop>.png. Only with
 * `npm run test:e2e -- --screenshots` (E2E_SCREENSHOTS=1), which runs this file alone against a
 * fresh Worker so the pages show the demo data and this file's event, nothing other specs made.
 */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test } from "./fixtures";
import { headingOf, PAGES, VIEWPORTS, viewAs } from "./support/pages";

const OUT = join(dirname(fileURLToPath(import.meta.url)), "..", "docs", "screenshots");

test.skip(!process.env.E2E_SCREENSHOTS, "screenshots are written with npm run test:e2e -- --screenshots");
// One worker, in order: one event and one wallet for all of them.
test.describe.configure({ mode: "default" });
// What the network serves, never a service worker's saved copy (the wallet's, the scanner's).
test.use({ serviceWorkers: "block" });

for (const entry of PAGES.filter((p) => p.screenshot)) {
  test(`screenshot of the ${entry.name} page`, async ({ page, world, baseURL }) => {
    mkdirSync(OUT, { recursive: true });
    await viewAs(page, entry.as, world, baseURL!);
    for (const viewport of VIEWPORTS) {
      await page.setViewportSize(viewport);
      await page.goto(entry.path(world));
      await expect(page.getByRole("heading", { level: 1, name: headingOf(entry, world) }).first()).toBeVisible();
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({
        path: join(OUT, `${entry.name}-${viewport.label}.png`),
        animations: "disabled",
        caret: "hide",
      });
    }
  });
}
