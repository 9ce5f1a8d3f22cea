/**
 * Every page, as the person who would see it, at phone width (390 px) and then at desktop width
 * (1280 px): axe-core finds no serious or critical violation (WCAG 2.0–2.2 A and AA rules and axe's
 * best practices; moderate and minor ones are listed in the test's annotations without failing it),
 * and nothing is wider than the screen (mobile first: no sideways scrolling).
 */
import { expect, test } from "./fixtures";
import { axe } from "./support/axe";
import { headingOf, PAGES, VIEWPORTS, viewAs } from "./support/pages";

for (const entry of PAGES) {
  test(`the ${entry.name} page: no serious or critical axe violation and no sideways scrolling, phone and desktop`, async ({
    page,
    world,
    baseURL,
  }, testInfo) => {
    await viewAs(page, entry.as, world, baseURL!);
    await page.setViewportSize(VIEWPORTS[0]);
    const response = await page.goto(entry.path(world));
    expect(response?.status()).toBe(entry.status ?? 200);
    await expect(page.getByRole("heading", { level: 1, name: headingOf(entry, world) }).first()).toBeVisible();
    for (const [index, viewport] of VIEWPORTS.entries()) {
      await page.setViewportSize(viewport);
      const { blocking, minor } = await axe(page, index > 0);
      if (minor.length > 0) {
        testInfo.annotations.push({
          type: `axe, ${viewport.label} (moderate or minor)`,
          description: minor.join("\n"),
        });
      }
      expect(blocking, `serious or critical axe violations at ${viewport.label} width`).toEqual([]);

      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `content wider than the ${viewport.width} px screen`).toBeLessThanOrEqual(0);
    }
  });
}
