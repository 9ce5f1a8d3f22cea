import { env } from "cloudflare:workers";
import { createRoute, z } from "@hono/zod-openapi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { DomainError } from "../../src/lib/errors";
import { call, freshIp, problemOf } from "../helpers";
import { captureLogs } from "../support/logs";

const TYPE = "https://gatehouse.events/problems/";

/** The production app plus a validating route and a crashing route, as later features add theirs. */
function appWithTestRoutes() {
  const app = createApp();
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/v1/test-items",
      request: {
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z.object({
                title: z.string().min(1).max(10),
                venue: z.object({ lat: z.number().min(-90).max(90) }),
              }),
            },
          },
        },
      },
      responses: { 201: { description: "created" } },
    }),
    (c) => c.json({ ok: true }, 201),
  );
  app.get("/api/v1/test-crash", () => {
    throw new Error("secret internal detail: db password is hunter2");
  });
  app.get("/api/v1/test-domain", () => {
    throw new DomainError("conflict", "Version 3 is stale.", { currentVersion: 4 });
  });
  return app;
}

const send = (app: ReturnType<typeof createApp>, path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", freshIp());
  return app.request(path, { ...init, headers }, env);
};

afterEach(() => vi.restoreAllMocks());

describe("every error is an RFC 9457 problem", () => {
  it("unknown route: 404 not-found", async () => {
    const res = await call("/nope");
    expect(res.status).toBe(404);
    const body = await problemOf(res);
    expect(body).toMatchObject({ type: `${TYPE}not-found`, title: "Not found", status: 404 });
    expect(body.requestId).toBe(res.headers.get("X-Request-Id"));
    expect(typeof body.detail).toBe("string");
  });

  it("wrong method on a known path: 405 with Allow", async () => {
    const res = await call("/health", { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("Allow")).toBe("GET, HEAD");
    expect(await problemOf(res)).toMatchObject({ type: `${TYPE}method-not-allowed`, status: 405 });
  });

  it("malformed JSON: 400 malformed-json", async () => {
    const res = await send(appWithTestRoutes(), "/api/v1/test-items", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"title": "x",',
    });
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({ type: `${TYPE}malformed-json`, status: 400 });
  });

  it("invalid fields: 400 validation-failed listing every field by path", async () => {
    const res = await send(appWithTestRoutes(), "/api/v1/test-items", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ title: "far too long a title", venue: { lat: 91 } }),
    });
    expect(res.status).toBe(400);
    const body = await problemOf(res);
    expect(body).toMatchObject({ type: `${TYPE}validation-failed`, status: 400 });
    const errors = body.errors as { path: string; message: string }[];
    expect(errors.map((e) => e.path).sort()).toEqual(["title", "venue.lat"]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
  });

  it("body over 1 MB: 413 payload-too-large, by Content-Length and by streamed size", async () => {
    const big = "x".repeat(1024 * 1024 + 1);
    const res = await send(appWithTestRoutes(), "/api/v1/test-items", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(await problemOf(res)).toMatchObject({ type: `${TYPE}payload-too-large`, limitBytes: 1024 * 1024 });

    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 17; i++) controller.enqueue(new TextEncoder().encode("y".repeat(64 * 1024)));
        controller.close();
      },
    });
    const streamed = await send(appWithTestRoutes(), "/api/v1/test-items", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: stream,
      // @ts-expect-error: workerd needs duplex for a streamed request body
      duplex: "half",
    });
    expect(streamed.status).toBe(413);
  });

  it("exactly 1 MB is accepted by the size limit (and then judged by the schema)", async () => {
    const body = JSON.stringify({ title: "ok", venue: { lat: 1 }, pad: "" });
    const padded = body.replace('"pad":""', `"pad":"${"p".repeat(1024 * 1024 - body.length)}"`);
    expect(new TextEncoder().encode(padded).length).toBe(1024 * 1024);
    const res = await send(appWithTestRoutes(), "/api/v1/test-items", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: padded,
    });
    expect(res.status).toBe(201);
  });

  it("domain errors keep their code, detail and extensions", async () => {
    const res = await send(appWithTestRoutes(), "/api/v1/test-domain");
    expect(res.status).toBe(409);
    expect(await problemOf(res)).toMatchObject({
      type: `${TYPE}conflict`,
      detail: "Version 3 is stale.",
      currentVersion: 4,
    });
  });

  it("unexpected error: 500 with only the request id; the stack goes to the log", async () => {
    const logs = captureLogs();
    const res = await send(appWithTestRoutes(), "/api/v1/test-crash");
    expect(res.status).toBe(500);
    const text = await res.clone().text();
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("at ");
    const body = await problemOf(res);
    expect(body).toMatchObject({ type: `${TYPE}internal`, status: 500 });
    const logged = logs.raw("error").join("\n");
    expect(logged).toContain(String(body.requestId));
    expect(logged).toContain("hunter2");
  });

  it("429 is a problem too (rate-limited)", async () => {
    const app = createApp();
    const ip = freshIp();
    const limited = { ...env, RATE_LIMITS: '{"api":{"limit":1,"windowSeconds":60}}' };
    await app.request("/api/v1", { headers: { "CF-Connecting-IP": ip } }, limited);
    const res = await app.request("/api/v1", { headers: { "CF-Connecting-IP": ip } }, limited);
    expect(res.status).toBe(429);
    expect((await problemOf(res)).type).toBe(`${TYPE}rate-limited`);
  });
});
