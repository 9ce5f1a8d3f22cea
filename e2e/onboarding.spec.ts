/**
 * Onboarding in the browser: the handle field says whether a handle is free as the person types; a
 * picture the upload refuses is reported next to the file input and nothing is saved; with a real
 * picture, name, handle and picture are saved together and the page opens the new profile.
 */
import { expect, test } from "./fixtures";

// The smallest valid PNG (1×1, one grey pixel).
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==",
  "base64",
);

test("onboarding shows the handle's availability, reports a refused picture, then saves everything at once", async ({
  page,
  account,
  signIn,
  gatehouse,
}) => {
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const headers = { Authorization: `Bearer ${accessToken}` };
  await signIn(page, account);
  await page.goto("/onboarding");
  await expect(page.getByRole("heading", { level: 1, name: "Set up your profile" })).toBeVisible();

  const handle = `onb${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
  const field = page.getByLabel("Handle");
  await field.fill("admin");
  await expect(page.getByText("This handle is reserved.")).toBeVisible();
  await field.fill(handle);
  await expect(page.getByText(`@${handle} is free.`)).toBeVisible();

  await page.getByLabel("Name", { exact: true }).fill("Onboarded Person");
  // Not an image: the upload is refused (415), and the page says so instead of saving without it.
  await page.getByLabel("Picture (optional)").setInputFiles({
    name: "notes.png",
    mimeType: "image/png",
    buffer: Buffer.from("this is not a picture"),
  });
  await page.getByRole("button", { name: "Save and open my page" }).click();
  await expect(page.getByText(/Your picture was not uploaded:/)).toBeVisible();
  await expect(page).toHaveURL(/\/onboarding$/);
  const unsaved = await gatehouse.request.get(`/api/v1/handles/${handle}`);
  expect(((await unsaved.json()) as { available: boolean }).available).toBe(true);

  await page.getByLabel("Picture (optional)").setInputFiles({ name: "me.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Save and open my page" }).click();
  await expect(page).toHaveURL(new RegExp(`/@${handle}$`));
  await expect(page.getByRole("heading", { level: 1, name: "Onboarded Person" })).toBeVisible();
  await expect(page.locator("img.creator-avatar")).toBeVisible();
  const me = await gatehouse.request.get("/api/v1/me", { headers });
  expect(me.status()).toBe(200);
  const profile = await gatehouse.request.get(`/api/v1/profiles/${handle}`);
  expect(await profile.json()).toMatchObject({ handle, name: "Onboarded Person", avatarUrl: expect.any(String) });
});
