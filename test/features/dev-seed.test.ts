import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { call, devCall, json } from "../helpers";
import { postJson } from "./auth/helpers";

describe("POST /dev/seed", () => {
  it("seeds a host, an attendee, a free and a paid upcoming event; running it again changes nothing", async () => {
    const first = await json<{
      accounts: { role: string; email: string; password: string }[];
      events: { id: string; kind: string }[];
    }>(await devCall("/dev/seed", { method: "POST" }));
    expect(first.accounts.map((a) => a.role)).toEqual(["host", "attendee"]);
    expect(first.events.map((e) => e.kind)).toEqual(["free", "paid"]);
    const again = await json(await devCall("/dev/seed", { method: "POST" }));
    expect(again).toEqual(first);

    const users = await env.DB.prepare(
      "SELECT email, roles, email_verified_at FROM users WHERE id LIKE 'demo-%' ORDER BY id",
    ).all();
    expect(users.results).toHaveLength(2);
    const events = await env.DB.prepare(
      "SELECT id, status, price, starts_at FROM events WHERE id LIKE 'demo-%' ORDER BY id",
    ).all<{
      status: string;
      price: number;
      starts_at: number;
    }>();
    expect(events.results.map((e) => [e.status, e.price > 0])).toEqual([
      ["published", false],
      ["published", true],
    ]);
    for (const e of events.results) expect(e.starts_at).toBeGreaterThan(Date.now());

    // The printed credentials work, and the free event is claimable.
    for (const account of first.accounts) {
      const res = await postJson("/api/v1/auth/login", { email: account.email, password: account.password });
      expect(res.status).toBe(200);
    }
    const view = await json<{ availability: { remaining: number } }>(await call("/api/v1/events/demo-free-event"));
    expect(view.availability.remaining).toBe(120);
  });

  it("does not exist in production", async () => {
    const count = () => env.DB.prepare("SELECT COUNT(*) AS n FROM events").first<{ n: number }>();
    await env.DB.prepare("DELETE FROM users WHERE id LIKE 'demo-%'").run();
    const before = await count();
    const res = await createApp().request(
      "/dev/seed",
      { method: "POST" },
      { ...env, ENVIRONMENT: "production", PUBLIC_URL: "https://tickets.example" },
    );
    expect(res.status).toBe(404);
    const users = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE id LIKE 'demo-%'").first<{ n: number }>();
    expect(users?.n).toBe(0);
    expect(await count()).toEqual(before);
  });
});
