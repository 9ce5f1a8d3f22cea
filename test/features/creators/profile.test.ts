/**
 * The public profile through the Worker: `GET /api/v1/profiles/:handle` (JSON) and the page `/@:handle`
 * (HTML: links through the click redirect with the tracking token, upcoming events, Open Graph and
 * Twitter tags escaped, the bio as text), the branded 404, the edge cache (a hit, then a miss after a
 * profile edit, a handle change and a link change), and the shared `profile-view` budget at its boundary.
 * Requests go through the Worker's handler with an execution context the test waits on, so a miss's
 * deferred cache store has finished before the next request.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import { verifyTrackingToken } from "../../../src/features/creators/tracking";
import worker from "../../../src/index";
import { freshIp, problemOf } from "../../helpers";
import { jpeg } from "../../lib/image/fixtures/jpeg";
import { freezeClock } from "../../support/clock";
import { codeOf } from "../../support/db";
import { createEvent, DAY, hostWithToken } from "../events/helpers";
import { upload } from "../media/helpers";
import { ok, type Person, person, send } from "../social/graph-helpers";

interface Profile {
  handle: string;
  name: string;
  bio: string;
  avatarUrl: string | null;
  links: { id: string; title: string; url: string; kind: string }[];
  tipping: boolean;
  pro: boolean;
  trackingToken: string;
  upcomingEvents: { id: string; title: string; startsAt: string; endsAt: string; venue: { name: string } }[];
}

async function get(path: string, init: { ip?: string; html?: boolean } = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { "CF-Connecting-IP": init.ip ?? freshIp() };
  if (init.html) headers.Accept = "text/html";
  const res = await worker.fetch(
    new Request(`https://gatehouse.test${path}`, { headers, redirect: "manual" }),
    env,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

let counter = 0;
const fresh = (prefix = "p") =>
  `${prefix}${Date.now().toString(36)}${++counter}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 30);

/** A creator with a handle and a name (optionally a bio and avatar). */
async function creator(fields: { name?: string; bio?: string; avatar?: boolean } = {}, who?: Person) {
  const p = who ?? (await person());
  const handle = fresh();
  const avatarMediaId = fields.avatar ? (await upload(p.token, jpeg(), { purpose: "avatar" })).id : undefined;
  await ok(await send("POST", "/api/v1/me/onboarding", p.token, { name: fields.name ?? "Ada", handle, avatarMediaId }));
  if (fields.bio !== undefined) await ok(await send("PUT", "/api/v1/me/profile", p.token, { bio: fields.bio }));
  return { ...p, handle };
}

/** Links written straight to D1 in the given states and order (LINKS' API is tested on its own). */
async function insertLinks(userId: string, links: { title: string; url: string; state?: string }[]) {
  const now = Date.now();
  await env.DB.batch(
    links.map((link, i) =>
      env.DB.prepare(
        `INSERT INTO links (id, user_id, title, url, kind, state, position, version, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'link', ?, ?, 1, ?, ?)`,
      ).bind(crypto.randomUUID(), userId, link.title, link.url, link.state ?? "active", i, now, now),
    ),
  );
}

