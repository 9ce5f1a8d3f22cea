import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { problemCodes, problemStatus, problemTitle, problemType } from "../../src/http/problem";
import { call, devCall, json, problemOf } from "../helpers";

describe("OpenAPI", () => {
  it("serves an OpenAPI 3.1 document generated from the route schemas", async () => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = await json<{ openapi: string; paths: Record<string, unknown>; components: { schemas: object } }>(res);
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/health", "/api/v1"]));
    expect(doc.components.schemas).toHaveProperty("Health");
  });

  it("names the codes behind every problem response, each under the status and title the one problem table gives it", async () => {
    type Response = { description: string; content?: Record<string, unknown> };
    const doc = await json<{ paths: Record<string, Record<string, { responses: Record<string, Response> }>> }>(
      await call("/openapi.json"),
    );
    let listed = 0;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          if (!response.content?.["application/problem+json"]) continue;
          const where = `${method.toUpperCase()} ${path} ${status}: ${response.description}`;
          const codes = [...response.description.matchAll(/`([a-z-]+)`: ([^;(]+?)(?= \(|;|$)/g)];
          expect(codes.length, where).toBeGreaterThan(0);
          for (const [, type, title] of codes) {
            // The documented name is the published type; one of the table's codes has it with this status and title.
            const entries = problemCodes()
              .filter((code) => problemType(code) === type)
              .map((code) => `${problemStatus(code)} ${problemTitle(code)}`);
            expect(entries, where).toContain(`${status} ${title}`);
            listed++;
          }
        }
      }
    }
    expect(listed).toBeGreaterThan(50);
    const register = doc.paths["/api/v1/auth/register"]?.post?.responses["400"]?.description;
    expect(register).toBe(
      "`weak-password`: Password does not meet the policy; `validation-failed`: Your request is not valid",
    );
  });
});

describe("GET /dev/mailbox", () => {
  it("is an empty list on a fresh database", async () => {
    const res = await devCall("/dev/mailbox");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ items: [] });
  });

  it("lists what the dev transport sent, newest first, filtered by recipient", async () => {
    const insert = env.DB.prepare(
      'INSERT INTO dev_mailbox (id, "to", subject, text, html, template, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    await env.DB.batch([
      insert.bind("m1", "ada@example.com", "Verify", "link 1", "<p>1</p>", "verify-email", 1_000),
      insert.bind("m2", "ada@example.com", "Code", "123456", "<p>2</p>", "otp", 2_000),
      insert.bind("m3", "bob@example.com", "Verify", "link 3", "<p>3</p>", "verify-email", 3_000),
    ]);
    const res = await devCall("/dev/mailbox?to=Ada@Example.com");
    const { items } = await json<{ items: { subject: string; template: string; createdAt: string }[] }>(res);
    expect(items.map((i) => i.subject)).toEqual(["Code", "Verify"]);
    expect(items[0]).toMatchObject({
      to: "ada@example.com",
      text: "123456",
      template: "otp",
      createdAt: "1970-01-01T00:00:02.000Z",
    });
    const all = await json<{ items: unknown[] }>(await devCall("/dev/mailbox"));
    expect(all.items).toHaveLength(3);
  });

  it("does not exist in production", async () => {
    const app = createApp();
    const prod = { ...env, ENVIRONMENT: "production", PUBLIC_URL: "https://tickets.example" };
    for (const path of ["/dev/mailbox", "/dev/ping"]) {
      const res = await app.request(path, {}, prod);
      expect(res.status).toBe(404);
      expect((await problemOf(res)).type).toBe("https://gatehouse.events/problems/not-found");
    }
  });

  it("/dev/ping round-trips to a Durable Object", async () => {
    expect(await json(await devCall("/dev/ping"))).toEqual({ pong: "pong" });
  });
});

describe("GET /health when a dependency fails", () => {
  it("answers 503 and names the failed check", async () => {
    const app = createApp();
    const brokenDb = { prepare: () => ({ first: () => Promise.reject(new Error("D1 down")) }) };
    const res = await app.request("/health", {}, { ...env, DB: brokenDb });
    expect(res.status).toBe(503);
    expect(await json(res)).toEqual({
      status: "degraded",
      checks: { d1: "fail", durableObjects: "ok", r2: "ok", queues: "ok", billing: "skipped" },
    });
  });

  it("reports a missing queue binding and an unreachable bucket", async () => {
    const app = createApp();
    const { EMAIL_QUEUE: _q, ...rest } = env;
    const res = await app.request(
      "/health",
      {},
      { ...rest, MEDIA: { head: () => Promise.reject(new Error("R2 down")) } },
    );
    expect(res.status).toBe(503);
    expect((await json<{ checks: object }>(res)).checks).toEqual({
      d1: "ok",
      durableObjects: "ok",
      r2: "fail",
      queues: "fail",
      billing: "skipped",
    });
  });
});
