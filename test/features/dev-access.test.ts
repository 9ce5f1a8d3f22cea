/**
 * Who reaches /dev: the attack is a deployed Worker whose ENVIRONMENT says "development" (a staging
 * copy), where GET /dev/mailbox would hand out live sign-in codes and POST /dev/seed would create
 * accounts with a published password. The routes need DEV_ROUTES=1 and a loopback host, and do not
 * exist in production at all. Requests go through the Worker's own fetch export with the bindings
 * each case needs. In a file of its own: storage is per test file, so the row counts are this file's.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { getConfig } from "../../src/config";
import worker from "../../src/index";
import { freshIp, json, problemOf } from "../helpers";

/** A sign-in code as the dev transport would have mirrored it. */
const CODE_EMAIL = "victim@example.com";
const CODE = "493817";

const { DEV_ROUTES: _dev, ...base } = env;
const development = { ...base, ENVIRONMENT: "development" };
const developmentWithRoutes = { ...development, DEV_ROUTES: "1" };
const productionWithRoutes = {
  ...base,
  ENVIRONMENT: "production",
  PUBLIC_URL: "https://tickets.example",
  DEV_ROUTES: "1",
};

async function send(url: string, bindings: object, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("CF-Connecting-IP", freshIp());
  return await worker.fetch(new Request(url, { ...init, headers }), bindings as Env, createExecutionContext());
}

const mailbox = (origin: string, bindings: object) =>
  send(`${origin}/dev/mailbox?to=${encodeURIComponent(CODE_EMAIL)}`, bindings);
const seed = (origin: string, bindings: object) => send(`${origin}/dev/seed`, bindings, { method: "POST" });

async function demoUsers(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE id LIKE 'demo-%'").first<{ n: number }>();
  return row?.n ?? -1;
}

/** 404 with the same problem as a path that does not exist, and no trace of the code in the body. */
async function expectAbsent(res: Response): Promise<void> {
  expect(res.status).toBe(404);
  const body = await problemOf(res);
  expect(body.type).toBe("https://gatehouse.events/problems/not-found");
  expect(JSON.stringify(body)).not.toContain(CODE);
}

beforeAll(async () => {
  await env.DB.prepare(
    'INSERT INTO dev_mailbox (id, "to", subject, text, html, template, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  )
    .bind("dev-access-1", CODE_EMAIL, "Your sign-in code", `Your code is ${CODE}`, `<p>${CODE}</p>`, "otp-code", 1_000)
    .run();
});

describe("/dev/mailbox and /dev/seed", () => {
  it("ENVIRONMENT=development without DEV_ROUTES: 404 on every host, nothing seeded", async () => {
    expect(getConfig(development).devRoutes).toBe(false);
    for (const origin of ["https://staging.gatehouse.example", "http://localhost:8787"]) {
      await expectAbsent(await mailbox(origin, development));
      await expectAbsent(await seed(origin, development));
    }
    expect(await demoUsers()).toBe(0);
  });

  it("DEV_ROUTES=1 on a host that is not loopback: 404, nothing seeded", async () => {
    for (const origin of [
      "https://staging.gatehouse.example",
      "http://127.0.0.1.nip.example",
      "http://localhost.example",
      "http://10.0.0.1:8787",
      "http://[::2]:8787",
    ]) {
      await expectAbsent(await mailbox(origin, developmentWithRoutes));
      await expectAbsent(await seed(origin, developmentWithRoutes));
    }
    // A method the route lacks gets the same 404, not a 405 naming the methods it has.
    await expectAbsent(
      await send("https://staging.gatehouse.example/dev/mailbox", developmentWithRoutes, { method: "POST" }),
    );
    expect(await demoUsers()).toBe(0);
  });

  it("production with DEV_ROUTES=1, even from localhost: 404, nothing seeded", async () => {
    expect(getConfig(productionWithRoutes)).toMatchObject({ isProduction: true, devRoutes: false });
    for (const origin of ["http://localhost:8787", "http://127.0.0.1:8787", "http://[::1]:8787"]) {
      await expectAbsent(await mailbox(origin, productionWithRoutes));
      await expectAbsent(await seed(origin, productionWithRoutes));
    }
    // Not mounted at all: no 405 saying which methods /dev/mailbox would take.
    await expectAbsent(await send("http://localhost/dev/mailbox", productionWithRoutes, { method: "POST" }));
    expect(await demoUsers()).toBe(0);
  });

  it("DEV_ROUTES=1 on a loopback host (localhost, 127.0.0.0/8, [::1]): 200", async () => {
    for (const origin of ["http://localhost:8787", "http://127.0.0.1:8787", "http://127.9.8.7", "http://[::1]:8787"]) {
      const res = await mailbox(origin, developmentWithRoutes);
      expect(res.status).toBe(200);
      const { items } = await json<{ items: { text: string }[] }>(res);
      expect(items.map((i) => i.text)).toEqual([`Your code is ${CODE}`]);
    }
    const seeded = await seed("http://127.0.0.1:8787", developmentWithRoutes);
    expect(seeded.status).toBe(200);
    expect((await json<{ accounts: unknown[] }>(seeded)).accounts).toHaveLength(2);
    expect(await demoUsers()).toBe(2);
  });
});