describe("GET /api/v1/profiles/:handle", () => {
  it("answers handle, name, bio, avatar, active links in order, tipping and pro false, a token and upcoming events", async () => {
    const host = await hostWithToken();
    const ada = await creator({ name: "Ada Lovelace", bio: "Poet of science", avatar: true }, host);
    await insertLinks(ada.id, [
      { title: "Site", url: "https://ada.example/" },
      { title: "Hidden", url: "https://hidden.example/", state: "hidden" },
      { title: "Suggested", url: "https://s.example/", state: "suggested" },
      { title: "Shop", url: "https://shop.example/" },
    ]);
    const later = await createEvent(host.token, {
      title: "Later",
      startsAt: new Date(Date.now() + 9 * DAY).toISOString(),
      endsAt: new Date(Date.now() + 9 * DAY + 3600_000).toISOString(),
    });
    const sooner = await createEvent(host.token, { title: "Sooner" });
    await createEvent(host.token, { title: "Draft" }, false);

    const res = await get(`/api/v1/profiles/${ada.handle.toUpperCase()}`);
    const profile = await ok<Profile>(res);
    expect(profile).toMatchObject({
      handle: ada.handle,
      name: "Ada Lovelace",
      bio: "Poet of science",
      tipping: false,
      pro: false,
    });
    expect(profile.links.map((l) => l.title)).toEqual(["Site", "Shop"]);
    expect(profile.links[0]).toEqual({
      id: expect.any(String),
      title: "Site",
      url: "https://ada.example/",
      kind: "link",
    });
    expect(profile.upcomingEvents.map((e) => e.id)).toEqual([sooner.id, later.id]);
    expect(profile.upcomingEvents[0]).toMatchObject({ title: "Sooner", venue: { name: "De Kade" } });
    expect(profile.avatarUrl).toMatch(/^https:\/\/gatehouse\.test\/media\/.+\?.*sig=/);
    // The token is the tracking feature's own, bound to this creator.
    expect(await verifyTrackingToken(getConfig(env).hashPepper, profile.trackingToken, Date.now())).toEqual({
      ok: true,
      userId: ada.id,
    });
    expect(res.headers.get("Cache-Control")).toBe("private, no-store");
    expect(res.headers.get("RateLimit-Policy")).toContain('"profile-view"');
  });

  it("answers 404 not-found for a handle nobody holds, an invalid one and a reserved one", async () => {
    for (const handle of [fresh("none"), "a", "admin"]) {
      const res = await get(`/api/v1/profiles/${handle}`);
      expect(res.status).toBe(404);
      expect(codeOf(await problemOf(res))).toBe("not-found");
    }
  });

  it("is cached at the edge: a hit, then a miss after a profile edit, a handle change or a link change", async () => {
    const ada = await creator({ bio: "one" });
    const path = () => `/api/v1/profiles/${ada.handle}`;
    expect((await get(path())).headers.get("X-Cache")).toBe("MISS");
    const hit = await get(path());
    expect(hit.headers.get("X-Cache")).toBe("HIT");
    expect((await ok<Profile>(hit)).bio).toBe("one");

    // A profile edit bumps profile:<id>.
    await ok(await send("PUT", "/api/v1/me/profile", ada.token, { bio: "two" }));
    const edited = await get(path());
    expect(edited.headers.get("X-Cache")).toBe("MISS");
    expect((await ok<Profile>(edited)).bio).toBe("two");
    expect((await get(path())).headers.get("X-Cache")).toBe("HIT");

    // A link change bumps creator:<id> (here written as LINKS' batches do).
    await insertLinks(ada.id, [{ title: "New", url: "https://new.example/" }]);
    await env.DB.prepare(
      "INSERT INTO cache_versions (scope, version) VALUES (?, 1) ON CONFLICT (scope) DO UPDATE SET version = version + 1",
    )
      .bind(`creator:${ada.id}`)
      .run();
    const linked = await get(path());
    expect(linked.headers.get("X-Cache")).toBe("MISS");
    expect((await ok<Profile>(linked)).links.map((l) => l.title)).toEqual(["New"]);

    // A handle change bumps creator:<id> in the claim's batch: the new handle's first read is a miss.
    const next = fresh("n");
    await ok(await send("PUT", "/api/v1/me/handle", ada.token, { handle: next }));
    const moved = await get(`/api/v1/profiles/${next}`);
    expect(moved.headers.get("X-Cache")).toBe("MISS");
    expect((await ok<Profile>(moved)).handle).toBe(next);
  });

  it("an event published by the creator shows at once (the events version is part of the key)", async () => {
    const host = await hostWithToken();
    const ada = await creator({}, host);
    expect((await ok<Profile>(await get(`/api/v1/profiles/${ada.handle}`))).upcomingEvents).toEqual([]);
    expect((await get(`/api/v1/profiles/${ada.handle}`)).headers.get("X-Cache")).toBe("HIT");
    const event = await createEvent(host.token, { title: "Fresh" });
    const after = await get(`/api/v1/profiles/${ada.handle}`);
    expect(after.headers.get("X-Cache")).toBe("MISS");
    expect((await ok<Profile>(after)).upcomingEvents.map((e) => e.id)).toEqual([event.id]);
  });
});

