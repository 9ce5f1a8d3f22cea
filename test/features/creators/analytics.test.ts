import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { creatorAnalytics } from "../../../src/features/creators/analytics";
import { rollupCreatorDay } from "../../../src/features/creators/rollups";
import { utcDay } from "../../../src/features/creators/tracking";
import worker from "../../../src/index";
import { call, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { bearer } from "../auth/helpers";
import { click, DESKTOP, GOOGLEBOT, HEADLESS, linkOf, PHONE, publicCreator, tokenFor, visit } from "./tracking-helpers";

const DAY = 24 * 60 * 60 * 1000;

async function runCron(at: number, bindings: Env = env) {
  const ctx = createExecutionContext();
  worker.scheduled(createScheduledController({ scheduledTime: at, cron: "*/5 * * * *" }), bindings, ctx);
  await waitOnExecutionContext(ctx);
}

interface Raw {
  kind?: "visit" | "click";
  linkId?: string | null;
  visitor?: string;
  device?: string;
  country?: string | null;
  referrer?: string | null;
  bot?: boolean;
  at: number;
}

async function insertEvents(userId: string, events: Raw[]) {
  await env.DB.batch(
    events.map((e) =>
      env.DB.prepare(
        `INSERT INTO track_events (user_id, kind, link_id, day, visitor_hash, device, country, referrer_host, bot, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).bind(
        userId,
        e.kind ?? "visit",
        e.linkId ?? null,
        utcDay(e.at),
        e.visitor ?? crypto.randomUUID(),
        e.device ?? (e.bot ? "bot" : "mobile"),
        e.country ?? null,
        e.referrer ?? null,
        e.bot ? 1 : 0,
        e.at,
      ),
    ),
  );
}

async function analytics(token: string, query = "") {
  const res = await call(`/api/v1/me/analytics${query}`, { headers: bearer(token) });
  return res;
}

describe("rollups and GET /api/v1/me/analytics", () => {
  it("the cron rolls up yesterday and today; the answer counts humans only, with bots apart", async () => {
    const now = Date.now();
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    const yesterday = now - DAY;
    await insertEvents(creator.id, [
      { at: now, visitor: "a", device: "mobile", country: "DE", referrer: "t.co" },
      { at: now, visitor: "a", device: "mobile", country: "DE", referrer: "t.co" },
      { at: now, visitor: "b", device: "desktop", country: "FR" },
      { at: now, kind: "click", linkId: link.id, visitor: "a", device: "mobile" },
      { at: now, bot: true, visitor: "g" },
      { at: now, bot: true, kind: "click", linkId: link.id, visitor: "g" },
      { at: yesterday, visitor: "c", device: "tablet", country: "DE", referrer: "www.instagram.com" },
      { at: yesterday, bot: true, visitor: "h" },
    ]);
    await runCron(now);
    const res = await analytics(creator.token, `?from=${utcDay(yesterday)}&to=${utcDay(now)}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      from: utcDay(yesterday),
      to: utcDay(now),
      visits: 4,
      uniqueVisitors: 3,
      clicks: 1,
      ctr: 0.25,
      bots: 3,
      stale: false,
      byDay: [
        { day: utcDay(yesterday), visits: 1, uniqueVisitors: 1, clicks: 0 },
        { day: utcDay(now), visits: 3, uniqueVisitors: 2, clicks: 1 },
      ],
      byLink: [{ linkId: link.id, title: "Shop", clicks: 1 }],
      byDevice: [
        { device: "mobile", visits: 2 },
        { device: "desktop", visits: 1 },
        { device: "tablet", visits: 1 },
      ],
      byCountry: [
        { country: "DE", visits: 3 },
        { country: "FR", visits: 1 },
      ],
      byReferrer: [
        { host: null, visits: 1 },
        { host: "t.co", visits: 2 },
        { host: "www.instagram.com", visits: 1 },
      ].sort((x, y) => y.visits - x.visits || String(x.host ?? "").localeCompare(String(y.host ?? ""))),
    });
  });

  it("through the real routes: bot visits and clicks, and forged tokens, add nothing to the numbers", async () => {
    const now = Date.now();
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    const token = await tokenFor(creator.id);
    expect((await visit(token, { ua: PHONE })).status).toBe(202);
    expect((await visit(token, { ua: GOOGLEBOT })).status).toBe(202);
    expect((await visit(token, { ua: HEADLESS })).status).toBe(202);
    expect((await visit(token, { ua: DESKTOP, headers: { "Cf-Verified-Bot": "true" } })).status).toBe(202);
    expect((await visit(`${token.slice(0, -2)}AA`, { ua: PHONE })).status).toBe(401);
    expect((await click(link.id, token, { ua: DESKTOP })).status).toBe(302);
    expect((await click(link.id, token, { ua: GOOGLEBOT })).status).toBe(302);
    expect((await click(link.id, "forged", { ua: DESKTOP })).status).toBe(404);
    await runCron(now);
    const body = (await (await analytics(creator.token)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ visits: 1, clicks: 1, bots: 4, ctr: 1 });
    expect(body.byDevice).toEqual([{ device: "mobile", visits: 1 }]);
  });

  it("a run rolls up a bounded number of creator-days, those with new events, least recently rolled first; the purge runs first", async () => {
    const now = freezeClock(Date.UTC(2031, 6, 10, 12)).now();
    const [a, b, c] = [await publicCreator(), await publicCreator(), await publicCreator()];
    for (const creator of [a, b, c]) await insertEvents(creator.id, [{ at: now, visitor: "v1" }]);
    await insertEvents(a.id, [{ at: now - 100 * DAY }]);
    const visits = (userId: string) =>
      rows<{ count: number }>(
        "SELECT count FROM track_daily WHERE user_id = ? AND day = ? AND metric = 'visits' AND dimension = 'total'",
        userId,
        utcDay(now),
      );
    const max = LIMITS.trackRollupMaxCreatorDays;
    (LIMITS as { trackRollupMaxCreatorDays: number }).trackRollupMaxCreatorDays = 2;
    try {
      const logs = captureLogs();
      await runCron(now);
      // Two of the three, and the old raw event purged whatever the rollups had left to do.
      const rolled = [await visits(a.id), await visits(b.id), await visits(c.id)].filter((r) => r.length === 1);
      expect(rolled).toHaveLength(2);
      expect(logs.entries("sweep")[0]).toMatchObject({ trackCreatorDaysRolledUp: 2 });
      expect(await rows("SELECT 1 FROM track_events WHERE user_id = ? AND created_at < ?", a.id, now - DAY)).toEqual(
        [],
      );

      // The next run takes the one left; the two rolled, with nothing new, are not recomputed.
      await runCron(now + 300_000);
      expect(logs.entries("sweep")[1]).toMatchObject({ trackCreatorDaysRolledUp: 1 });
      for (const creator of [a, b, c]) expect(await visits(creator.id)).toEqual([{ count: 1 }]);
      await runCron(now + 600_000);
      expect(logs.entries("sweep")[2]).toMatchObject({ trackCreatorDaysRolledUp: 0 });

      // A new visit makes its creator-day due again.
      await insertEvents(b.id, [{ at: now + 600_000, visitor: "v2" }]);
      await runCron(now + 900_000);
      expect(logs.entries("sweep")[3]).toMatchObject({ trackCreatorDaysRolledUp: 1 });
      expect(await visits(b.id)).toEqual([{ count: 2 }]);
    } finally {
      (LIMITS as { trackRollupMaxCreatorDays: number }).trackRollupMaxCreatorDays = max;
    }
  });

  it("a rollup is idempotent: running it again leaves the same rows", async () => {
    const now = Date.now();
    const creator = await publicCreator();
    await insertEvents(creator.id, [{ at: now }, { at: now, country: "NL" }, { at: now, bot: true }]);
    await rollupCreatorDay(env.DB, creator.id, utcDay(now));
    const first = await rows("SELECT * FROM track_daily WHERE user_id = ? ORDER BY metric, dimension, key", creator.id);
    await rollupCreatorDay(env.DB, creator.id, utcDay(now));
    await runCron(now);
    expect(
      await rows("SELECT * FROM track_daily WHERE user_id = ? ORDER BY metric, dimension, key", creator.id),
    ).toEqual(first);
    expect(first.length).toBeGreaterThan(0);
  });

  it("refuses a bad range with 400 and needs a signed-in user", async () => {
    const creator = await publicCreator();
    for (const q of [
      "?from=2030-01-02&to=2030-01-01",
      "?from=2029-01-01&to=2030-01-03",
      "?from=2030-02-30",
      "?to=yesterday",
    ]) {
      const res = await analytics(creator.token, q);
      expect(res.status, q).toBe(400);
      expect(codeOf(await problemOf(res))).toBe("validation-failed");
    }
    expect((await call("/api/v1/me/analytics")).status).toBe(401);
  });
});

