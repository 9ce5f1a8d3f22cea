import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { getConfig } from "../../../src/config";
import {
  mintTrackingToken,
  recordTrackEvent,
  referrerHost,
  verifyTrackingToken,
  visitorHash,
  visitorTraits,
} from "../../../src/features/creators/tracking";
import { consumeRate } from "../../../src/lib/rate-limit-client";
import { call, freshIp, problemOf } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { codeOf, countRows, rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { grantRoles } from "../../support/sessions";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";
import {
  click,
  DESKTOP,
  GOOGLEBOT,
  HEADLESS,
  linkOf,
  PHONE,
  pepper,
  publicCreator,
  tokenFor,
  visit,
} from "./tracking-helpers";

const HOUR = 60 * 60 * 1000;

describe("tracking tokens", () => {
  it("a minted token names its creator until it expires 2 hours later; a changed one is forged", async () => {
    const now = Date.UTC(2030, 0, 1);
    const token = await mintTrackingToken("k".repeat(32), "user-1", now);
    expect(await verifyTrackingToken("k".repeat(32), token, now)).toEqual({ ok: true, userId: "user-1" });
    expect(await verifyTrackingToken("k".repeat(32), token, now + 2 * HOUR - 1)).toMatchObject({ ok: true });
    expect(await verifyTrackingToken("k".repeat(32), token, now + 2 * HOUR)).toEqual({ ok: false, reason: "expired" });
    expect(await verifyTrackingToken("x".repeat(32), token, now)).toEqual({ ok: false, reason: "forged" });
    const [exp, , mac] = token.split(".");
    const otherUser = `${exp}.${btoa("user-2").replace(/=+$/, "")}.${mac}`;
    expect(await verifyTrackingToken("k".repeat(32), otherUser, now)).toEqual({ ok: false, reason: "forged" });
    const later = `${Number(exp) + 3600}.${token.split(".")[1]}.${mac}`;
    expect(await verifyTrackingToken("k".repeat(32), later, now)).toEqual({ ok: false, reason: "forged" });
    expect(await verifyTrackingToken("k".repeat(32), undefined, now)).toEqual({ ok: false, reason: "malformed" });
    expect(await verifyTrackingToken("k".repeat(32), "abc", now)).toEqual({ ok: false, reason: "malformed" });
  });

  it("a visitor's hash is stable within a UTC day and unrelated the next day, and never contains the address", async () => {
    const a = await visitorHash("k".repeat(32), "2030-01-01", "203.0.113.9", PHONE);
    expect(await visitorHash("k".repeat(32), "2030-01-01", "203.0.113.9", PHONE)).toBe(a);
    expect(await visitorHash("k".repeat(32), "2030-01-02", "203.0.113.9", PHONE)).not.toBe(a);
    expect(await visitorHash("k".repeat(32), "2030-01-01", "203.0.113.10", PHONE)).not.toBe(a);
    expect(a).not.toContain("203.0.113");
  });

  it("classifies agents: crawlers, headless browsers, empty agents and verified bots are bots", () => {
    expect(visitorTraits(GOOGLEBOT, false)).toEqual({ bot: true, device: "bot" });
    expect(visitorTraits(HEADLESS, false)).toEqual({ bot: true, device: "bot" });
    expect(visitorTraits("", false)).toEqual({ bot: true, device: "bot" });
    expect(visitorTraits("curl/8.4.0", false)).toEqual({ bot: true, device: "bot" });
    expect(visitorTraits(DESKTOP, true)).toEqual({ bot: true, device: "bot" });
    expect(visitorTraits(PHONE, false)).toEqual({ bot: false, device: "mobile" });
    expect(visitorTraits(DESKTOP, false)).toEqual({ bot: false, device: "desktop" });
    expect(visitorTraits("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15", false)).toEqual({
      bot: false,
      device: "tablet",
    });
    expect(
      visitorTraits("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36", false).device,
    ).toBe("tablet");
  });

  it("keeps only a referrer's host", () => {
    expect(referrerHost("https://www.instagram.com/p/abc?igsh=secret#x")).toBe("www.instagram.com");
    expect(referrerHost("android-app://com.google")).toBeNull();
    expect(referrerHost("not a url")).toBeNull();
    expect(referrerHost(undefined)).toBeNull();
  });
});

describe("POST /api/v1/track/visit", () => {
  it("counts a visit with a valid token: 202, stored with the day's pseudonym, device and referrer host only", async () => {
    const creator = await publicCreator();
    const ip = freshIp();
    const res = await visit(await tokenFor(creator.id), { ip, referrer: "https://t.co/abc?ref=private" });
    expect(res.status).toBe(202);
    const stored = await rows<Record<string, unknown>>("SELECT * FROM track_events WHERE user_id = ?", creator.id);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ kind: "visit", link_id: null, device: "mobile", referrer_host: "t.co", bot: 0 });
    expect(stored[0]?.day).toBe(new Date().toISOString().slice(0, 10));
    expect(stored[0]?.visitor_hash).toBe(await visitorHash(pepper(), new Date().toISOString().slice(0, 10), ip, PHONE));
    expect(JSON.stringify(stored)).not.toContain(ip);
    expect(JSON.stringify(stored)).not.toContain("private");
  });

  it("refuses a missing, malformed, forged, another profile's or expired token with 401 and counts nothing", async () => {
    const creator = await publicCreator();
    const good = await tokenFor(creator.id);
    const [exp, id, mac] = good.split(".") as [string, string, string];
    const bad = [
      undefined,
      "",
      "garbage",
      `${exp}.${id}.${mac.slice(0, -2)}AA`,
      `${Number(exp) + 60}.${id}.${mac}`,
      await mintTrackingToken("not-the-pepper-0123456789abcdef0123", creator.id, Date.now()),
      await tokenFor(creator.id, Date.now() - 2 * HOUR - 1000),
    ];
    for (const token of bad) {
      const res = await visit(token as string);
      expect(res.status, String(token)).toBe(token === undefined ? 400 : 401);
      if (token !== undefined) expect(codeOf(await problemOf(res))).toBe("unauthorized");
    }
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(0);
  });

  it("refuses a profile that is not public (no active handle), counting nothing", async () => {
    const hidden = await publicCreator({ public: false });
    const res = await visit(await tokenFor(hidden.id));
    expect(res.status).toBe(401);
    expect(await countRows("track_events", "user_id = ?", hidden.id)).toBe(0);
  });

  it("records bots as bots: crawler agents, headless browsers and Cf-Verified-Bot", async () => {
    const creator = await publicCreator();
    const token = await tokenFor(creator.id);
    for (const ua of [GOOGLEBOT, HEADLESS]) expect((await visit(token, { ua })).status).toBe(202);
    expect((await visit(token, { ua: DESKTOP, headers: { "Cf-Verified-Bot": "true" } })).status).toBe(202);
    expect((await visit(token, { ua: DESKTOP })).status).toBe(202);
    const stored = await rows<{ bot: number; device: string }>(
      "SELECT bot, device FROM track_events WHERE user_id = ? ORDER BY id",
      creator.id,
    );
    expect(stored).toEqual([
      { bot: 1, device: "bot" },
      { bot: 1, device: "bot" },
      { bot: 1, device: "bot" },
      { bot: 0, device: "desktop" },
    ]);
  });

  it("allows 50 a minute per address; the 51st is 429 and not counted", async () => {
    freezeClock(Date.now());
    const creator = await publicCreator();
    const token = await tokenFor(creator.id);
    const ip = freshIp();
    for (let i = 0; i < 50; i += 1) expect((await visit(token, { ip })).status, `visit ${i + 1}`).toBe(202);
    const res = await visit(token, { ip });
    expect(res.status).toBe(429);
    expect(codeOf(await problemOf(res))).toBe("rate-limited");
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(50);
  });

  it("allows 10,000 an hour per creator; past it a visit is 429 and not counted", async () => {
    freezeClock(Date.now());
    const creator = await publicCreator();
    const token = await tokenFor(creator.id);
    const policy = getConfig(env).ratePolicies["creator-track"];
    await consumeRate(env.RATE_LIMITER, `creator:${creator.id}`, policy, 9_999);
    expect((await visit(token)).status).toBe(202);
    const over = await visit(token);
    expect(over.status).toBe(429);
    expect((await problemOf(over)).policy).toBe("creator-track");
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(1);
  });
});

