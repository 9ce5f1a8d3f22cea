/**
 * Pro's higher limit (config/plans.ts): a Pro creator posts 20 times per 5 minutes where everyone else
 * posts 10 (`posts-pro` vs `posts`), at the boundary; a subscription that stops entitling brings the
 * base allowance back at once.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { rows } from "../../support/db";
import { person, send } from "../social/graph-helpers";

async function subscribe(userId: string, status: string): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO subscriptions (id, user_id, stripe_customer_id, price_id, status, current_period_end,
       cancel_at_period_end, stripe_event_created, version, created_at, updated_at)
     VALUES (?, ?, 'cus_test_limits', 'price_test_gatehouse_pro', ?, ?, 0, 1, 1, ?, ?)`,
  )
    .bind(`sub_test_${crypto.randomUUID()}`, userId, status, Math.floor(now / 1000) + 86400, now, now)
    .run();
}

const post = (token: string, i: number) => send("POST", "/api/v1/posts", token, { text: `post ${i}` });
const count = async (userId: string) =>
  (await rows<{ n: number }>("SELECT COUNT(*) AS n FROM posts WHERE author_id = ?", userId))[0]?.n;

describe("posts per 5 minutes by plan", () => {
  it("Pro: 20 accepted, the 21st is 429 and stores nothing", async () => {
    const pro = await person();
    await subscribe(pro.id, "active");
    for (let i = 1; i <= 20; i++) expect((await post(pro.token, i)).status).toBe(201);
    const over = await post(pro.token, 21);
    expect(over.status).toBe(429);
    expect(over.headers.get("RateLimit-Policy")).toContain("20");
    expect(await count(pro.id)).toBe(20);
  });

  it("a subscription that does not entitle (unpaid) keeps the free 10", async () => {
    const lapsed = await person();
    await subscribe(lapsed.id, "unpaid");
    for (let i = 1; i <= 10; i++) expect((await post(lapsed.token, i)).status).toBe(201);
    expect((await post(lapsed.token, 11)).status).toBe(429);
    expect(await count(lapsed.id)).toBe(10);
  });
});
