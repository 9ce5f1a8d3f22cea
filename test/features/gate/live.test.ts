/**
 * GET /api/v1/events/:id/live: a WebSocket served by the event's inventory object on the
 * Hibernation API, pushing { sold, held, remaining, checkedIn } after sales and scans, coalesced;
 * host or supervisor device only.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ACCESS_COOKIE } from "../../../src/features/auth/authenticators";
import { signTicketToken } from "../../../src/features/gate/token";
import { call, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, hostWithToken, order } from "../events/helpers";
import {
  deviceAuth,
  gateEvent,
  inventory,
  issueTickets,
  qrToken,
  registerDevice,
  scan,
  scanBody,
  scanRaised,
  testKeyRing,
} from "./helpers";

interface Counts {
  type: string;
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  checkedIn: number;
  conflicts: number;
}

/** Opens the live socket and collects its messages. */
async function openLive(eventId: string, headers: Record<string, string>) {
  const res = await call(`/api/v1/events/${eventId}/live`, { headers: { Upgrade: "websocket", ...headers } });
  if (res.status !== 101 || !res.webSocket) throw new Error(`live: ${res.status} ${await res.text()}`);
  const ws = res.webSocket;
  const messages: Counts[] = [];
  const waiters: (() => void)[] = [];
  let closed: { code: number; reason: string } | null = null;
  ws.addEventListener("message", (event) => {
    messages.push(JSON.parse(event.data as string) as Counts);
    for (const w of waiters.splice(0)) w();
  });
  ws.addEventListener("close", (event) => {
    closed = { code: event.code, reason: event.reason };
    for (const w of waiters.splice(0)) w();
  });
  ws.accept();
  /** Resolves once `predicate` holds for the messages received so far (or rejects after 3 s). */
  const until = (predicate: (all: Counts[]) => boolean, what: string) =>
    new Promise<Counts[]>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(messages)}`)),
        3000,
      );
      const check = () => {
        if (predicate(messages)) {
          clearTimeout(timer);
          resolve(messages);
        } else waiters.push(check);
      };
      check();
    });
  const closing = () =>
    new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("socket not closed")), 3000);
      const check = () => {
        if (closed) {
          clearTimeout(timer);
          resolve(closed);
        } else waiters.push(check);
      };
      check();
    });
  return { ws, messages, until, closing, headers: res.headers };
}

const last = (all: Counts[]) => all[all.length - 1] as Counts;

describe("live counts", () => {
  it("the host's socket gets the counts at once, then an update after a sale and after a scan", async () => {
    const { host, event } = await gateEvent({ capacity: 10, perUserLimit: 1 });
    const device = await registerDevice(event.id, host.token);
    const live = await openLive(event.id, bearer(host.token));
    await live.until((m) => m.length >= 1, "the first message");
    expect(live.messages[0]).toEqual({
      type: "counts",
      capacity: 10,
      sold: 0,
      held: 0,
      remaining: 10,
      checkedIn: 0,
      conflicts: 0,
    });

    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");
    const sold = await order(event.id, buyer.token);
    const ticketId = ((await sold.json()) as { tickets: { id: string }[] }).tickets[0]?.id as string;
    await live.until((m) => last(m).sold === 1, "the sale");
    expect(last(live.messages)).toMatchObject({ sold: 1, remaining: 9, checkedIn: 0 });

    expect((await scanBody(await scan(device.token, await qrToken(ticketId, buyer.token)))).result).toBe("admitted");
    await live.until((m) => last(m).checkedIn === 1, "the scan");
    expect(last(live.messages)).toMatchObject({ sold: 1, remaining: 9, checkedIn: 1 });

    // Held by the runtime through the Hibernation API (not an in-memory accept), tagged with its viewer.
    const tags = await runInDurableObject(inventory(event.id), (_instance, state) =>
      state.getWebSockets("live").map((ws) => state.getTags(ws)),
    );
    expect(tags).toEqual([["live", `user:${host.id}`]]);
    live.ws.close(1000, "done");
  });

  it("40 scans in quick succession are coalesced into a few messages, the last with every check-in", async () => {
    const { host, event } = await gateEvent({ capacity: 40, perUserLimit: 40 });
    const tickets = await issueTickets(event.id, 40, 40);
    const device = await registerDevice(event.id, host.token);
    const { signer } = await testKeyRing();
    const now = Date.now();
    const tokens = await Promise.all(
      tickets.map((t) =>
        signTicketToken(signer, { ticketId: t.id, eventId: event.id, issuedAt: now, expiresAt: now + 300_000 }),
      ),
    );
    const live = await openLive(event.id, bearer(host.token));
    await live.until((m) => m.length >= 1, "the first message");

    // One after another, as a busy gate does: 40 separate changes over a few hundred milliseconds.
    const started = Date.now();
    for (const token of tokens) expect((await scanBody(await scanRaised(device.token, token))).result).toBe("admitted");
    const elapsed = Date.now() - started;
    await live.until((m) => last(m).checkedIn === 40, "all check-ins");
    // At most one message per 250 ms (plus the leading one): a handful, not 40.
    expect(live.messages.length - 1).toBeLessThanOrEqual(Math.ceil(elapsed / 250) + 2);
    expect(live.messages.length - 1).toBeLessThan(20);
    expect(live.messages.map((m) => m.checkedIn)).toEqual(
      [...live.messages.map((m) => m.checkedIn)].sort((a, b) => a - b),
    );
    live.ws.close(1000, "done");
  });

  it("a supervisor device may watch; revoking it closes its socket at once", async () => {
    const { host, event } = await gateEvent();
    const supervisor = await registerDevice(event.id, host.token, "supervisor");
    const live = await openLive(event.id, deviceAuth(supervisor.token));
    await live.until((m) => m.length >= 1, "the first message");

    const revoked = await call(`/api/v1/events/${event.id}/devices/${supervisor.deviceId}`, {
      method: "DELETE",
      headers: bearer(host.token),
    });
    expect(revoked.status).toBe(204);
    expect(await live.closing()).toEqual({ code: 1008, reason: "access revoked" });
    const again = await call(`/api/v1/events/${event.id}/live`, {
      headers: { Upgrade: "websocket", ...deviceAuth(supervisor.token) },
    });
    expect(again.status).toBe(401);
  });

  it("refuses stewards (403), other hosts (403), another event's device (404), anonymous (401) and plain GET (426)", async () => {
    const { host, event } = await gateEvent();
    const { event: other, host: otherHost } = await gateEvent();
    const steward = await registerDevice(event.id, host.token, "steward");
    const foreignSupervisor = await registerDevice(other.id, otherHost.token, "supervisor");
    const stranger = await hostWithToken();
    const upgrade = { Upgrade: "websocket" };
    const cases: [Record<string, string>, number, string][] = [
      [{ ...upgrade, ...deviceAuth(steward.token) }, 403, "forbidden"],
      [{ ...upgrade, ...bearer(stranger.token) }, 403, "forbidden"],
      [{ ...upgrade, ...deviceAuth(foreignSupervisor.token) }, 404, "not-found"],
      [upgrade, 401, "unauthorized"],
      [bearer(host.token), 426, "upgrade-required"],
    ];
    for (const [headers, status, code] of cases) {
      const res = await call(`/api/v1/events/${event.id}/live`, { headers });
      expect(res.status, code).toBe(status);
      expect((await problemOf(res)).type).toMatch(new RegExp(`/${code}$`));
    }
  });

  it("a cookie-authenticated upgrade from a foreign origin is refused (cross-site WebSocket hijacking)", async () => {
    const { host, event } = await gateEvent();
    const cookie = { Cookie: `${ACCESS_COOKIE}=${host.token}`, Upgrade: "websocket" };
    const foreign = await call(`/api/v1/events/${event.id}/live`, {
      headers: { ...cookie, Origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    expect((await problemOf(foreign)).type).toMatch(/\/csrf-failed$/);
    const missing = await call(`/api/v1/events/${event.id}/live`, { headers: cookie });
    expect(missing.status).toBe(403);
    const own = await openLive(event.id, { ...cookie, Origin: "https://gatehouse.test" });
    await own.until((m) => m.length >= 1, "the first message");
    own.ws.close(1000, "done");
  });
});
