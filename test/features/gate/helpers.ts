/** Gate fixtures: an event whose check-in is open, its tickets, devices, QR tokens and scans. */
import { env } from "cloudflare:workers";
import { CompactSign } from "jose";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { ticketKeyRing } from "../../../src/features/gate/keys";
import { eventRef } from "../../../src/features/gate/token";
import { call, freshIp } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, HOUR, hostWithToken, inventory, order } from "../events/helpers";

export { HOUR };

/** The Worker with scanner limits raised, so load tests measure the gate, not the limiter. */
export const raisedEnv = {
  ...env,
  RATE_LIMITS: JSON.stringify({ scanner: { limit: 1_000_000, windowSeconds: 1 } }),
};
const raisedApp = createApp();

/** A published free event starting in an hour: check-in opened an hour ago (doors: start − 2 h). */
export async function gateEvent(overrides: Record<string, unknown> = {}) {
  const host = await hostWithToken();
  const start = Date.now() + HOUR;
  const event = await createEvent(host.token, {
    startsAt: new Date(start).toISOString(),
    endsAt: new Date(start + 3 * HOUR).toISOString(),
    capacity: 100,
    perUserLimit: 100,
    ...overrides,
  });
  return { host, event };
}

export interface Holder {
  id: string;
  token: string;
}

export interface Issued {
  id: string;
  holder: Holder;
}

/** `count` tickets of the event, claimed over HTTP by as few buyers as the per-user limit allows. */
export async function issueTickets(eventId: string, count: number, perBuyer = 100) {
  const people = await buyers(Math.ceil(count / perBuyer));
  const tickets: Issued[] = [];
  let left = count;
  for (const person of people) {
    const quantity = Math.min(perBuyer, left);
    const res = await order(eventId, person.token, quantity);
    if (res.status !== 201) throw new Error(`order: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { tickets: { id: string }[] };
    for (const t of body.tickets) tickets.push({ id: t.id, holder: { id: person.id, token: person.token } });
    left -= quantity;
  }
  return tickets;
}

export async function registerDevice(
  eventId: string,
  hostToken: string,
  role: "steward" | "supervisor" = "steward",
  name = `Gate ${crypto.randomUUID().slice(0, 4)}`,
) {
  const res = await call(`/api/v1/events/${eventId}/devices`, {
    method: "POST",
    headers: { ...bearer(hostToken), "Content-Type": "application/json" },
    body: JSON.stringify({ name, role }),
  });
  if (res.status !== 201) throw new Error(`register device: ${res.status} ${await res.text()}`);
  return (await res.json()) as { deviceId: string; token: string; name: string; role: string; eventId: string };
}

export const deviceAuth = (token: string) => ({ Authorization: `Device ${token}` });

export async function qrToken(ticketId: string, userToken: string): Promise<string> {
  const res = await call(`/api/v1/tickets/${ticketId}/qr`, { headers: bearer(userToken) });
  if (res.status !== 200) throw new Error(`qr: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export interface ScanBody {
  result: string;
  nonce: string;
  scannedAt: string;
  ticket?: { id: string; serial: number; status: string };
  firstScan?: { at: string; deviceId: string; deviceName: string | null };
  repeat?: boolean;
  replayed?: boolean;
  conflict?: boolean;
  conflictWith?: { at: string; deviceId: string; deviceName: string | null };
}

/** POST /api/v1/scan through the real entry (default limits). */
export function scan(deviceToken: string, token: string, nonce: string = crypto.randomUUID()) {
  return call("/api/v1/scan", {
    method: "POST",
    headers: { ...deviceAuth(deviceToken), "Content-Type": "application/json" },
    body: JSON.stringify({ token, nonce }),
  });
}

/** POST /api/v1/scan with the scanner limit raised (many scans per device per second). */
export async function scanRaised(
  deviceToken: string,
  token: string,
  nonce: string = crypto.randomUUID(),
): Promise<Response> {
  return raisedApp.request(
    "/api/v1/scan",
    {
      method: "POST",
      headers: { ...deviceAuth(deviceToken), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ token, nonce }),
    },
    raisedEnv,
  );
}

export async function scanBody(res: Response): Promise<ScanBody> {
  if (res.status !== 200) throw new Error(`scan: ${res.status} ${await res.text()}`);
  return (await res.json()) as ScanBody;
}

/** The key ring the test Worker signs with (generated per isolate: no TICKET_SIGNING_KEYS in tests). */
export function testKeyRing() {
  return ticketKeyRing(getConfig(env));
}

/** Hand-built token bytes (see src/features/gate/token.ts), signed by `key` under `kid`. */
export async function rawToken(
  key: CryptoKey,
  kid: string,
  claims: { ticketId: string; eventId: string; iat: number; exp: number; type?: number },
  header: Record<string, unknown> = {},
): Promise<string> {
  const payload = new Uint8Array(33);
  const view = new DataView(payload.buffer);
  payload[0] = claims.type ?? 1;
  const id = Uint8Array.from(atob(claims.ticketId.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
  payload.set(id, 1);
  const ref = await eventRef(claims.eventId);
  payload.set(
    Uint8Array.from(atob(ref.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0)),
    17,
  );
  view.setUint32(25, Math.floor(claims.iat / 1000));
  view.setUint32(29, Math.floor(claims.exp / 1000));
  return new CompactSign(payload).setProtectedHeader({ alg: "EdDSA", kid, ...header }).sign(key);
}

/** Rows of the object's scan log. */
export interface ScanLogRow {
  ticket_id: string | null;
  device_id: string;
  nonce: string | null;
  scanned_at: number;
  mode: string;
  result: string;
  is_repeat: number;
  conflict: number;
}

export { inventory };
