/**
 * The social pages in the browser: a person posts from /feed (with a photo), likes the post (the count moves at
 * once and the like is stored), opens the post's page, and sees the count change live when someone
 * else likes it — over the post's WebSocket, without a reload.
 */
import { expect, test } from "./fixtures";
import { axe } from "./support/axe";

// The smallest valid PNG (1×1, one grey pixel).
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==",
  "base64",
);

test("a person posts from the feed, likes the post, and sees another person's like arrive live on its page", async ({
  page,
  account,
  signIn,
  gatehouse,
}) => {
  await signIn(page, account);
  await page.goto("/feed");
  await expect(page.getByRole("heading", { level: 1, name: "Your feed" })).toBeVisible();

  // Markup in a post is text: it shows as typed.
  const text = `Canal night ${Date.now().toString(36)} <b>not bold</b>`;
  await page.getByLabel("Write a post").fill(text);
  await page.getByLabel("Photos (up to 4)").setInputFiles({ name: "canal.png", mimeType: "image/png", buffer: PNG });
  await page.getByRole("button", { name: "Post", exact: true }).click();
  await expect(page).toHaveURL(/\/feed\?posted=/);
  const postId = new URL(page.url()).searchParams.get("posted") as string;
  const card = page.locator(`article[data-post-id="${postId}"]`);
  await expect(card.getByText(text)).toBeVisible();
  // The photo went up first, then the post with it; the page shows it (the guard fails a broken image).
  const photo = card.locator(".post-media img");
  await expect(photo).toHaveCount(1);
  await expect.poll(() => photo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1);

  const like = card.getByRole("button", { name: /^Like\b/ });
  await expect(like).toHaveAttribute("aria-pressed", "false");
  await like.click();
  await expect(like).toHaveAttribute("aria-pressed", "true");
  await expect(card.locator('[data-count="likes"]')).toHaveText("1");
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const stored = await gatehouse.request.get(`/api/v1/posts/${postId}`, {
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  expect(((await stored.json()) as { counts: { likes: number }; viewer: { liked: boolean } }).viewer.liked).toBe(true);

  // The post's own page, its counts live.
  await card.getByRole("link", { name: /\d{4}/ }).click();
  await expect(page).toHaveURL(new RegExp(`/p/${postId}$`));
  await expect(page.getByText(text)).toBeVisible();
  await expect(page.locator("body")).toHaveAttribute("data-live", "open");
  const likes = page.locator('article[data-post-id] [data-count="likes"]');
  await expect(likes).toHaveText("1");

  const fan = await gatehouse.verifiedAccount("fan", "E2E Fan");
  const fanTokens = await gatehouse.login(fan.email, fan.password);
  const liked = await gatehouse.request.put(`/api/v1/posts/${postId}/like`, {
    headers: { Authorization: `Bearer ${fanTokens.accessToken}` },
  });
  expect(liked.status()).toBe(200);
  await expect(likes).toHaveText("2");
  // Still the page as loaded: the count came over the socket, not from a reload.
  await expect(page.getByRole("button", { name: /^Like\b/ })).toHaveAttribute("aria-pressed", "true");
});

test("a like the server refuses rolls back, says so, and the post page reads well for everyone", async ({
  page,
  account,
  signIn,
  gatehouse,
}) => {
  const { accessToken } = await gatehouse.login(account.email, account.password);
  const auth = { Authorization: `Bearer ${accessToken}` };
  const created = await gatehouse.request.post("/api/v1/posts", {
    headers: { ...auth, "Idempotency-Key": crypto.randomUUID() },
    data: { text: "Who is coming to the canal on Friday?" },
  });
  expect(created.status()).toBe(201);
  const postId = ((await created.json()) as { id: string }).id;
  const comment = await gatehouse.request.post(`/api/v1/posts/${postId}/comments`, {
    headers: { ...auth, "Idempotency-Key": crypto.randomUUID() },
    data: { text: "Count me in" },
  });
  const commentId = ((await comment.json()) as { id: string }).id;
  await gatehouse.request.post(`/api/v1/posts/${postId}/comments`, {
    headers: { ...auth, "Idempotency-Key": crypto.randomUUID() },
    data: { text: "Me too", parentId: commentId },
  });

  await signIn(page, account);
  await page.route(`**/api/v1/posts/${postId}/like`, (route) =>
    route.fulfill({
      status: 503,
      contentType: "application/problem+json",
      body: JSON.stringify({ type: "about:blank", title: "Unavailable", detail: "Likes are resting. Try again." }),
    }),
  );
  await page.goto(`/p/${postId}`);
  await expect(page.getByText("Me too")).toBeVisible();
  const like = page.getByRole("button", { name: /^Like\b/ });
  await like.click();
  await expect(page.getByRole("alert").filter({ hasText: "Likes are resting. Try again." })).toBeVisible();
  await expect(like).toHaveAttribute("aria-pressed", "false");
  await expect(page.locator('article[data-post-id] [data-count="likes"]')).toHaveText("0");

  const { blocking } = await axe(page);
  expect(blocking, "serious or critical axe violations").toEqual([]);

  // "Reply" points the comment form at that comment; the reply lands under it.
  await page
    .getByRole("listitem")
    .filter({ hasText: "Count me in" })
    .getByRole("button", { name: "Reply" })
    .first()
    .click();
  await expect(page.getByText("Replying to a comment.")).toBeVisible();
  await page.getByLabel("Add a comment").fill("Bringing snacks");
  await page.getByRole("button", { name: "Comment", exact: true }).click();
  await expect(page.getByText("Your comment is posted.")).toBeVisible();
  const thread = page.locator(`#c-${commentId}`);
  await expect(thread.locator(".replies").getByText("Bringing snacks")).toBeVisible();
  await expect(page.locator('article[data-post-id] [data-count="comments"]')).toHaveText("3");
});

test("an empty feed says how to fill it; a long one loads more in place", async ({
  page,
  account,
  signIn,
  gatehouse,
}) => {
  await signIn(page, account);
  await page.goto("/feed");
  await expect(page.getByRole("heading", { name: "Your feed is empty" })).toBeVisible();

  const { accessToken } = await gatehouse.login(account.email, account.password);
  for (let i = 1; i <= 21; i += 1) {
    const created = await gatehouse.request.post("/api/v1/posts", {
      headers: { Authorization: `Bearer ${accessToken}`, "Idempotency-Key": crypto.randomUUID() },
      data: { text: `Note number ${i}` },
    });
    expect(created.status()).toBe(201);
  }
  await page.reload();
  const posts = page.locator(".feed-list article[data-post-id]");
  await expect(posts).toHaveCount(20);
  await expect(posts.first().getByText("Note number 21", { exact: true })).toBeVisible();
  await page.getByRole("link", { name: "Load more" }).click();
  await expect(posts).toHaveCount(21);
  await expect(posts.last().getByText("Note number 1", { exact: true })).toBeVisible();
  // Appended in place: still the first page's address, and no link once the feed is exhausted.
  await expect(page).toHaveURL(/\/feed$/);
  await expect(page.getByRole("link", { name: "Load more" })).toHaveCount(0);
});
