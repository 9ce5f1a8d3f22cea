/**
 * Privacy-safe visit and click counting for public profiles (issue 18).
 *
 * - Tokens: the profile page carries `mintTrackingToken`'s answer, an HMAC-SHA256 over the creator's
 *   id and an expiry (LIMITS.trackTokenTtlSeconds). Only a token we made, for that creator, not yet
 *   expired, gets a visit or click counted, so counts cannot be inflated by posting made-up ids.
 *   The key is the configuration's HASH_PEPPER under the label `track-token:` (the way the other
 *   derived secrets here are made), so there is no new secret to provision or rotate.
 * - No address is stored. `visitor_hash` is an HMAC of address and user agent under a salt derived
 *   from the pepper and the UTC day: unique visitors can be counted within a day, the same person
 *   gets an unrelated hash the next day, and no salt is ever stored (it is recomputed, then forgotten).
 * - Bots (known crawler agents, headless browsers, an empty agent, Cloudflare's verified-bot signal)
 *   are stored with bot = 1 and left out of every aggregate (rollups.ts).
 * - Only the referrer's host is kept, never its path or query.
 * - A failed insert is retried (TRACK_RETRY) and then parked as a dead letter, never dropped silently.
 */
import { LIMITS } from "../../config/limits";
import { backoffDelay, type RetrySchedule } from "../../lib/backoff";
import { base64url, hmacBase64url, timingSafeEqual } from "../../lib/crypto";
import { log } from "../../lib/log";
import { deadLetterStatement } from "../dead-letters";
import { rollupStatements } from "./rollups";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function tokenMac(secret: string, userId: string, exp: number): Promise<string> {
  return hmacBase64url(secret, `track-token:${userId}.${exp}`);
}

/**
 * A tracking token for `userId`'s public profile, valid LIMITS.trackTokenTtlSeconds from `now` (ms).
 * `secret`: the configuration's `hashPepper`. Shape: `<exp>.<userId, base64url>.<mac>`.
 */
export async function mintTrackingToken(secret: string, userId: string, now: number): Promise<string> {
  const exp = Math.floor(now / 1000) + LIMITS.trackTokenTtlSeconds;
  return `${exp}.${base64url(encoder.encode(userId))}.${await tokenMac(secret, userId, exp)}`;
}

export type TokenCheck = { ok: true; userId: string } | { ok: false; reason: "malformed" | "forged" | "expired" };

/** The creator a token was minted for, or why it is refused (for the log; clients get one answer). */
export async function verifyTrackingToken(secret: string, token: string | undefined, now: number): Promise<TokenCheck> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{43})$/.exec(token ?? "");
  if (!match) return { ok: false, reason: "malformed" };
  const [, expText, idText, mac] = match as unknown as [string, string, string, string];
  let userId: string;
  try {
    const padded = idText.replace(/-/g, "+").replace(/_/g, "/");
    userId = decoder.decode(Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0)));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const exp = Number(expText);
  if (!timingSafeEqual(mac, await tokenMac(secret, userId, exp))) return { ok: false, reason: "forged" };
  if (exp * 1000 <= now) return { ok: false, reason: "expired" };
  return { ok: true, userId };
}

/** UTC day `YYYY-MM-DD` of `ms`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * The day's pseudonym of a visitor: HMAC(salt of the day, address + agent), where the salt is itself
 * derived from the pepper and the day. Nothing here is stored but the result.
 */
export async function visitorHash(secret: string, day: string, ip: string, userAgent: string): Promise<string> {
  const salt = await hmacBase64url(secret, `track-salt:${day}`);
  return (await hmacBase64url(salt, `${ip}\n${userAgent}`)).slice(0, 32);
}

/**
 * Crawlers, previewers and automation by their user agent. Headless browsers announce themselves
 * (HeadlessChrome, PhantomJS); `navigator.webdriver` is invisible to a server, so the agent is all
 * there is. Generic words (bot, crawl, spider) catch the long tail.
 */
const BOT_AGENT =
  /bot\b|bot\/|crawl|spider|slurp|archiver|facebookexternalhit|embedly|quora link preview|whatsapp|telegram|skypeuripreview|headlesschrome|phantomjs|puppeteer|playwright|selenium|lighthouse|pagespeed|python-requests|python-urllib|aiohttp|curl\/|wget\/|go-http-client|okhttp|java\/|libwww|httpclient|node-fetch|axios\/|scrapy/i;

export type Device = "mobile" | "tablet" | "desktop" | "bot";

export interface VisitorTraits {
  bot: boolean;
  device: Device;
}

/**
 * Bot or not, and the device class. `verifiedBot`: Cloudflare's `request.cf.verifiedBot` /
 * `botManagement.verifiedBot`, or the `Cf-Verified-Bot` header a zone rule may add.
 */
export function visitorTraits(userAgent: string, verifiedBot: boolean): VisitorTraits {
  if (verifiedBot || userAgent.trim() === "" || BOT_AGENT.test(userAgent)) return { bot: true, device: "bot" };
  if (/ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))/i.test(userAgent))
    return { bot: false, device: "tablet" };
  if (/mobi|iphone|ipod|android|windows phone|opera mini/i.test(userAgent)) return { bot: false, device: "mobile" };
  return { bot: false, device: "desktop" };
}

