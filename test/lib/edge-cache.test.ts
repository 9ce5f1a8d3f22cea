/**
 * The edge cache helper against workerd's real Cache API and D1: keys carry every input, a miss is
 * stored only after the answer (deferred), a hit skips the producer, versions read in one query
 * with a missing scope at 0, and a bump is one statement a writer can batch.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bumpVersion, cacheKey, getOrProduce, readVersions } from "../../src/lib/edge-cache";

/** A defer that collects the deferred work, to run when the test says the response is done. */
function deferred() {
  const tasks: (() => Promise<unknown>)[] = [];
  return {
    defer: (task: () => Promise<unknown>) => {
      tasks.push(task);
    },
    tasks,
    flush: () => Promise.all(tasks.splice(0).map((task) => task())),
  };
}

describe("edge cache", () => {
  it("caches.default works in the test pool (put, then match)", async () => {
    const key = cacheKey("probe", { id: crypto.randomUUID() });
    await caches.default.put(key, new Response("{}", { headers: { "Cache-Control": "s-maxage=60" } }));
    expect(await (await caches.default.match(key))?.text()).toBe("{}");
  });

  it("keys are internal URLs that carry every part, in a stable order, null kept and undefined left out", () => {
    const a = cacheKey("feed", { viewer: "u/1", version: 3, cursor: null, limit: 20, skip: undefined });
    const b = cacheKey("feed", { limit: 20, cursor: null, version: 3, viewer: "u/1" });
    expect(a).toBe(b);
    expect(a).toMatch(/^https:\/\/edge-cache\.gatehouse\.internal\/v\d+\/feed\?/);
    expect(a).toContain("viewer=u%2F1");
    expect(a).toContain("cursor=&");
    expect(a).not.toContain("skip");
    expect(cacheKey("feed", { viewer: "u/1", version: 4, cursor: null, limit: 20 })).not.toBe(a);
    // A part's value cannot forge another part.
    expect(cacheKey("x", { a: "1&b=2" })).not.toBe(cacheKey("x", { a: "1", b: "2" }));
  });

  it("a miss produces and stores after the answer; the next read is a hit without the producer", async () => {
    const key = cacheKey("test", { id: crypto.randomUUID() });
    const { defer, tasks, flush } = deferred();
    let produced = 0;
    const produce = async () => {
      produced += 1;
      return { n: produced };
    };
    const first = await getOrProduce(key, 60, defer, produce);
    expect(first).toEqual({ value: { n: 1 }, hit: false });
    expect(tasks).toHaveLength(1);
    // Not stored until the deferred work runs.
    expect(await caches.default.match(key)).toBeUndefined();
    await flush();
    const stored = await caches.default.match(key);
    expect(stored?.headers.get("Cache-Control")).toContain("s-maxage=60");
    const second = await getOrProduce(key, 60, defer, produce);
    expect(second).toEqual({ value: { n: 1 }, hit: true });
    expect(produced).toBe(1);
    expect(tasks).toHaveLength(0);
  });

  it("a producer that throws stores nothing", async () => {
    const key = cacheKey("test", { id: crypto.randomUUID() });
    const { defer, tasks } = deferred();
    await expect(
      getOrProduce(key, 60, defer, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(tasks).toHaveLength(0);
  });

  it("versions: several scopes in one query, missing ones at 0; a bump creates then increments", async () => {
    const a = `test:${crypto.randomUUID()}`;
    const b = `test:${crypto.randomUUID()}`;
    expect(await readVersions(env.DB, [a, b])).toEqual({ [a]: 0, [b]: 0 });
    await env.DB.batch([bumpVersion(env.DB, a)]);
    await env.DB.batch([bumpVersion(env.DB, a), bumpVersion(env.DB, a), bumpVersion(env.DB, b)]);
    expect(await readVersions(env.DB, [a, b])).toEqual({ [a]: 3, [b]: 1 });
    expect(await readVersions(env.DB, [])).toEqual({});
  });
});
