/**
 * A key's own rate policy (`api-key`, per key, instead of the per-address `api`), made-up keys bounded
 * per address (`api-key-auth`), and `last_used_at` kept coarsely: one write per key per interval,
 * after the response, never one per request.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/app";
import { LIMITS } from "../../../src/config/limits";
import { freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, recordingEnv, rows } from "../../support/db";
import { hostWithKey } from "./helpers";

const app = createApp();

/** A request through a fresh app on `bindings`, waiting for the work it left for after the answer. */
async function settled(bindings: Env, path: string, key: string, ip = freshIp()): Promise<Response> {
  const after: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => after.push(p), passThroughOnException: () => {}, props: {} };
  const res = await app.request(
    `https://gatehouse.test${path}`,
    { headers: { Authorization: `Bearer ${key}`, "CF-Connecting-IP": ip } },
    bindings,
    ctx as unknown as ExecutionContext,
  );
  await Promise.all(after);
  return res;
}

describe("the api-key rate policy", () => {
  it("limits each key on its own, at its boundary, and not by address: `api` does not apply", async () => {
    const limited = {
      ...env,
      RATE_LIMITS: JSON.stringify({ "api-key": { limit: 3, windowSeconds: 60 }, api: { limit: 1, windowSeconds: 60 } }),
    };
    const ip = freshIp();
    const one = await hostWithKey(["events:read"]);
    const two = await hostWithKey(["events:read"]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await settled(limited, "/api/v1/me/events", one.key.key, ip);
      statuses.push(res.status);
      if (i === 0) {
        expect(res.headers.get("RateLimit-Policy")).toBe('"api-key";q=3;w=60');
        expect(res.headers.get("RateLimit")).toMatch(/^"api-key";r=2;t=\d+$/);
      }
      if (i === 3) {
        expect(codeOf(await problemOf(res))).toBe("rate-limited");
        expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
      }
    }
    // Exactly the limit passes; from the same address, past `api`'s limit of 1.
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Another key, same address, has a budget of its own.
    expect((await settled(limited, "/api/v1/me/events", two.key.key, ip)).status).toBe(200);
  });

  it("made-up keys count against the address under api-key-auth: past its limit, 429", async () => {
    const limited = { ...env, RATE_LIMITS: JSON.stringify({ "api-key-auth": { limit: 2, windowSeconds: 60 } }) };
    const ip = freshIp();
    const made = () => `gh_live_${crypto.randomUUID().replace(/-/g, "").padEnd(42, "A")}A`;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await settled(limited, "/api/v1/me/events", made(), ip)).status);
    expect(statuses).toEqual([401, 401, 429]);
    // Another address is not held back.
    expect((await settled(limited, "/api/v1/me/events", made(), freshIp())).status).toBe(401);
  });
});

describe("last used, coarsely", () => {
  it("five requests write last_used_at once, after the answer; the next write waits for the interval", async () => {
    const clock = freezeClock();
    const { key } = await hostWithKey(["events:read"]);
    const recorded = recordingEnv();
    const writes = () => recorded.queries.filter((q) => q.startsWith("UPDATE api_keys SET last_used_at")).length;
    const lastUsed = async () =>
      (await rows<{ last_used_at: number | null }>("SELECT last_used_at FROM api_keys WHERE id = ?", key.id))[0]
        ?.last_used_at;

    expect(await lastUsed()).toBeNull();
    // Concurrent, so all five read the row before any write lands: the isolate's memory holds them back.
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => settled(recorded.env, "/api/v1/me/events", key.key)),
    );
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(writes()).toBe(1);
    const first = clock.now();
    expect(await lastUsed()).toBe(first);

    for (let i = 0; i < 5; i++) await settled(recorded.env, "/api/v1/me/events", key.key);
    clock.advance(LIMITS.apiKeyLastUsedGranularityMs - 1);
    await settled(recorded.env, "/api/v1/me/events", key.key);
    expect(writes()).toBe(1);
    expect(await lastUsed()).toBe(first);

    const later = clock.advance(2);
    await settled(recorded.env, "/api/v1/me/events", key.key);
    expect(writes()).toBe(2);
    expect(await lastUsed()).toBe(later);
  });
});