describe("GET /l/:linkId", () => {
  it("redirects to the link and counts the click", async () => {
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    const res = await click(link.id, await tokenFor(creator.id));
    expect(res.status).toBe(302);
    expect(res.headers.get("Location")).toBe("https://shop.example/item");
    expect(await rows("SELECT kind, link_id, device, bot FROM track_events WHERE user_id = ?", creator.id)).toEqual([
      { kind: "click", link_id: link.id, device: "desktop", bot: 0 },
    ]);
  });

  it("is 404 and counts nothing without a valid token, for another creator's token, or a link not active on a public profile", async () => {
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    const other = await publicCreator();
    const hiddenLink = await linkOf(creator.id, "https://hidden.example/");
    await env.DB.prepare("UPDATE links SET state = 'hidden' WHERE id = ?").bind(hiddenLink.id).run();
    const privateCreator = await publicCreator({ public: false });
    const privateLink = await linkOf(privateCreator.id);
    const cases: [string, string | undefined][] = [
      [link.id, undefined],
      [link.id, "forged.token.value"],
      [link.id, await tokenFor(creator.id, Date.now() - 3 * HOUR)],
      [link.id, await tokenFor(other.id)],
      [hiddenLink.id, await tokenFor(creator.id)],
      [privateLink.id, await tokenFor(privateCreator.id)],
      ["no-such-link", await tokenFor(creator.id)],
    ];
    for (const [id, token] of cases) {
      const res = await click(id, token);
      expect(res.status, `${id} ${token}`).toBe(404);
      expect(res.headers.get("Location")).toBeNull();
    }
    expect(await countRows("track_events", "user_id IN (?, ?, ?)", creator.id, other.id, privateCreator.id)).toBe(0);
  });

  it("past the creator's hourly budget still redirects, without counting", async () => {
    freezeClock(Date.now());
    const creator = await publicCreator();
    const link = await linkOf(creator.id);
    const policy = getConfig(env).ratePolicies["creator-track"];
    await consumeRate(env.RATE_LIMITER, `creator:${creator.id}`, policy, 10_000);
    const res = await click(link.id, await tokenFor(creator.id));
    expect(res.status).toBe(302);
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(0);
  });
});

