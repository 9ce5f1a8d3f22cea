/**
 * Accounts in the browser: sign up, confirm the address from the emailed link, sign in; a forgotten
 * password reset from the emailed link; the idle-timeout warning and "Stay signed in".
 */
import { expect, test, uniqueEmail, uniquePassword } from "./fixtures";

test("a newcomer signs up, confirms the address from the emailed link and signs in", async ({ page, gatehouse }) => {
  const email = uniqueEmail("newcomer");
  const password = uniquePassword();

  await page.goto("/");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/register$/);
  await page.getByLabel("Your name").fill("Ada Newcomer");
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Check your email" })).toBeVisible();

  const link = gatehouse.linkIn(await gatehouse.waitForMail(email, "verify-email"), "/verify-email");
  await page.goto(link.href);
  await expect(page.getByRole("heading", { level: 1, name: "Confirm your email address" })).toBeVisible();
  // A wrong password confirms nothing and says so.
  await page.getByLabel("The password you chose when you signed up").fill("not the password at all");
  await page.getByRole("button", { name: "Confirm and keep my password" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await page.getByLabel("The password you chose when you signed up").fill(password);
  await page.getByRole("button", { name: "Confirm and keep my password" }).click();
  await expect(page).toHaveURL(/\/login\?/);
  await expect(page.getByText("Your email address is confirmed.")).toBeVisible();

  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/me\/tickets$/);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByText("Ada Newcomer")).toBeVisible();
  await expect(nav.getByRole("link", { name: "My tickets" })).toHaveAttribute("aria-current", "page");

  // The link worked once: opening it again offers nothing to confirm.
  await page.goto(link.href);
  await page.getByLabel("The password you chose when you signed up").fill(password);
  await page.getByRole("button", { name: "Confirm and keep my password" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "This link is invalid or has expired" })).toBeVisible();
});

test("a forgotten password is reset from the emailed link: the new one signs in, the old one and the link no longer work", async ({
  page,
  account,
  gatehouse,
}) => {
  const newPassword = uniquePassword();

  await page.goto("/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await page.getByLabel("Email address").fill(account.email);
  await page.getByRole("button", { name: "Email me a link" }).click();
  await expect(page).toHaveURL(/\/forgot-password\?sent=1$/);

  const link = gatehouse.linkIn(await gatehouse.waitForMail(account.email, "reset-password"), "/reset-password");
  await page.goto(link.href);
  await expect(page.getByRole("heading", { level: 1, name: "Choose a new password" })).toBeVisible();
  await page.getByLabel("New password").fill(newPassword);
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/login\?reset=1$/);
  await expect(page.getByText("Your password was changed")).toBeVisible();
  // The owner is told, whoever changed it.
  await gatehouse.waitForMail(account.email, "password-changed");

  // The old password is refused, on the page, without a session.
  await page.getByLabel("Email address").fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(account.password);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out" })).toHaveCount(0);

  await page.getByLabel("Email address").fill(account.email);
  await page.getByLabel("Password", { exact: true }).fill(newPassword);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page).toHaveURL(/\/me\/tickets$/);
  await expect(page.getByRole("navigation", { name: "Main" }).getByText(account.name)).toBeVisible();

  // A reset link works once: opened again it says so before anyone types a password.
  await page.goto(link.href);
  await expect(page.getByRole("heading", { level: 1, name: "This link is invalid or has expired" })).toBeVisible();
  await expect(page.getByLabel("New password")).toHaveCount(0);
});

test("five minutes before the idle timeout a dialog warns; “Stay signed in” keeps the session", async ({
  page,
  account,
  signIn,
}) => {
  await signIn(page, account);
  await page.clock.install();
  await page.goto("/me/tickets");
  const idleSeconds = Number(await page.locator("body").getAttribute("data-idle-seconds"));
  expect(idleSeconds).toBeGreaterThan(600);
  const dialog = page.getByRole("dialog", { name: "Still there?" });

  // One second before the warning: nothing yet.
  await page.clock.fastForward((idleSeconds - 5 * 60 - 1) * 1000);
  await expect(dialog).toBeHidden();
  await page.clock.fastForward(1000);
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(/5 minutes|4 minutes/);
  const stay = dialog.getByRole("button", { name: "Stay signed in" });
  await expect(stay).toBeFocused();

  const refresh = page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/refresh"));
  await stay.click();
  expect((await refresh).status()).toBe(200);
  await expect(dialog).toBeHidden();

  // The timer starts over from the refresh: no warning until the full quiet period has passed again,
  // and no sign-out where the first deadline was.
  await page.clock.fastForward((idleSeconds - 5 * 60 - 2) * 1000);
  await expect(dialog).toBeHidden();
  await expect(page).toHaveURL(/\/me\/tickets$/);
  await page.reload();
  await expect(page.getByRole("navigation", { name: "Main" }).getByText(account.name)).toBeVisible();
});

test("left alone past the idle timeout, the page goes to sign-in and says why", async ({ page, account, signIn }) => {
  await signIn(page, account);
  await page.clock.install();
  await page.goto("/me/tickets");
  const idleSeconds = Number(await page.locator("body").getAttribute("data-idle-seconds"));
  // The server ends an idle session on its own clock; the fake clock only moves the page's. Drop the
  // cookies as the server would have, so the sign-in page shows instead of sending a live session back.
  await page.context().clearCookies();
  await page.clock.fastForward(idleSeconds * 1000);
  await expect(page).toHaveURL(/\/login\?expired=1&next=%2Fme%2Ftickets/);
  await expect(page.getByText(/You were signed out after \d+ minutes without activity/)).toBeVisible();
});
