/**
 * POST /api/v1/scan: every result, decided by the event's inventory object, and what it stored:
 * the scan log, the redemption, and the D1 read model that follows through the outbox.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signTicketToken } from "../../../src/features/gate/token";
import { call, problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { objectRows } from "../../support/db";
import { bearer } from "../auth/helpers";
import { DAY } from "../events/helpers";
import {
  gateEvent,
  HOUR,
  inventory,
  issueTickets,
  qrToken,
  registerDevice,
  type ScanLogRow,
  scan,
  scanBody,
  testKeyRing,
} from "./helpers";

const scanLog = (eventId: string) => objectRows<ScanLogRow>(eventId, "SELECT * FROM gate_scans ORDER BY id");

describe("POST /api/v1/scan", () => {
  it("admits a valid code once: the object records the redemption with time and device, and D1 follows", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token, "steward", "North 1");
    const token = await qrToken(ticket.id, ticket.holder.token);
    expect(token.length).toBeLessThanOrEqual(200);

    const before = Date.now();
    const answer = await scanBody(await scan(device.token, token, "nonce-admit-1"));
    expect(answer).toMatchObject({
      result: "admitted",
      nonce: "nonce-admit-1",
      ticket: { id: ticket.id, serial: 1, status: "redeemed" },
    });
    const at = Date.parse(answer.scannedAt);
    expect(at).toBeGreaterThanOrEqual(before - 1);

    expect(await objectRows(event.id, "SELECT ticket_id, device_id, at, mode FROM gate_redemptions")).toEqual([
      { ticket_id: ticket.id, device_id: device.deviceId, at, mode: "online" },
    ]);
    expect(await scanLog(event.id)).toEqual([
      expect.objectContaining({
        ticket_id: ticket.id,
        device_id: device.deviceId,
        nonce: "nonce-admit-1",
        result: "admitted",
        mode: "online",
      }),
    ]);
    expect(await inventory(event.id).stats()).toMatchObject({ sold: 1, checkedIn: 1 });

    await inventory(event.id).sync();
    const projected = await env.DB.prepare("SELECT status, redeemed_at FROM tickets WHERE id = ?")
      .bind(ticket.id)
      .first();
    expect(projected).toEqual({ status: "redeemed", redeemed_at: at });
    const analytics = await call(`/api/v1/events/${event.id}/analytics`, { headers: bearer(host.token) });
    expect(await analytics.json()).toMatchObject({ ticketCount: 1, checkedInCount: 1, checkInRate: 1 });
    const mine = await call("/api/v1/me/tickets", { headers: bearer(ticket.holder.token) });
    expect(((await mine.json()) as { items: unknown[] }).items).toEqual([
      expect.objectContaining({ id: ticket.id, status: "redeemed", redeemedAt: new Date(at).toISOString() }),
    ]);
  });

  it("a burst of scans reaches the D1 read model on its own, shortly after (no further call needed)", async () => {
    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 5);
    const device = await registerDevice(event.id, host.token);
    const tokens = await Promise.all(tickets.map((t) => qrToken(t.id, t.holder.token)));
    const answers = await Promise.all(tokens.map(async (token) => scanBody(await scan(device.token, token))));
    expect(answers.map((a) => a.result)).toEqual(Array(5).fill("admitted"));
    const redeemedInD1 = async () =>
      (
        await env.DB.prepare("SELECT COUNT(*) AS n FROM tickets WHERE event_id = ? AND status = 'redeemed'")
          .bind(event.id)
          .first<{ n: number }>()
      )?.n;
    const deadline = Date.now() + 3000;
    while ((await redeemedInD1()) !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await redeemedInD1()).toBe(5);
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM outbox")).toEqual([{ n: 0 }]);
  });

  it("a second device scanning a redeemed ticket gets already_redeemed with the first scan's time and device", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const first = await registerDevice(event.id, host.token, "steward", "North 1");
    const second = await registerDevice(event.id, host.token, "steward", "South 2");
    const token = await qrToken(ticket.id, ticket.holder.token);

    const admitted = await scanBody(await scan(first.token, token));
    const again = await scanBody(await scan(second.token, token));
    expect(again).toMatchObject({
      result: "already_redeemed",
      ticket: { id: ticket.id, status: "redeemed" },
      firstScan: { at: admitted.scannedAt, deviceId: first.deviceId, deviceName: "North 1" },
    });
    expect((await scanLog(event.id)).map((r) => [r.device_id, r.result])).toEqual([
      [first.deviceId, "admitted"],
      [second.deviceId, "already_redeemed"],
    ]);
  });

  it("the same device re-reading within 10 s gets the same admission (repeat), after 10 s already_redeemed", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const token = await qrToken(ticket.id, ticket.holder.token);

    const now = Date.now();
    freezeClock(now);
    const admitted = await scanBody(await scan(device.token, token));
    setClock(now + 10_000);
    const repeat = await scanBody(await scan(device.token, token));
    expect(repeat).toMatchObject({
      result: "admitted",
      repeat: true,
      firstScan: { at: admitted.scannedAt, deviceId: device.deviceId },
      ticket: { id: ticket.id, status: "redeemed" },
    });
    setClock(now + 10_001);
    const later = await scanBody(await scan(device.token, token));
    expect(later).toMatchObject({
      result: "already_redeemed",
      firstScan: { at: admitted.scannedAt, deviceId: device.deviceId },
    });

    // One admission, three scans: the repeat is logged but is not a second check-in.
    expect((await scanLog(event.id)).map((r) => [r.result, r.is_repeat])).toEqual([
      ["admitted", 0],
      ["admitted", 1],
      ["already_redeemed", 0],
    ]);
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM gate_redemptions")).toEqual([{ n: 1 }]);
    expect((await inventory(event.id).stats()).checkedIn).toBe(1);
  });

  it("the same nonce gets the same answer and changes nothing, even from a later moment", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const token = await qrToken(ticket.id, ticket.holder.token);

    const [other] = await issueTickets(event.id, 1);
    if (!other) throw new Error("no ticket");
    const otherToken = await qrToken(other.id, other.holder.token);

    const first = await scanBody(await scan(device.token, token, "retry-nonce-1"));
    freezeClock(Date.now() + 60_000);
    const retried = await scanBody(await scan(device.token, token, "retry-nonce-1"));
    expect(retried).toMatchObject({ result: "admitted", scannedAt: first.scannedAt, replayed: true });
    expect(await scanLog(event.id)).toHaveLength(1);

    // The same nonce naming another ticket is never an admission.
    const misuse = await scanBody(await scan(device.token, otherToken, "retry-nonce-1"));
    expect(misuse.result).toBe("invalid");
    expect((await inventory(event.id).stats()).checkedIn).toBe(1);
  });

  it("a void ticket is not_active; a scan outside the check-in window is outside_window; both logged", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const token = await qrToken(ticket.id, ticket.holder.token);

    const order = await env.DB.prepare("SELECT order_id FROM tickets WHERE id = ?")
      .bind(ticket.id)
      .first<{ order_id: string }>();
    const cancelled = await call(`/api/v1/orders/${order?.order_id}/cancel`, {
      method: "POST",
      headers: bearer(ticket.holder.token),
    });
    expect(cancelled.status).toBe(200);
    expect(await scanBody(await scan(device.token, token))).toMatchObject({
      result: "not_active",
      ticket: { id: ticket.id, status: "void" },
    });

    // Check-in opens 2 h before the start: a week out, a fresh ticket is outside the window.
    const { host: host2, event: later } = await gateEvent({
      startsAt: new Date(Date.now() + 7 * DAY).toISOString(),
      endsAt: new Date(Date.now() + 7 * DAY + 3 * HOUR).toISOString(),
    });
    const [early] = await issueTickets(later.id, 1);
    if (!early) throw new Error("no ticket");
    const device2 = await registerDevice(later.id, host2.token);
    const outside = await scanBody(await scan(device2.token, await qrToken(early.id, early.holder.token)));
    expect(outside).toMatchObject({ result: "outside_window", ticket: { id: early.id, status: "active" } });
    expect((await scanLog(later.id)).map((r) => r.result)).toEqual(["outside_window"]);
    expect(await objectRows(later.id, "SELECT * FROM gate_redemptions")).toEqual([]);
    expect((await scanLog(event.id)).map((r) => r.result)).toEqual(["not_active"]);
  });

  it("the window's edges: admitted exactly at check-in opening, outside one millisecond before", async () => {
    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 2);
    const device = await registerDevice(event.id, host.token);
    const row = await env.DB.prepare("SELECT check_in_opens_at FROM events WHERE id = ?")
      .bind(event.id)
      .first<{ check_in_opens_at: number }>();
    const opens = row?.check_in_opens_at as number;
    const { signer } = await testKeyRing();
    const tokens = await Promise.all(
      tickets.map((t) =>
        signTicketToken(signer, {
          ticketId: t.id,
          eventId: event.id,
          issuedAt: opens - 60_000,
          expiresAt: opens + 60_000,
        }),
      ),
    );

    freezeClock(opens - 1);
    expect((await scanBody(await scan(device.token, tokens[0] as string))).result).toBe("outside_window");
    setClock(opens);
    expect((await scanBody(await scan(device.token, tokens[1] as string))).result).toBe("admitted");
  });

  it("a code for another event is wrong_event, logged in the scanning device's event, and redeems nothing", async () => {
    const { host, event } = await gateEvent();
    const { event: other } = await gateEvent();
    const [foreign] = await issueTickets(other.id, 1);
    if (!foreign) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);

    const answer = await scanBody(await scan(device.token, await qrToken(foreign.id, foreign.holder.token)));
    expect(answer).toEqual({ result: "wrong_event", nonce: answer.nonce, scannedAt: answer.scannedAt });
    expect((await scanLog(event.id)).map((r) => [r.ticket_id, r.result])).toEqual([[foreign.id, "wrong_event"]]);
    expect(await scanLog(other.id)).toEqual([]);
    expect((await inventory(other.id).stats()).checkedIn).toBe(0);
  });

  it("an expired code is expired_code; a forged one invalid; both logged without a ticket", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const ring = await testKeyRing();
    const now = Date.now();
    const expired = await signTicketToken(ring.signer, {
      ticketId: ticket.id,
      eventId: event.id,
      issuedAt: now - 10 * 60_000,
      expiresAt: now - 5 * 60_000,
    });
    expect((await scanBody(await scan(device.token, expired))).result).toBe("expired_code");
    expect((await scanBody(await scan(device.token, "not.a.token"))).result).toBe("invalid");
    expect((await scanLog(event.id)).map((r) => [r.ticket_id, r.result])).toEqual([
      [null, "expired_code"],
      [null, "invalid"],
    ]);
    expect((await inventory(event.id).stats()).checkedIn).toBe(0);
  });

  it("needs a device: no credential 401, a user's bearer token 401, a made-up device token 401", async () => {
    const { host } = await gateEvent();
    const body = JSON.stringify({ token: "a.b.c", nonce: "nonce-12345" });
    const headers = { "Content-Type": "application/json" };
    const none = await call("/api/v1/scan", { method: "POST", headers, body });
    const user = await call("/api/v1/scan", { method: "POST", headers: { ...headers, ...bearer(host.token) }, body });
    const madeUp = await call("/api/v1/scan", {
      method: "POST",
      headers: { ...headers, Authorization: "Device gdt_made-up-0123456789abcdef0123456789abcdef01234" },
      body,
    });
    for (const res of [none, user, madeUp]) {
      expect(res.status).toBe(401);
      expect((await problemOf(res)).type).toMatch(/\/unauthorized$/);
    }
  });
});
