/**
 * Where rate-limit state lives: addresses and devices in an object of their own, users and email
 * recipients in LIMITS.rateLimiterShards shared objects where every key still has its own budget.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_POLICIES, LIMITS } from "../../src/config/limits";
import { consumeRate, giveBackRate, placement, resetRate } from "../../src/lib/rate-limit-client";

const ordersUser = { ...DEFAULT_RATE_POLICIES["orders-user"], limit: 2 };

/** Two distinct user keys that land in the same shard. */
function neighbours(): [string, string] {
  const seen = new Map<string, string>();
  for (;;) {
    const key = `user:${crypto.randomUUID()}`;
    const { object } = placement(key, "orders-user");
    const other = seen.get(object);
    if (other) return [other, key];
    seen.set(object, key);
  }
}

describe("rate-limit key placement", () => {
  it("addresses and devices have an object each; users and recipients share shards by a stable hash", () => {
    expect(placement("ip:203.0.113.7", "api")).toEqual({ object: "ip:203.0.113.7", policy: "api" });
    expect(placement("device:abc", "scanner")).toEqual({ object: "device:abc", policy: "scanner" });
    const user = placement("user:ada", "orders-user");
    expect(user.object).toMatch(/^shard:user:\d+$/);
    expect(user.policy).toBe("orders-user|user:ada");
    expect(placement("user:ada", "orders-user")).toEqual(user);
    expect(placement("mailto:0123abcd", "email-recipient").object).toMatch(/^shard:mailto:\d+$/);
  });

  it("spreads 20,000 buyers over every shard, none with more than twice its share", () => {
    const load = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const { object } = placement(`user:${crypto.randomUUID()}`, "orders-user");
      load.set(object, (load.get(object) ?? 0) + 1);
    }
    expect(load.size).toBe(LIMITS.rateLimiterShards);
    expect(Math.max(...load.values())).toBeLessThan((2 * 20_000) / LIMITS.rateLimiterShards);
  });

  it("keys sharing a shard keep separate budgets, resets and give-backs", async () => {
    const [a, b] = neighbours();
    expect(placement(a, "x").object).toBe(placement(b, "x").object);
    const take = async (key: string) => (await consumeRate(env.RATE_LIMITER, key, ordersUser)).allowed;
    expect([await take(a), await take(a), await take(a)]).toEqual([true, true, false]);
    // The neighbour's budget is untouched by the first key's.
    expect([await take(b), await take(b), await take(b)]).toEqual([true, true, false]);
    await resetRate(env.RATE_LIMITER, a, ordersUser);
    expect(await take(a)).toBe(true);
    expect(await take(b)).toBe(false);

    const window = { ...DEFAULT_RATE_POLICIES["auth-login"], name: "shard-window", limit: 1 };
    expect((await consumeRate(env.RATE_LIMITER, a, window)).allowed).toBe(true);
    expect((await consumeRate(env.RATE_LIMITER, b, window)).allowed).toBe(true);
    await giveBackRate(env.RATE_LIMITER, a, window);
    // Only the first key got its unit back.
    expect((await consumeRate(env.RATE_LIMITER, a, window)).allowed).toBe(true);
    expect((await consumeRate(env.RATE_LIMITER, b, window)).allowed).toBe(false);
  });

  it("a unit given back also lifts the block this isolate remembered for the key", async () => {
    const key = `user:${crypto.randomUUID()}`;
    const window = { ...DEFAULT_RATE_POLICIES["auth-login"], name: "give-back-block", limit: 1 };
    expect((await consumeRate(env.RATE_LIMITER, key, window)).allowed).toBe(true);
    // A probe finds the budget spent: the isolate now answers "blocked" itself until Retry-After.
    expect((await consumeRate(env.RATE_LIMITER, key, window, 0)).allowed).toBe(false);
    await giveBackRate(env.RATE_LIMITER, key, window);
    expect((await consumeRate(env.RATE_LIMITER, key, window, 0)).allowed).toBe(true);
  });
});
