import { describe, expect, it } from "vitest";
import { BoundedCache } from "../../src/lib/bounded-cache";

describe("BoundedCache", () => {
  it("never holds more than its bound: the entry written longest ago goes first", () => {
    const cache = new BoundedCache<string, number>(3);
    for (const [i, key] of ["a", "b", "c"].entries()) cache.set(key, i);
    cache.set("a", 10); // re-written: now the newest
    cache.set("d", 3);
    expect(cache.size).toBe(3);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(10);
    expect(cache.get("c")).toBe(2);
    expect(cache.get("d")).toBe(3);
    for (let i = 0; i < 1_000; i += 1) cache.set(`k${i}`, i);
    expect(cache.size).toBe(3);
  });

  it("drops an entry once its lifetime is over, by the cache's ttl or an explicit expiry", () => {
    const cache = new BoundedCache<string, string>(10, 1_000);
    cache.set("x", "value", 5_000);
    expect(cache.get("x", 5_999)).toBe("value");
    expect(cache.get("x", 6_000)).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.set("y", "short", 0, 10);
    expect(cache.get("y", 9)).toBe("short");
    expect(cache.get("y", 10)).toBeUndefined();
  });

  it("deletes by value and refuses a bound below one", () => {
    const cache = new BoundedCache<string, { device: string }>(10);
    cache.set("t1", { device: "d1" });
    cache.set("t2", { device: "d1" });
    cache.set("t3", { device: "d2" });
    cache.deleteWhere((value) => value.device === "d1");
    expect(cache.size).toBe(1);
    expect(cache.get("t3")).toEqual({ device: "d2" });
    expect(() => new BoundedCache(0)).toThrow(RangeError);
  });
});