describe("retention", () => {
  it("the cron deletes raw events older than 90 days (frozen clock), keeps the rest and the rollups, and logs the count", async () => {
    const now = freezeClock(Date.UTC(2031, 2, 15, 12)).now();
    const creator = await publicCreator();
    await insertEvents(creator.id, [
      { at: now - 90 * DAY - 1 },
      { at: now - 200 * DAY },
      { at: now - 90 * DAY },
      { at: now - DAY },
    ]);
    await env.DB.prepare(
      "INSERT INTO track_daily (user_id, day, metric, dimension, key, count) VALUES (?, ?, 'visits', 'total', '', 7)",
    )
      .bind(creator.id, utcDay(now - 200 * DAY))
      .run();
    const logs = captureLogs();
    await runCron(now);
    const left = await rows<{ created_at: number }>(
      "SELECT created_at FROM track_events WHERE user_id = ? ORDER BY created_at",
      creator.id,
    );
    expect(left.map((r) => r.created_at)).toEqual([now - 90 * DAY, now - DAY]);
    expect(
      await rows("SELECT count FROM track_daily WHERE user_id = ? AND day = ?", creator.id, utcDay(now - 200 * DAY)),
    ).toEqual([{ count: 7 }]);
    const [sweep] = logs.entries("sweep");
    expect(sweep?.trackEventsPurged).toBeGreaterThanOrEqual(2);
    expect(typeof sweep?.trackCreatorDaysRolledUp).toBe("number");
  });

  it("TRACK_RETENTION_DAYS shortens the retention", async () => {
    const now = freezeClock(Date.UTC(2031, 5, 1, 12)).now();
    const creator = await publicCreator();
    await insertEvents(creator.id, [{ at: now - 31 * DAY }, { at: now - 29 * DAY }]);
    await runCron(now, { ...env, TRACK_RETENTION_DAYS: "30" } as Env);
    const left = await rows<{ created_at: number }>(
      "SELECT created_at FROM track_events WHERE user_id = ?",
      creator.id,
    );
    expect(left.map((r) => r.created_at)).toEqual([now - 29 * DAY]);
  });
});

