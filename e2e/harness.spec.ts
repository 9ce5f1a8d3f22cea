/**
 * The harness itself: the Worker answers pages with the strict CSP, the page guard notices a CSP
 * violation, an uncaught error and a missing asset (so every other spec can rely on it), and the __Host- session
 * cookies, Secure as they are, work on http://localhost (Chromium counts localhost as secure).
 */
import { expect, test } from "./fixtures";
import { axe } from "./support/axe";

test("an unknown path is the branded 404 page under a strict nonce CSP, its stylesheet applied", async ({ page }) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  const csp = (await response?.headerValue("content-security-policy")) ?? "";
  expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9_-]+' 'strict-dynamic'/);
  expect(csp).not.toContain("unsafe-inline");
  await expect(page.getByRole("heading", { level: 1, name: "Page not found" })).toBeVisible();
  await expect(page).toHaveTitle(/Page not found · Gatehouse/);
  // The stylesheet loaded and applies (a blocked or missing one leaves the default 8px body margin).
  expect(await page.evaluate(() => document.styleSheets.length)).toBeGreaterThan(0);
  await expect(page.getByRole("link", { name: "Go to events" })).toBeVisible();
});

test("the page guard records a CSP violation, an uncaught page error and a missing asset", async ({
  page,
  pageProblems,
}) => {
  await page.goto("/no-such-page");
  // What a page must never do: a style attribute (style-src has no 'unsafe-inline'), a throw, and
  // an image of ours that is not there.
  await page.evaluate(() => {
    document.body.setAttribute("style", "outline: 1px solid red");
    const image = document.createElement("img");
    image.src = "/assets/no-such-image.png";
    image.alt = "";
    document.body.append(image);
    setTimeout(() => {
      throw new Error("deliberate failure");
    });
  });
  await expect.poll(() => [...new Set(pageProblems.map((p) => p.kind))].sort()).toEqual(["asset", "csp", "pageerror"]);
  expect(pageProblems.find((p) => p.kind === "csp")?.message).toContain("style-src");
  expect(pageProblems.find((p) => p.kind === "pageerror")?.message).toContain("deliberate failure");
  expect(pageProblems.find((p) => p.kind === "asset")?.message).toContain("404 for");
  // Seen, and expected here: cleared so the guard lets this test pass.
  pageProblems.length = 0;
});

test("the __Host- session cookies work on http://localhost: a signed-in person sees their name", async ({
  page,
  account,
  signIn,
}) => {
  await signIn(page, account);
  const cookies = await page.context().cookies();
  const access = cookies.find((c) => c.name === "__Host-access");
  expect(access).toMatchObject({ secure: true, httpOnly: true, path: "/", sameSite: "Lax" });
  await page.goto("/no-such-page");
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByText(account.name)).toBeVisible();
  await expect(nav.getByRole("button", { name: "Sign out" })).toBeVisible();
});

test("the accessibility check fails a page with a serious violation (an input without a label)", async ({ page }) => {
  await page.goto("/no-such-page");
  expect((await axe(page)).blocking).toEqual([]);
  await page.evaluate(() => document.querySelector("main")?.append(document.createElement("input")));
  const { blocking } = await axe(page, true);
  expect(blocking.join("\n")).toMatch(/^critical label: /m);
});
