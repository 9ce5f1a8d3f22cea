/** Fixtures for the tracking and analytics tests: public creators, their links, tokens and requests. */
import { env } from "cloudflare:workers";
import { getConfig } from "../../../src/config";
import { createLink } from "../../../src/features/creators/links";
import { mintTrackingToken } from "../../../src/features/creators/tracking";
import { call, freshIp } from "../../helpers";
import { buyers } from "../events/helpers";

export const PHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
export const DESKTOP =
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
export const HEADLESS =
  "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36";
export const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

export const pepper = () => getConfig(env).hashPepper;

/** A user with an active handle (a public profile) and an access token. */
export async function publicCreator(options: { public?: boolean } = {}) {
  const [user] = await buyers(1);
  if (!user) throw new Error("no user");
  if (options.public !== false) {
    await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
      .bind(`c${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`, user.id, Date.now())
      .run();
  }
  return user;
}

export async function linkOf(userId: string, url = "https://shop.example/item") {
  return createLink(env.DB, userId, { title: "Shop", url });
}

export function tokenFor(userId: string, now = Date.now()) {
  return mintTrackingToken(pepper(), userId, now);
}

export function visit(
  token: string | undefined,
  options: { ua?: string; ip?: string; referrer?: string; headers?: Record<string, string> } = {},
) {
  return call("/api/v1/track/visit", {
    method: "POST",
    ip: options.ip ?? freshIp(),
    headers: { "Content-Type": "application/json", "User-Agent": options.ua ?? PHONE, ...options.headers },
    body: JSON.stringify({ token, ...(options.referrer ? { referrer: options.referrer } : {}) }),
  });
}

export function click(linkId: string, token: string | undefined, options: { ua?: string; ip?: string } = {}) {
  return call(`/l/${linkId}${token === undefined ? "" : `?t=${encodeURIComponent(token)}`}`, {
    ip: options.ip ?? freshIp(),
    redirect: "manual",
    headers: { "User-Agent": options.ua ?? DESKTOP, Accept: "text/html" },
  });
}