/** The host of a referrer URL (lowercase, at most 253 characters), or null; path and query are dropped. */
export function referrerHost(referrer: string | null | undefined): string | null {
  if (!referrer) return null;
  try {
    const url = new URL(referrer);
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return url.hostname.slice(0, 253) || null;
  } catch {
    return null;
  }
}

export interface TrackEvent {
  userId: string;
  kind: "visit" | "click";
  linkId: string | null;
  visitorHash: string;
  device: Device;
  country: string | null;
  referrerHost: string | null;
  bot: boolean;
  at: number;
}

/** Waits after failed inserts (ms): three quick retries inside the request, then a dead letter. */
export const TRACK_RETRY: RetrySchedule = { delays: [50, 200, 800], jitterRatio: 0.5, afterLast: "give-up" };

function insertStatement(db: D1Database, event: TrackEvent): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO track_events (user_id, kind, link_id, day, visitor_hash, device, country, referrer_host, bot, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .bind(
      event.userId,
      event.kind,
      event.linkId,
      utcDay(event.at),
      event.visitorHash,
      event.device,
      event.country,
      event.referrerHost,
      event.bot ? 1 : 0,
      event.at,
    );
}

export interface RecordOptions {
  /** Waits between attempts; tests pass one that does not sleep. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * Stores one event, retrying on failure by TRACK_RETRY; when every attempt failed the event is parked
 * in dead_letters (source `track-event`, the whole event as payload, no address in it) and an error
 * is logged. Answers whether the event was stored.
 */
export async function recordTrackEvent(
  db: D1Database,
  event: TrackEvent,
  options: RecordOptions = {},
): Promise<boolean> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let lastError: unknown;
  for (let failures = 0; ; failures += 1) {
    if (failures > 0) {
      const wait = backoffDelay(TRACK_RETRY, failures, options.random);
      if (wait === null) break;
      await sleep(wait);
    }
    try {
      await insertStatement(db, event).run();
      return true;
    } catch (error) {
      lastError = error;
    }
  }
  const refId = `${event.userId}:${event.kind}:${event.at}:${event.visitorHash.slice(0, 8)}`;
  try {
    await deadLetterStatement(
      db,
      { source: "track-event", refId, reason: String(lastError), payload: { ...event } },
      Date.now(),
    ).run();
    log("error", "track event not stored: dead-lettered", { refId, error: lastError });
  } catch (deadLetterError) {
    // D1 refuses even the dead letter: the log line is the last record (with the event, no address).
    log("error", "track event lost: not stored and not dead-lettered", { event, error: lastError, deadLetterError });
  }
  return false;
}

/** Whether `userId` has a public profile (an active handle). */
export async function isPublicProfile(db: D1Database, userId: string): Promise<boolean> {
  const row = await db
    .prepare("SELECT 1 AS yes FROM handles WHERE user_id = ? AND state = 'active'")
    .bind(userId)
    .first<{ yes: number }>();
  return row !== null;
}

/** An active link of a public profile (its owner and URL), or null. */
export async function trackableLink(db: D1Database, linkId: string): Promise<{ userId: string; url: string } | null> {
  return db
    .prepare(
      `SELECT l.user_id AS userId, l.url FROM links l
       WHERE l.id = ? AND l.state = 'active'
         AND EXISTS (SELECT 1 FROM handles h WHERE h.user_id = l.user_id AND h.state = 'active')`,
    )
    .bind(linkId)
    .first<{ userId: string; url: string }>();
}

/**
 * Replay of a `track-event` dead letter (the admin's replay, src/features/admin): the event inserted
 * from the letter's payload and its creator-day rolled up again, in the replay's batch and only for
 * the replay `mark` (the letter whose replayed_at it just set). The ref is
 * `<user>:<kind>:<ms>:<hash prefix>`, so the day to roll up is known without reading the payload.
 */
export function replayTrackEventStatements(
  db: D1Database,
  refId: string,
  mark: { deadLetterId: string; at: number },
): D1PreparedStatement[] {
  const [userId = "", , at = "0"] = refId.split(":");
  const p = (field: string) => `json_extract(d.payload, '$.${field}')`;
  return [
    db
      .prepare(
        `INSERT INTO track_events (user_id, kind, link_id, day, visitor_hash, device, country, referrer_host, bot, created_at)
         SELECT ${p("userId")}, ${p("kind")}, (SELECT id FROM links WHERE id = ${p("linkId")}),
                strftime('%Y-%m-%d', ${p("at")} / 1000, 'unixepoch'), ${p("visitorHash")}, ${p("device")},
                ${p("country")}, ${p("referrerHost")}, CASE WHEN ${p("bot")} THEN 1 ELSE 0 END, ${p("at")}
         FROM dead_letters d
         WHERE d.id = ? AND d.replayed_at = ? AND d.source = 'track-event'
           AND EXISTS (SELECT 1 FROM users WHERE id = ${p("userId")})`,
      )
      .bind(mark.deadLetterId, mark.at),
    ...rollupStatements(db, userId, utcDay(Number(at))),
  ];
}
