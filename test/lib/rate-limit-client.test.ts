/**
 * Where rate-limit state lives: addresses and devices in an object of their own, users and email
 * recipients in LIMITS.rateLimiterShards shared objects where every key still has its own budget.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEFAULT_RATE_POLICIES, LIMITS } from "../../src/config/limits";
import { consumeRate, consumeRates, giveBackRate, placement, resetRate } from "../../src/lib/rate-limit-client";

/** The real namespace, counting calls to the objects' consume methods. */
function counting() {
  const calls: string[] = [];
  const namespace = {
    getByName(name: string) {
      const stub = env.RATE_LIMITER.getByName(name);
      return new Proxy(stub, {
        get(target, prop) {
          if (typeof prop === "string" && prop.startsWith("consume")) calls.push(prop);
          return Reflect.get(target, prop);
        },
      });
    },
  } as unknown as typeof env.RATE_LIMITER;
  return { namespace, calls };
}

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

describe("several policies of one key in one call (consumeRates)", () => {
  const policy = (name: string, limit: number) => ({ ...DEFAULT_RATE_POLICIES.api, name, limit });
  const remaining = async (key: string, p: ReturnType<typeof policy>) =>
    (await consumeRate(env.RATE_LIMITER, key, p, 0)).remaining;

  it("takes each in order in one object call; a refusal ends the list and the later policies spend nothing", async () => {
    const key = `ip:${crypto.randomUUID()}`;
    const tight = policy(`tight-${crypto.randomUUID()}`, 1);
    const loose = policy(`loose-${crypto.randomUUID()}`, 5);
    const { namespace, calls } = counting();

    const first = await consumeRates(namespace, key, [tight, loose]);
    expect(first.map((d) => d.allowed)).toEqual([true, true]);
    expect(calls).toEqual(["consumeAll"]);
    expect(first[1]?.remaining).toBe(4);

    const second = await consumeRates(namespace, key, [tight, loose]);
    expect(second.map((d) => d.allowed)).toEqual([false]);
    expect(second[0]?.retryAfterSeconds).toBeGreaterThan(0);
    // The refused first policy kept the second from being charged.
    expect(await remaining(key, loose)).toBe(4);
  });

  it("a block this isolate remembers ends the list without asking for it; the policies before it are still taken", async () => {
    const key = `ip:${crypto.randomUUID()}`;
    const loose = policy(`loose-${crypto.randomUUID()}`, 5);
    const tight = policy(`tight-${crypto.randomUUID()}`, 1);
    const { namespace, calls } = counting();
    expect((await consumeRates(namespace, key, [loose, tight])).map((d) => d.allowed)).toEqual([true, true]);
    // The object refuses `tight` now and the isolate remembers that.
    expect((await consumeRates(namespace, key, [loose, tight])).map((d) => d.allowed)).toEqual([true, false]);
    calls.length = 0;

    const third = await consumeRates(namespace, key, [loose, tight]);
    expect(third.map((d) => d.allowed)).toEqual([true, false]);
    // One call, for `loose` (three units taken in all); `tight`'s refusal came from memory.
    expect(calls).toEqual(["consumeAll"]);
    expect(third[1]).toMatchObject({ allowed: false, limit: 1 });
    expect(await remaining(key, loose)).toBe(2);
  });
});

describe("leases of large budgets (consumeRates)", () => {
  const policy = (limit: number) => ({
    ...DEFAULT_RATE_POLICIES.api,
    name: `big-${crypto.randomUUID()}`,
    limit,
    windowSeconds: 3600,
  });

  it("a budget of 10,000 costs its object one call per 51 requests while far from its limit", async () => {
    const key = `ip:${crypto.randomUUID()}`;
    const big = policy(10_000);
    const { namespace, calls } = counting();
    const seen: number[] = [];
    for (let i = 0; i < 102; i++) {
      const [decision] = await consumeRates(namespace, key, [big]);
      expect(decision?.allowed).toBe(true);
      seen.push(decision?.remaining ?? -1);
    }
    expect(calls).toEqual(["consumeAllWithLease", "consumeAllWithLease"]);
    // Each request reports the budget as if it had been asked alone.
    expect(seen).toEqual(Array.from({ length: 102 }, (_, i) => 10_000 - 1 - i));
    // The object spent exactly what was handed out.
    expect((await consumeRate(env.RATE_LIMITER, key, big, 0)).remaining).toBe(10_000 - 102);
  });

  it("never hands out more than the budget: 1,000 a window allows exactly 1,000, leased or not", async () => {
    const key = `ip:${crypto.randomUUID()}`;
    const budget = policy(1000);
    const { namespace, calls } = counting();
    let allowed = 0;
    for (let i = 0; i < 1010; i++) {
      const [decision] = await consumeRates(namespace, key, [budget]);
      if (decision?.allowed) allowed += 1;
    }
    expect(allowed).toBe(1000);
    // Leases of 10 while more than half was left, then one call per request near the limit.
    expect(calls.length).toBeGreaterThan(500);
    expect(calls.length).toBeLessThan(1010);
  });

  it("small budgets are never leased: every request of the default api policy asks its object", async () => {
    const key = `ip:${crypto.randomUUID()}`;
    const { namespace, calls } = counting();
    for (let i = 0; i < 5; i++) await consumeRates(namespace, key, [DEFAULT_RATE_POLICIES.api]);
    expect(calls).toEqual(["consume", "consume", "consume", "consume", "consume"]);
  });
});
