/** Event fixtures: a host with a published event, buyers with tokens. */
import { env } from "cloudflare:workers";
import { call, freshIp } from "../../helpers";
import { bearer, createUser, login } from "../auth/helpers";

export const HOUR = 3600 * 1000;
export const DAY = 24 * HOUR;

export function eventBody(overrides: Record<string, unknown> = {}) {
  const start = Date.now() + 7 * DAY;
  return {
    title: "Rooftop Jazz",
    description: "<p>Bring a <b>jacket</b>.</p>",
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(start + 3 * HOUR).toISOString(),
    timezone: "Europe/Amsterdam",
    venue: { name: "De Kade", address: "Kade 1, Amsterdam", lat: 52.37, lng: 4.89 },
    capacity: 50,
    price: 0,
    currency: "EUR",
    ...overrides,
  };
}

export async function hostWithToken() {
  const host = await createUser({ roles: ["attendee", "host"] });
  const { accessToken } = await login(host.email);
  return { ...host, token: accessToken };
}

export async function createEvent(token: string, overrides: Record<string, unknown> = {}, publish = true) {
  const res = await call("/api/v1/events", {
    method: "POST",
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify(eventBody(overrides)),
  });
  if (res.status !== 201) throw new Error(`create event: ${res.status} ${await res.text()}`);
  let event = (await res.json()) as { id: string; version: number; status: string };
  if (publish) {
    const pub = await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(token) });
    if (pub.status !== 200) throw new Error(`publish: ${pub.status} ${await pub.text()}`);
    event = (await pub.json()) as typeof event;
  }
  return event;
}

/** Creates `count` users with session tokens, directly (fixtures may skip sign-up). */
export async function buyers(count: number) {
  const users = await Promise.all(Array.from({ length: count }, () => createUser()));
  const now = Date.now();
  const { signAccessToken } = await import("../../../src/features/auth/tokens");
  const { getConfig } = await import("../../../src/config");
  const config = getConfig(env);
  // Sessions written directly: signing in 1,000 users through scrypt would dominate the test time.
  const statements = [];
  const result = [];
  for (const user of users) {
    const sid = crypto.randomUUID();
    statements.push(
      env.DB.prepare(
        "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'password', ?, ?, ?)",
      ).bind(sid, user.id, now, now, now + DAY),
    );
    result.push({ ...user, token: await signAccessToken(config.jwtKeys, { sub: user.id, sid, epoch: 0 }) });
  }
  for (let i = 0; i < statements.length; i += 100) await env.DB.batch(statements.slice(i, i + 100));
  return result;
}

export function order(eventId: string, token: string, quantity = 1, headers: Record<string, string> = {}) {
  return call(`/api/v1/events/${eventId}/orders`, {
    method: "POST",
    ip: freshIp(),
    headers: { ...bearer(token), "Content-Type": "application/json", ...headers },
    body: JSON.stringify({ quantity }),
  });
}
