/**
 * The social pages: `/p/:id` (a post, its comments and replies, reaction buttons, the comment form,
 * live counts wired to the WebSocket) and `/feed` (the home feed, composer, load more, empty and
 * error states). Post text is shown escaped, never as HTML.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { bearer } from "../features/auth/helpers";
import { call, freshIp } from "../helpers";
import { captureLogs } from "../support/logs";
import { signedIn } from "./attendee-helpers";
import { Browser, ORIGIN, type Page, textOf } from "./browser";

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

/** A form key as the pages render one (each rendered form has its own). */
const freshKey = () => crypto.randomUUID().replaceAll("-", "");

/** The key of the form the page rendered. */
function keyOn(html: string): string {
  const key = /name="key" value="([^"]+)"/.exec(html)?.[1];
  if (!key) throw new Error("no form key on the page");
  return key;
}

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
    const sent = await browser.submit(`/p/${postId}/comments`, {
      key: freshKey(),
      text: "From the form",
      parentId: "",
    });
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

  it("writes a comment once per rendered form: a resend and concurrent sends land on the first one", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await storedPost(buyer.id, "Click happy", Date.now());
    const page = await browser.get(`/p/${postId}`);
    const fields = { key: keyOn(page.html), text: "Only once", parentId: "" };
    const answers = await Promise.all(Array.from({ length: 5 }, () => browser.submit(`/p/${postId}/comments`, fields)));
    for (const answer of answers) expect(answer.status).toBe(303);
    const again = await browser.submit(`/p/${postId}/comments`, fields);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM comments WHERE post_id = ?")
      .bind(postId)
      .first<{ n: number }>();
    expect(count?.n).toBe(1);
    const [comment] = (
      await env.DB.prepare("SELECT id FROM comments WHERE post_id = ?").bind(postId).all<{ id: string }>()
    ).results;
    expect(again.location).toBe(`/p/${postId}?commented=1#c-${comment?.id}`);
    // The same form with other text is not a resend: refused, nothing written.
    const other = await browser.submit(`/p/${postId}/comments`, { ...fields, text: "Something else" });
    expect(other.status).toBe(422);
    // A form without its key is not one of ours.
    const keyless = await browser.submit(`/p/${postId}/comments`, { text: "No key" });
    expect(keyless.status).toBe(400);
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM comments WHERE post_id = ?")
      .bind(postId)
      .first<{ n: number }>();
    expect(after?.n).toBe(1);
  });

  it("an empty comment changes nothing and says why", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await createPost(buyer.token, "Quiet");
    await browser.get(`/p/${postId}`);
    const sent = await browser.submit(`/p/${postId}/comments`, { key: freshKey(), text: "   ", parentId: "" });
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
    const forged = await browser.submit(`/p/${postId}/comments`, { key: freshKey(), text: "forged" }, { csrf: null });
    expect(forged.status).toBe(403);
    const anonymous = new Browser();
    await anonymous.get(`/p/${postId}`);
    const signedOut = await anonymous.submit(`/p/${postId}/comments`, { key: freshKey(), text: "hello" });
    expect(signedOut.status).toBe(303);
    expect(signedOut.location).toBe(`/login?next=${encodeURIComponent(`/p/${postId}`)}`);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM comments WHERE post_id = ?")
      .bind(postId)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("takes the comments policy per person: 20 comments from the page, the 21st refused and not stored", async () => {
    const { buyer, browser } = await signedIn();
    const postId = await storedPost(buyer.id, "Busy thread", Date.now());
    await browser.get(`/p/${postId}`);
    for (let i = 1; i <= 20; i += 1) {
      expect((await browser.submit(`/p/${postId}/comments`, { key: freshKey(), text: `Comment ${i}` })).status).toBe(
        303,
      );
    }
    const refused = await browser.submit(`/p/${postId}/comments`, { key: freshKey(), text: "One too many" });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("Retry-After")).toMatch(/^\d+$/);
    const row = await env.DB.prepare("SELECT comment_count FROM posts WHERE id = ?")
      .bind(postId)
      .first<{ comment_count: number }>();
    expect(row?.comment_count).toBe(20);
  });

  it("shows 100 comments, then links to the rest of the thread", async () => {
    const { buyer } = await signedIn();
    const postId = await storedPost(buyer.id, "Popular", Date.now());
    const now = Date.now();
    await env.DB.batch(
      Array.from({ length: 101 }, (_, i) =>
        env.DB.prepare("INSERT INTO comments (id, post_id, author_id, text, created_at) VALUES (?, ?, ?, ?, ?)").bind(
          `c-${String(i).padStart(3, "0")}-${crypto.randomUUID()}`,
          postId,
          buyer.id,
          `Comment #${i}`,
          now + i,
        ),
      ),
    );
    const browser = new Browser();
    const first = await browser.get(`/p/${postId}`);
    expect((first.html.match(/<li class="comment"/g) ?? []).length).toBe(100);
    expect(textOf(first.html)).not.toContain("Comment #100");
    const more = /href="(\/p\/[^"?]+\?comments=[^"#]+)#comments"/.exec(first.html)?.[1];
    expect(more).toBeTruthy();
    const rest = await browser.get(more as string);
    expect((rest.html.match(/<li class="comment"/g) ?? []).length).toBe(1);
    expect(textOf(rest.html)).toContain("Comment #100");
    expect(rest.html).not.toContain("More comments");
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

/** A post written straight to D1 at `at` (the API's `posts` policy allows 10 per 5 minutes). */
async function storedPost(authorId: string, text: string, at: number): Promise<string> {
  const id = `p-${crypto.randomUUID()}`;
  await env.DB.prepare("INSERT INTO posts (id, author_id, text, created_at) VALUES (?, ?, ?, ?)")
    .bind(id, authorId, text, at)
    .run();
  return id;
}

async function follow(followerId: string, followeeId: string): Promise<void> {
  await env.DB.prepare("INSERT INTO follows (follower_id, followee_id, created_at) VALUES (?, ?, ?)")
    .bind(followerId, followeeId, Date.now())
    .run();
}

const postIdsOn = (html: string) => [...html.matchAll(/data-post-id="([^"]+)"/g)].map((m) => m[1]);

describe("/feed", () => {
  it("sends the signed-out to sign in and back", async () => {
    const page = await new Browser().get("/feed");
    expect(page.status).toBe(303);
    expect(page.location).toBe("/login?next=%2Ffeed");
  });

  it("shows the empty state with the composer to someone with nothing to see", async () => {
    const { browser } = await signedIn();
    const page = await browser.get("/feed");
    expect(page.status).toBe(200);
    const text = textOf(page.html);
    expect(text).toContain("Your feed is empty");
    expect(page.html).toContain('class="card composer"');
    expect(page.html).toContain('name="_csrf"');
    expect(page.html).toContain('src="/assets/social.js"');
    // The signed-in navigation leads here, marked as the current page.
    expect(page.html).toContain('<a href="/feed" aria-current="page">Feed</a>');
  });

  it("lists one's own posts and those of the people one follows, newest first, and no one else's", async () => {
    const [{ browser, buyer }, { buyer: friend }, { buyer: stranger }] = await Promise.all([
      signedIn(),
      signedIn(),
      signedIn(),
    ]);
    await follow(buyer.id, friend.id);
    const now = Date.now();
    const mine = await storedPost(buyer.id, "Mine", now - 3000);
    const theirs = await storedPost(friend.id, "From a friend", now - 1000);
    await storedPost(stranger.id, "From a stranger", now - 2000);
    const page = await browser.get("/feed");
    expect(postIdsOn(page.html)).toEqual([theirs, mine]);
    expect(textOf(page.html)).not.toContain("From a stranger");
  });

  it("shows a followed person's repost with who reposted it", async () => {
    const [{ browser, buyer }, { buyer: friend }, { buyer: stranger }] = await Promise.all([
      signedIn(),
      signedIn(),
      signedIn(),
    ]);
    await follow(buyer.id, friend.id);
    const postId = await storedPost(stranger.id, "Worth a repost", Date.now() - 5000);
    const reposted = await call(`/api/v1/posts/${postId}/repost`, { method: "PUT", headers: bearer(friend.token) });
    expect(reposted.status).toBe(200);
    const page = await browser.get("/feed");
    expect(postIdsOn(page.html)).toEqual([postId]);
    expect(textOf(page.html)).toContain("Reposted by Test User");
    expect(textOf(page.html)).toContain("Worth a repost");
  });

  it("pages with the cursor: 20 posts, then a link to the rest", async () => {
    const { browser, buyer } = await signedIn();
    const now = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 21; i += 1) ids.push(await storedPost(buyer.id, `Post number ${i}`, now - i * 1000));
    const first = await browser.get("/feed");
    expect(postIdsOn(first.html)).toEqual(ids.slice(0, 20));
    const more = /href="(\/feed\?cursor=[^"]+)"/.exec(first.html)?.[1];
    expect(more).toMatch(/^\/feed\?cursor=/);
    const second = await browser.get(more as string);
    expect(second.status).toBe(200);
    expect(postIdsOn(second.html)).toEqual([ids[20]]);
    expect(second.html).not.toContain("data-more");
    expect(second.html).not.toContain('class="card composer"');
    expect(textOf(second.html)).toContain("You are all caught up.");
  });

  it("posts from the composer without scripts, and shows the text escaped", async () => {
    const { browser, buyer } = await signedIn();
    await browser.get("/feed");
    const sent = await browser.submit("/feed", { key: freshKey(), text: XSS });
    expect(sent.status).toBe(303);
    expect(sent.location).toMatch(/^\/feed\?posted=/);
    const page = await browser.get(sent.location as string);
    expect(textOf(page.html)).toContain("Your post is up.");
    expect(page.html).not.toContain("<img src=x");
    expect(page.html).toContain("&lt;img src=x onerror=alert(1)&gt;");
    const row = await env.DB.prepare("SELECT text FROM posts WHERE author_id = ?")
      .bind(buyer.id)
      .first<{ text: string }>();
    expect(row?.text).toBe(XSS);
  });

  it("writes a post once per rendered form, however often it is sent", async () => {
    const { browser, buyer } = await signedIn();
    const page = await browser.get("/feed");
    const fields = { key: keyOn(page.html), text: "Posted once" };
    const answers = await Promise.all(Array.from({ length: 5 }, () => browser.submit("/feed", fields)));
    for (const answer of answers) expect(answer.status).toBe(303);
    const rows = await env.DB.prepare("SELECT id FROM posts WHERE author_id = ?").bind(buyer.id).all<{ id: string }>();
    expect(rows.results).toHaveLength(1);
    expect((await browser.submit("/feed", fields)).location).toBe(`/feed?posted=${rows.results[0]?.id}`);
  });

  it("an empty post changes nothing and the composer says why", async () => {
    const { browser, buyer } = await signedIn();
    await browser.get("/feed");
    const sent = await browser.submit("/feed", { key: freshKey(), text: " \n " });
    expect(sent.location).toBe("/feed?post=invalid");
    const page = await browser.get(sent.location as string);
    expect(textOf(page.html)).toContain("A post needs some text");
    expect(page.html).toContain('aria-invalid="true"');
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM posts WHERE author_id = ?")
      .bind(buyer.id)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("takes the posts policy per person: 10 posts from the composer, the 11th refused and not stored", async () => {
    const { browser, buyer } = await signedIn();
    await browser.get("/feed");
    for (let i = 1; i <= 10; i += 1)
      expect((await browser.submit("/feed", { key: freshKey(), text: `Post ${i}` })).status).toBe(303);
    const refused = await browser.submit("/feed", { key: freshKey(), text: "One too many" });
    expect(refused.status).toBe(429);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM posts WHERE author_id = ?")
      .bind(buyer.id)
      .first<{ n: number }>();
    expect(row?.n).toBe(10);
  });

  it("refuses a composer form without its CSRF token", async () => {
    const { browser, buyer } = await signedIn();
    await browser.get("/feed");
    expect((await browser.submit("/feed", { key: freshKey(), text: "forged" }, { csrf: null })).status).toBe(403);
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM posts WHERE author_id = ?")
      .bind(buyer.id)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });

  it("says the feed could not be loaded, with a retry, when D1 fails under it", async () => {
    const { buyer } = await signedIn();
    const logs = captureLogs();
    const db = new Proxy(env.DB, {
      get(target, key) {
        if (key !== "prepare") return Reflect.get(target, key);
        return (sql: string) => {
          if (/feed_version|posts p\b/.test(sql)) throw new Error("D1_ERROR: database is unavailable");
          return target.prepare(sql);
        };
      },
    });
    const res = await createApp().request(
      `${ORIGIN}/feed`,
      { headers: { Accept: "text/html", "CF-Connecting-IP": freshIp(), Cookie: `__Host-access=${buyer.token}` } },
      { ...env, DB: db },
    );
    expect(res.status).toBe(503);
    const html = await res.text();
    expect(textOf(html)).toContain("Your feed could not be loaded just now.");
    expect(html).toContain("data-retry");
    expect(html).not.toMatch(/D1_ERROR|database is unavailable/);
    expect(logs.entries("feed page: feed unreadable", "error")).toHaveLength(1);
  });
});

describe("the social pages' weight and markup", () => {
  /** The page's HTML with the stylesheets and scripts it loads, in bytes. */
  async function weight(page: Page): Promise<number> {
    const refs = [
      ...page.html.matchAll(/<link rel="stylesheet" href="([^"]+)"/g),
      ...page.html.matchAll(/<script[^>]* src="([^"]+)"/g),
    ].map((m) => m[1] ?? "");
    let total = new TextEncoder().encode(page.html).length;
    for (const ref of new Set(refs)) {
      const response = await call(ref);
      expect(response.status, ref).toBe(200);
      total += (await response.arrayBuffer()).byteLength;
    }
    return total;
  }

  it("a full feed page and a post with 40 comments stay within 50 KB, with no inline script or style", async () => {
    const { browser, buyer } = await signedIn();
    const now = Date.now();
    let postId = "";
    for (let i = 0; i < 21; i += 1) {
      postId = await storedPost(buyer.id, `A post of a usual length, number ${i}, about the canal night.`, now - i);
    }
    const rows = Array.from({ length: 40 }, (_, i) =>
      env.DB.prepare("INSERT INTO comments (id, post_id, author_id, text, created_at) VALUES (?, ?, ?, ?, ?)").bind(
        `c-${crypto.randomUUID()}`,
        postId,
        buyer.id,
        `A comment of a usual length, number ${i}.`,
        now + i,
      ),
    );
    await env.DB.batch(rows);
    const pages: [string, Page][] = [
      ["/feed", await browser.get("/feed")],
      ["/p/:id", await browser.get(`/p/${postId}`)],
    ];
    for (const [label, page] of pages) {
      expect(page.status, label).toBe(200);
      expect(page.html, label).not.toMatch(/\sstyle="/i);
      expect(page.html, label).not.toMatch(/\son[a-z]+="/i);
      expect(page.html, label).not.toMatch(/<script[^>]*>[^<]+<\/script>/);
      expect(await weight(page), label).toBeLessThanOrEqual(50 * 1024);
    }
  });
});
