/**
 * The social pages: `/p/:id` (a post, its comments and replies, reaction buttons, the comment form,
 * live counts wired to the WebSocket) and `/feed` (the home feed, composer, load more, empty and
 * error states). Post text is shown escaped, never as HTML.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bearer } from "../features/auth/helpers";
import { call } from "../helpers";
import { signedIn } from "./attendee-helpers";
import { Browser, textOf } from "./browser";

async function createPost(token: string, text: string): Promise<string> {
  const res = await call("/api/v1/posts", {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify({ text }),
  });
  if (res.status !== 201) throw new Error(`post: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

async function comment(token: string, postId: string, text: string, parentId?: string): Promise<string> {
  const res = await call(`/api/v1/posts/${postId}/comments`, {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
    body: JSON.stringify(parentId ? { text, parentId } : { text }),
  });
  if (res.status !== 201) throw new Error(`comment: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

const XSS = "<img src=x onerror=alert(1)>";

describe("/p/:id", () => {
  it("shows the post, its counts, the reaction buttons and live wiring to anyone", async () => {
    const { buyer } = await signedIn();
    const postId = await createPost(buyer.token, "Doors open at eight\nsee you there");
    const page = await new Browser().get(`/p/${postId}`);
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Doors open at eight");
    expect(page.html).toContain(`data-post-id="${postId}"`);
    expect(page.html).toContain(`data-post-live="${postId}"`);
    expect(page.html).toContain('src="/assets/social.js"');
    // Signed out: reactions are links to sign in and come back, and there is no comment form.
    expect(page.html).toContain(`/login?next=${encodeURIComponent(`/p/${postId}`)}`);
    expect(page.html).not.toContain('class="comment-form"');
    expect(text).toContain("No comments yet.");
  });

  it("renders post and comment text escaped, never as HTML", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, XSS);
    await comment(buyer.token, postId, `${XSS} in a comment`);
    const page = await browser.get(`/p/${postId}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("<img src=x");
    expect(page.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    expect(textOf(page.html)).toContain("&lt;img src=x onerror=alert(1)&gt; in a comment");
    // The page title and description too.
    expect(page.html).not.toMatch(/<title>[^<]*<img/);
  });

  it("shows comments with their replies nested, and the viewer's own reactions pressed", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, "Threaded");
    const first = await comment(buyer.token, postId, "First comment");
    await comment(buyer.token, postId, "A reply to the first", first);
    await comment(buyer.token, postId, "Second comment");
    const liked = await call(`/api/v1/posts/${postId}/like`, { method: "PUT", headers: bearer(buyer.token) });
    expect(liked.status).toBe(200);

    const page = await browser.get(`/p/${postId}`);
    const text = textOf(page.html);
    expect(text.indexOf("First comment")).toBeLessThan(text.indexOf("A reply to the first"));
    expect(text.indexOf("A reply to the first")).toBeLessThan(text.indexOf("Second comment"));
    expect(page.html).toMatch(/<ul class="plain replies"><li class="comment reply"[^>]*>[\s\S]*A reply to the first/);
    expect(page.html).toMatch(/data-reaction="like" aria-pressed="true"/);
    expect(page.html).toMatch(/data-reaction="bookmark" aria-pressed="false"/);
    expect(page.html).toMatch(/<span data-count="likes">1<\/span>/);
    expect(page.html).toMatch(/<span data-count="comments">3<\/span>/);
  });

  it("posts a comment from the page's form, then shows it", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, "Say something");
    await browser.get(`/p/${postId}`);
    const sent = await browser.submit(`/p/${postId}/comments`, { text: "From the form", parentId: "" });
    expect(sent.status).toBe(303);
    expect(sent.location).toMatch(new RegExp(`^/p/${postId}\\?commented=1#c-`));
    const page = await browser.get(sent.location as string);
    expect(textOf(page.html)).toContain("From the form");
    expect(textOf(page.html)).toContain("Your comment is posted.");
    const row = await env.DB.prepare("SELECT comment_count FROM posts WHERE id = ?")
      .bind(postId)
      .first<{ comment_count: number }>();
    expect(row?.comment_count).toBe(1);
  });

  it("an empty comment changes nothing and says why", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, "Quiet");
    await browser.get(`/p/${postId}`);
    const sent = await browser.submit(`/p/${postId}/comments`, { text: "   ", parentId: "" });
    expect(sent.status).toBe(303);
    const page = await browser.get(sent.location as string);
    expect(textOf(page.html)).toContain("A comment needs some text");
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM comments WHERE post_id = ?")
      .bind(postId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("refuses a comment form without its CSRF token, and sends the signed-out to sign in", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, "Guarded");
    await browser.get(`/p/${postId}`);
    const forged = await browser.submit(`/p/${postId}/comments`, { text: "forged" }, { csrf: null });
    expect(forged.status).toBe(403);
    const anonymous = new Browser();
    await anonymous.get(`/p/${postId}`);
    const signedOut = await anonymous.submit(`/p/${postId}/comments`, { text: "hello" });
    expect(signedOut.status).toBe(303);
    expect(signedOut.location).toBe(`/login?next=${encodeURIComponent(`/p/${postId}`)}`);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM comments WHERE post_id = ?")
      .bind(postId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("is the branded 404 page for a missing or removed post", async () => {
    const missing = await new Browser().get("/p/no-such-post");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("Content-Type")).toMatch(/text\/html/);

    const { buyer } = await signedIn();
    const postId = await createPost(buyer.token, "Soon gone");
    await env.DB.prepare("UPDATE posts SET removed_at = 1 WHERE id = ?").bind(postId).run();
    expect((await new Browser().get(`/p/${postId}`)).status).toBe(404);
  });
});
