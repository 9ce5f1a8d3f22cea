/**
 * axe-core in the page: the violations of the WCAG 2.0–2.2 A and AA rules and axe's best practices,
 * split into the serious and critical ones (which fail a test) and the rest (reported).
 */
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"];

type AxeResults = Awaited<ReturnType<AxeBuilder["analyze"]>>;
type Violation = AxeResults["violations"][number];

/**
 * axe on the page as it is now. The first check of a document goes through AxeBuilder, which injects
 * axe-core; pass `injected` for later ones (the same document at another width, or changed) to run
 * the axe it left in the page: injecting is most of a check's time (seconds on a busy machine), and
 * the rules run afresh on what the page shows all the same.
 */
export async function axe(page: Page, injected = false) {
  const results = injected
    ? await page.evaluate(
        (tags) =>
          (window as unknown as { axe: { run: (o: object) => Promise<AxeResults> } }).axe.run({ runOnly: tags }),
        TAGS,
      )
    : await new AxeBuilder({ page }).withTags(TAGS).analyze();
  const describe = (v: Violation) =>
    `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}×: ${v.nodes
      .slice(0, 3)
      .map((n) => n.target.join(" "))
      .join(" | ")})`;
  const serious = (v: Violation) => v.impact === "serious" || v.impact === "critical";
  return {
    blocking: results.violations.filter(serious).map(describe),
    minor: results.violations.filter((v) => !serious(v)).map(describe),
  };
}
