import { describe, expect, it } from "vitest";
import { call, json } from "../helpers";

describe("GET /health", () => {
  it("answers 200 when D1, the Durable Object, R2 and the queues all answer", async () => {
    const res = await call("/health");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      status: "ok",
      checks: { d1: "ok", durableObjects: "ok", r2: "ok", queues: "ok", billing: "skipped" },
    });
    expect(res.headers.get("X-Request-Id")).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
  });
});