describe("a slow or failing read", () => {
  it("serves the last good answer marked stale, and 503 unavailable when there is none", async () => {
    const creator = await publicCreator();
    const good = await creatorAnalytics(env.DB, creator.id, "2030-01-01", "2030-01-03");
    expect(good.stale).toBe(false);
    const failing = await creatorAnalytics(env.DB, creator.id, "2030-01-01", "2030-01-03", {
      read: () => Promise.reject(new Error("D1_ERROR")),
    });
    expect(failing).toMatchObject({ stale: true, visits: 0, byDay: good.byDay });
    const slow = await creatorAnalytics(env.DB, creator.id, "2030-01-01", "2030-01-03", {
      read: () => new Promise(() => {}),
      timeoutMs: 20,
    });
    expect(slow.stale).toBe(true);
    await expect(
      creatorAnalytics(env.DB, creator.id, "2030-02-01", "2030-02-03", {
        read: () => new Promise(() => {}),
        timeoutMs: 20,
      }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("the dashboard page /me/analytics", () => {
  it("shows the totals, an SVG bar per day and the breakdown tables, with bots left out", async () => {
    const now = Date.now();
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    await insertEvents(creator.id, [
      { at: now, country: "DE", referrer: "t.co" },
      { at: now, kind: "click", linkId: link.id },
      { at: now, bot: true },
    ]);
    await runCron(now);
    const res = await call(`/me/analytics?from=${utcDay(now - 6 * DAY)}&to=${utcDay(now)}`, {
      headers: { ...bearer(creator.token), Accept: "text/html" },
    });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("Profile analytics");
    expect(html.match(/<title>[^<]*: \d+ visits, \d+ clicks<\/title>/g)).toHaveLength(7);
    expect(html).toContain(`${utcDay(now)}: 1 visits, 1 clicks`);
    expect(html).toContain("<td>Shop</td>");
    expect(html).toContain("<td>DE</td>");
    expect(html).toContain("<td>t.co</td>");
    expect(html).toMatch(/<dt>Bots \(left out\)<\/dt><dd>1<\/dd>/);
  });

  it("sends a signed-out visitor to sign in", async () => {
    const res = await call("/me/analytics", { headers: { Accept: "text/html" }, redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("Location")).toContain("/login");
  });
});
