/**
 * The browser tests' fixtures. Every spec imports `test` and `expect` from here, not from
 * @playwright/test, and so gets:
 * - the page guard (automatic): a test fails when any page of its browser context, or a worker of
 *   one (service workers included), has a Content Security Policy violation (the
 *   `securitypolicyviolation` event, or Chromium's console report of one) or a page has an uncaught
 *   script error, or one of our own stylesheets, scripts, images or fonts fails to load (4xx, 5xx);
 *   `allowedPageErrors` lists expected ones by pattern;
 * - `gatehouse`: the Worker's API and dev mailbox (./support/gatehouse.ts);
 * - `account`: a fresh account whose address is confirmed, not signed in anywhere;
 * - `signIn(page, account)`: signs the page's browser context in through the API's cookie sign-in
 *   (for tests about what comes after the sign-in page);
 * - `world` (per worker): a published event of the demo host and an attendee holding a ticket.
 * e2e/README.md says how to write a spec with them.
 */
import { test as base, expect, type Page, type Worker } from "@playwright/test";
import { type Account, Gatehouse, signInAs } from "./support/gatehouse";
import { makeWorld, type World } from "./support/pages";

export type { Account, Mail, Tokens } from "./support/gatehouse";
export { DEMO_HOST, uniqueEmail, uniquePassword } from "./support/gatehouse";
export { expect };

/** A CSP violation, uncaught error or missing asset seen on a page, with where it happened. */
export interface PageProblem {
  kind: "csp" | "pageerror" | "asset";
  url: string;
  message: string;
}

interface Fixtures {
  /** Patterns of page problems this test expects (a scanner without a camera, say); none by default. */
  allowedPageErrors: RegExp[];
  /** Every CSP violation and uncaught error so far in this test; the guard fails the test on any left. */
  pageProblems: PageProblem[];
  gatehouse: Gatehouse;
  account: Account;
  signIn: (page: Page, account: Account) => Promise<void>;
}

/** Subresources a page links to itself; a 4xx or 5xx for one of ours is a broken page. */
const ASSET_TYPES = new Set(["stylesheet", "script", "image", "font", "manifest"]);

/** Name of the binding the init script reports CSP violations through (outside the page's CSP). */
const CSP_BINDING = "__gatehouseCspViolation";

interface WorkerFixtures {
  /** An event with an attendee holding a ticket, made once per worker (./support/pages.ts). */
  world: World;
}

/** The title of the world's event, as the screenshots show it. */
export const WORLD_EVENT_TITLE = "Canal Sessions: Live by the Water";

export const test = base.extend<Fixtures, WorkerFixtures>({
  allowedPageErrors: [[], { option: true }],

  pageProblems: async ({ context }, use) => {
    const problems: PageProblem[] = [];
    // Bindings and init scripts come in through the DevTools protocol: the page's CSP does not apply
    // to them, and the listener is there before the document's first element is parsed.
    await context.exposeBinding(CSP_BINDING, ({ page }, violation: string) => {
      problems.push({ kind: "csp", url: page?.url() ?? "", message: violation });
    });
    await context.addInitScript((binding: string) => {
      document.addEventListener("securitypolicyviolation", (e) => {
        const where = e.sourceFile ? ` at ${e.sourceFile}:${e.lineNumber}` : "";
        (window as unknown as Record<string, (v: string) => void>)[binding]?.(
          `${e.effectiveDirective} blocked ${e.blockedURI || "inline content"}${where}`,
        );
      });
    }, CSP_BINDING);
    // Chromium also reports violations in the console; a worker's (the wallet's service worker, a
    // decoder's worker) only there, under the CSP its own script was served with.
    const watchConsole = (source: Page | Worker) => {
      source.on("console", (message) => {
        if (message.type() === "error" && /Content Security Policy/i.test(message.text())) {
          problems.push({ kind: "csp", url: source.url(), message: message.text() });
        }
      });
    };
    const watch = (page: Page) => {
      page.on("pageerror", (error) => problems.push({ kind: "pageerror", url: page.url(), message: String(error) }));
      // A page that links a missing stylesheet, script, image or font of ours is broken, if quietly.
      page.on("response", (response) => {
        const request = response.request();
        if (response.status() < 400 || !ASSET_TYPES.has(request.resourceType())) return;
        if (new URL(response.url()).origin !== new URL(page.url()).origin) return;
        problems.push({ kind: "asset", url: page.url(), message: `${response.status()} for ${response.url()}` });
      });
      watchConsole(page);
      page.on("worker", watchConsole);
    };
    for (const page of context.pages()) watch(page);
    context.on("page", watch);
    for (const worker of context.serviceWorkers()) watchConsole(worker);
    context.on("serviceworker", watchConsole);
    await use(problems);
  },

  // The guard: an automatic fixture that checks what pageProblems collected once the test is done.
  page: async ({ page, pageProblems, allowedPageErrors }, use) => {
    await use(page);
    const unexpected = pageProblems.filter((p) => !allowedPageErrors.some((pattern) => pattern.test(p.message)));
    expect(
      unexpected.map((p) => `${p.kind} on ${p.url}: ${p.message}`),
      "CSP violations, uncaught page errors and missing assets",
    ).toEqual([]);
  },

  gatehouse: async ({ request, baseURL }, use) => {
    await use(new Gatehouse(request, baseURL!));
  },

  account: async ({ gatehouse }, use) => {
    await use(await gatehouse.verifiedAccount());
  },

  signIn: async ({ baseURL }, use) => {
    await use((page, account) => signInAs(page, baseURL!, account));
  },

  world: [
    async ({ playwright }, use, workerInfo) => {
      const baseURL = workerInfo.project.use.baseURL!;
      const request = await playwright.request.newContext({ baseURL });
      await use(await makeWorld(request, baseURL, WORLD_EVENT_TITLE));
      await request.dispose();
    },
    { scope: "worker" },
  ],
});