describe("GET /@:handle", () => {
  it("shows avatar, name, bio as text, links through /l/:id?t=… and events, with escaped Open Graph and Twitter tags", async () => {
    const host = await hostWithToken();
    const name = `Ada "Q" <b>Lovelace</b> & co`;
    const bio = `<script>alert("x")</script><img src=x onerror=alert(1)> line`;
    const ada = await creator({ name, bio, avatar: true }, host);
    await insertLinks(ada.id, [{ title: `<i>Site</i>`, url: "https://ada.example/" }]);
    const event = await createEvent(host.token, { title: "Jazz night" });

    const res = await get(`/@${ada.handle}`, { html: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toContain("text/html");
    const html = await res.text();
    // The bio and the name are text: nothing of them is markup.
    expect(html).not.toContain("<script>alert");
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; line");
    expect(html).not.toContain("<b>Lovelace</b>");
    expect(html).toContain('<h1 id="creator-name">Ada &quot;Q&quot; &lt;b&gt;Lovelace&lt;/b&gt; &amp; co</h1>');
    expect(html).not.toContain("<i>Site</i>");

    const meta = (attr: string, key: string) =>
      html.match(new RegExp(`<meta ${attr}="${key}" content="([^"]*)"`))?.[1] ?? null;
    const escapedTitle = `Ada &quot;Q&quot; &lt;b&gt;Lovelace&lt;/b&gt; &amp; co (@${ada.handle})`;
    expect(meta("property", "og:title")).toBe(escapedTitle);
    expect(meta("name", "twitter:title")).toBe(escapedTitle);
    expect(meta("property", "og:description")).toContain("&lt;script&gt;");
    expect(meta("property", "og:url")).toBe(`https://gatehouse.test/@${ada.handle}`);
    expect(meta("property", "og:image")).toMatch(/^https:\/\/gatehouse\.test\/media\//);
    expect(meta("name", "twitter:card")).toBe("summary");
    expect(html).toContain(`<link rel="canonical" href="https://gatehouse.test/@${ada.handle}"`);

    const profile = await ok<Profile>(await get(`/api/v1/profiles/${ada.handle}`));
    const linkId = profile.links[0]?.id ?? "";
    expect(html).toMatch(new RegExp(`href="/l/${linkId}\\?t=[^"]+"`));
    expect(html).toContain(`href="/e/${event.id}"`);
    expect(html).toContain("Jazz night");
  });

  it("answers the branded 404 page for an unknown handle and for a path below one (the 301 of a changed handle: handles.test.ts)", async () => {
    const res = await get(`/@${fresh("nobody")}`, { html: true });
    expect(res.status).toBe(404);
    const html = await res.text();
    expect(html).toContain("<!doctype html>");
    expect(html).toContain("Page not found");
    expect(html).toContain("goes by @");
    expect((await get("/@a/b", { html: true })).status).toBe(404);
  });
});

describe("the profile-view budget", () => {
  it("100 views a minute per address across the page and the API; the 101st is 429", async () => {
    // A frozen clock: the budget refills continuously (1 view per 0.6 s), so real time would let one more in.
    freezeClock();
    const ada = await creator();
    const ip = freshIp();
    const pages = await Promise.all(Array.from({ length: 60 }, () => get(`/@${ada.handle}`, { ip, html: true })));
    const apis = await Promise.all(Array.from({ length: 40 }, () => get(`/api/v1/profiles/${ada.handle}`, { ip })));
    expect([...pages, ...apis].map((r) => r.status)).toEqual(Array(100).fill(200));
    const over = await get(`/@${ada.handle}`, { ip, html: true });
    expect(over.status).toBe(429);
    expect(over.headers.get("Retry-After")).toMatch(/^\d+$/);
    expect(await over.text()).toContain("Too many profile views");
    const overApi = await get(`/api/v1/profiles/${ada.handle}`, { ip });
    expect(overApi.status).toBe(429);
    expect((await problemOf(overApi)).policy).toBe("profile-view");
    expect((await get(`/@${ada.handle}`, { html: true })).status).toBe(200);
  });
});

describe("the creator pages and routes", () => {
  it("/onboarding sends a signed-out visitor to sign in and back", async () => {
    const res = await get("/onboarding", { html: true });
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toBe("/login?next=%2Fonboarding");
  });

  it("are documented in /openapi.json", async () => {
    const doc = (await (await get("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(doc.paths["/api/v1/handles/{handle}"] ?? {})).toEqual(["get"]);
    expect(Object.keys(doc.paths["/api/v1/me/handle"] ?? {})).toEqual(["put"]);
    expect(Object.keys(doc.paths["/api/v1/me/onboarding"] ?? {})).toEqual(["post"]);
    expect(Object.keys(doc.paths["/api/v1/profiles/{handle}"] ?? {})).toEqual(["get"]);
  });
});
