/**
 * GET /dev/fixtures/backlog: the emails the consumer still has in hand (the bench waits for none
 * between scenarios). In a file of its own: storage is per test file, so no other test's emails count.
 */
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import type { AppEnv } from "../../src/context";
import { devRoutes } from "../../src/features/dev/routes";
import { devCall } from "../helpers";

describe("GET /dev/fixtures/backlog", () => {
  it("counts emails not yet sent or dead-lettered, stuck ones (the sweep's) aside; not in production", async () => {
    const backlog = async () => ((await (await devCall("/dev/fixtures/backlog")).json()) as { emails: number }).emails;
    const before = await backlog();
    const id = `backlog-test:${crypto.randomUUID()}`;
    const now = Date.now();
    const insert = (suffix: string, status: string, at = now) =>
      env.DB.prepare(
        `INSERT INTO email_outbox (id, "to", template, subject, text, html, status, attempts, created_at, queued_at, updated_at)
         VALUES (?, 'x@example.com', 't', 's', 't', 'h', ?, 0, ?, ?, ?)`,
      )
        .bind(`${id}:${suffix}`, status, at, status === "queued" ? at : null, at)
        .run();
    await insert("a", "pending");
    await insert("b", "queued");
    await insert("c", "sent");
    await insert("d", "dead_letter");
    // An hour old: its message is gone, the cron sweep (not the consumer) will hand it over again.
    await insert("e", "queued", now - 60 * 60 * 1000);
    await insert("f", "pending", now - 60 * 60 * 1000);
    expect(before).toBe(0);
    expect(await backlog()).toBe(2);
    const guarded = new Hono<AppEnv>()
      .use(async (c, next) => {
        c.set("config", { ...getConfig(env), isProduction: true, environment: "production" });
        await next();
      })
      .route("/dev", devRoutes);
    expect((await guarded.request("/dev/fixtures/backlog", {}, env)).status).toBe(404);
  });
});