describe("a counter write that fails", () => {
  it("is retried, and stored once D1 takes it", async () => {
    const creator = await publicCreator();
    let calls = 0;
    const flaky = {
      prepare: (sql: string) => {
        const real = env.DB.prepare(sql);
        return {
          bind: (...values: unknown[]) => {
            const bound = real.bind(...values);
            return {
              run: () => {
                calls += 1;
                if (calls <= 2) return Promise.reject(new Error("D1_ERROR: network connection lost"));
                return bound.run();
              },
            };
          },
        };
      },
    } as unknown as D1Database;
    const stored = await recordTrackEvent(flaky, event(creator.id), { sleep: async () => {} });
    expect(stored).toBe(true);
    expect(calls).toBe(3);
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(1);
  });

  it("is dead-lettered with an error logged when every attempt fails, never dropped silently", async () => {
    const creator = await publicCreator();
    const logs = captureLogs();
    let inserts = 0;
    const broken = {
      prepare: (sql: string) => {
        if (sql.includes("INSERT INTO track_events")) {
          return {
            bind: () => ({
              run: () => {
                inserts += 1;
                return Promise.reject(new Error("D1_ERROR: overloaded"));
              },
            }),
          };
        }
        return env.DB.prepare(sql);
      },
    } as unknown as D1Database;
    const stored = await recordTrackEvent(broken, event(creator.id), { sleep: async () => {} });
    expect(stored).toBe(false);
    expect(inserts).toBe(4);
    const letters = await rows<{ source: string; payload: string }>(
      "SELECT source, payload FROM dead_letters WHERE source = 'track-event' AND ref_id LIKE ?",
      `${creator.id}:%`,
    );
    expect(letters).toHaveLength(1);
    expect(JSON.parse(letters[0]?.payload ?? "{}")).toMatchObject({ userId: creator.id, kind: "visit" });
    expect(logs.entries("track event not stored: dead-lettered", "error")).toHaveLength(1);
  });
});

