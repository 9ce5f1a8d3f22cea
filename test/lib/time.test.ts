import { describe, expect, it } from "vitest";
import { iso } from "../../src/lib/time";

describe("iso", () => {
  it("turns stored epoch milliseconds into the ISO 8601 UTC string bodies carry, to the millisecond", () => {
    expect(iso(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(iso(Date.UTC(2026, 11, 4, 23, 5, 25, 7))).toBe("2026-12-04T23:05:25.007Z");
  });

  it("keeps null as null: a time not reached yet (not redeemed, not replayed) is no date", () => {
    expect(iso(null)).toBeNull();
  });
});