function event(userId: string) {
  return {
    userId,
    kind: "visit" as const,
    linkId: null,
    visitorHash: "h".repeat(32),
    device: "mobile" as const,
    country: "DE",
    referrerHost: null,
    bot: false,
    at: Date.now(),
  };
}

describe("replaying a dead-lettered counter", () => {
  it("an admin's replay stores the event once and rolls its day up; a second replay is refused", async () => {
    const creator = await publicCreator();
    const broken = {
      prepare: (sql: string) =>
        sql.includes("INSERT INTO track_events")
          ? { bind: () => ({ run: () => Promise.reject(new Error("D1_ERROR: overloaded")) }) }
          : env.DB.prepare(sql),
    } as unknown as D1Database;
    const at = Date.now() - 3 * 24 * HOUR;
    expect(await recordTrackEvent(broken, { ...event(creator.id), at }, { sleep: async () => {} })).toBe(false);
    const [letter] = await rows<{ id: string }>(
      "SELECT id FROM dead_letters WHERE source = 'track-event' AND ref_id LIKE ?",
      `${creator.id}:%`,
    );
    const [admin] = await buyers(1);
    await grantRoles(admin?.id ?? "", ["admin"]);
    const replay = () =>
      call(`/api/v1/admin/dead-letters/${letter?.id}/replay`, { method: "POST", headers: bearer(admin?.token ?? "") });
    expect((await replay()).status).toBe(202);
    expect(await rows("SELECT kind, day, country FROM track_events WHERE user_id = ?", creator.id)).toEqual([
      { kind: "visit", day: new Date(at).toISOString().slice(0, 10), country: "DE" },
    ]);
    expect(
      await rows(
        "SELECT count FROM track_daily WHERE user_id = ? AND metric = 'visits' AND dimension = 'total'",
        creator.id,
      ),
    ).toEqual([{ count: 1 }]);
    expect((await replay()).status).toBe(409);
    expect(await countRows("track_events", "user_id = ?", creator.id)).toBe(1);
  });
});

describe("the profile page counts its visit", () => {
  it("carries the beacon script and a token that POST /api/v1/track/visit takes", async () => {
    const [creator] = await buyers(1);
    const handle = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
    const claim = await call("/api/v1/me/handle", {
      method: "PUT",
      headers: { ...bearer(creator?.token ?? ""), "Content-Type": "application/json" },
      body: JSON.stringify({ handle }),
    });
    expect(claim.status).toBe(200);
    const page = await call(`/@${handle}`, { headers: { Accept: "text/html" } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toMatch(/<script[^>]+src="\/assets\/creator-track\.js"/);
    const token = /data-tracking-token="([^"]+)"/.exec(html)?.[1] ?? "";
    expect((await visit(token)).status).toBe(202);
    expect(await countRows("track_events", "user_id = ? AND kind = 'visit'", creator?.id)).toBe(1);
  });
});

describe("country", () => {
  it("comes from request.cf.country, and only a two-letter code is kept", async () => {
    const creator = await publicCreator();
    const token = await tokenFor(creator.id);
    const send = (country: string) =>
      exports.default.fetch(
        new Request("https://gatehouse.test/api/v1/track/visit", {
          method: "POST",
          headers: { "Content-Type": "application/json", "User-Agent": PHONE, "CF-Connecting-IP": freshIp() },
          body: JSON.stringify({ token }),
          cf: { country },
        }),
      );
    expect((await send("DE")).status).toBe(202);
    expect((await send("<script>")).status).toBe(202);
    expect(await rows("SELECT country FROM track_events WHERE user_id = ? ORDER BY id", creator.id)).toEqual([
      { country: "DE" },
      { country: null },
    ]);
  });
});
