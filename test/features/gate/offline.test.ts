/**
 * Offline operation: the manifest a device downloads, and scans uploaded later. The object applies
 * uploads in the devices' time order, idempotently per nonce; a ticket admitted twice is a conflict
 * (both scans kept, the earliest admission counts, counted in stats), never silently merged; so is
 * an admission of a ticket refunded while the device was offline.
 */
import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { signTicketToken } from "../../../src/features/gate/token";
import { call, problemOf } from "../../helpers";
import { objectRows } from "../../support/db";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { bearer } from "../auth/helpers";
import { HOUR } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { buyer, checkout, PRICE, paid, paidEvent } from "../payments/helpers";
import {
  deviceAuth,
  gateEvent,
  type Issued,
  inventory,
  issueTickets,
  qrToken,
  registerDevice,
  type ScanBody,
  type ScanLogRow,
  scan,
  scanBody,
  testKeyRing,
} from "./helpers";

const MINUTE = 60_000;

/** A token that was valid around `at` (the device checked it then, offline). */
async function tokenAt(eventId: string, ticketId: string, at: number, lifetime = 5 * MINUTE) {
  const { signer } = await testKeyRing();
  return signTicketToken(signer, { ticketId, eventId, issuedAt: at - MINUTE, expiresAt: at - MINUTE + lifetime });
}

interface Upload {
  token: string;
  nonce: string;
  scannedAt: number;
  deviceResult?: string;
}

async function upload(eventId: string, deviceToken: string, scans: Upload[]) {
  const res = await call(`/api/v1/events/${eventId}/scans`, {
    method: "POST",
    headers: { ...deviceAuth(deviceToken), "Content-Type": "application/json" },
    body: JSON.stringify({ scans: scans.map((s) => ({ ...s, scannedAt: new Date(s.scannedAt).toISOString() })) }),
  });
  if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
  return (await res.json()) as { results: ScanBody[]; conflicts: number };
}

const iso = (ms: number) => new Date(ms).toISOString();

async function gateStats(eventId: string, hostToken: string) {
  const res = await call(`/api/v1/events/${eventId}/gate/stats`, { headers: bearer(hostToken) });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    conflicts: number;
    checkedIn: number;
    offlineScans: number;
    scans: number;
    byResult: Record<string, number>;
  };
}

describe("offline scans", () => {
  it("a ticket admitted offline by two devices is a conflict: both kept, the earlier counts, in stats; re-uploading changes nothing", async () => {
    const { host, event } = await gateEvent();
    const [x, y] = (await issueTickets(event.id, 2)) as [Issued, Issued];
    const a = await registerDevice(event.id, host.token, "steward", "Door A");
    const b = await registerDevice(event.id, host.token, "steward", "Door B");
    const base = Date.now() - 30 * MINUTE;

    const first = await upload(event.id, a.token, [
      { token: await tokenAt(event.id, x.id, base), nonce: "a-0001-x", scannedAt: base },
    ]);
    expect(first.results).toEqual([
      expect.objectContaining({ result: "admitted", nonce: "a-0001-x", scannedAt: iso(base) }),
    ]);

    const batch = [
      { token: await tokenAt(event.id, x.id, base + MINUTE), nonce: "b-0001-x", scannedAt: base + MINUTE },
      { token: await tokenAt(event.id, y.id, base + 2 * MINUTE), nonce: "b-0002-y", scannedAt: base + 2 * MINUTE },
    ];
    const second = await upload(event.id, b.token, batch);
    expect(second.conflicts).toBe(1);
    expect(second.results[0]).toMatchObject({
      result: "already_redeemed",
      conflict: true,
      firstScan: { at: iso(base), deviceId: a.deviceId, deviceName: "Door A" },
    });
    expect(second.results[1]).toMatchObject({ result: "admitted", ticket: { id: y.id, status: "redeemed" } });

    // Both admissions of x are kept and flagged; the redemption is device A's.
    const log = await objectRows<ScanLogRow>(
      event.id,
      "SELECT * FROM gate_scans WHERE ticket_id = ? ORDER BY scanned_at",
      x.id,
    );
    expect(log.map((r) => [r.device_id, r.result, r.conflict, r.mode])).toEqual([
      [a.deviceId, "admitted", 1, "offline"],
      [b.deviceId, "already_redeemed", 1, "offline"],
    ]);
    expect(await objectRows(event.id, "SELECT device_id, at FROM gate_redemptions WHERE ticket_id = ?", x.id)).toEqual([
      { device_id: a.deviceId, at: base },
    ]);
    expect(await gateStats(event.id, host.token)).toMatchObject({
      conflicts: 1,
      checkedIn: 2,
      offlineScans: 3,
      scans: 3,
    });

    const again = await upload(event.id, b.token, batch);
    expect(again.results).toEqual(second.results.map((r) => ({ ...r, replayed: true })));
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM gate_scans")).toEqual([{ n: 3 }]);
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM outbox")).toEqual([{ n: 0 }]);
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 1, checkedIn: 2, scans: 3 });
  });

  it("an online scan whose refusal never reached the device, decided offline under its nonce as admitted: a conflict, flagged once", async () => {
    const { host, event } = await gateEvent();
    const [x] = (await issueTickets(event.id, 1)) as [Issued];
    const a = await registerDevice(event.id, host.token, "steward", "Door A");
    const b = await registerDevice(event.id, host.token, "steward", "Door B");
    const token = await tokenAt(event.id, x.id, Date.now());
    expect((await scanBody(await scan(a.token, token))).result).toBe("admitted");
    // A screenshot of the same code at another door: the object refuses it, but the answer is lost and
    // the scanner, its list still saying active, lets the holder in offline under the same nonce.
    const refused = await scanBody(await scan(b.token, token, "b-lost-0001"));
    expect(refused).toMatchObject({ result: "already_redeemed" });
    expect(refused.conflict).toBeUndefined();
    const lost = { token, nonce: "b-lost-0001", scannedAt: Date.now(), deviceResult: "admitted" };
    const synced = await upload(event.id, b.token, [lost]);
    expect(synced.conflicts).toBe(1);
    expect(synced.results[0]).toMatchObject({
      result: "already_redeemed",
      conflict: true,
      conflictWith: { deviceId: a.deviceId, deviceName: "Door A" },
    });
    expect(
      await objectRows(event.id, "SELECT device_id, mode, result, conflict, device_result FROM gate_scans ORDER BY id"),
    ).toEqual([
      { device_id: a.deviceId, mode: "online", result: "admitted", conflict: 1, device_result: null },
      { device_id: b.deviceId, mode: "online", result: "already_redeemed", conflict: 1, device_result: "admitted" },
    ]);
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 1, checkedIn: 1, scans: 2 });

    // Uploaded again: the same answer, nothing more recorded. A device that turned the holder away, as
    // told, is no conflict at all.
    expect((await upload(event.id, b.token, [lost])).results[0]).toMatchObject({
      result: "already_redeemed",
      conflict: true,
    });
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 1, scans: 2 });
    await scan(b.token, token, "b-kept-0002");
    const turnedAway = { token, nonce: "b-kept-0002", scannedAt: Date.now(), deviceResult: "already_redeemed" };
    expect((await upload(event.id, b.token, [turnedAway])).results[0]?.conflict).toBeUndefined();
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 1, scans: 3 });
  });

  it("an upload that arrives late but happened first takes the admission over, reported as a conflict; D1 follows", async () => {
    const { host, event } = await gateEvent();
    const [z] = (await issueTickets(event.id, 1)) as [Issued];
    const online = await registerDevice(event.id, host.token, "steward", "Online");
    const offline = await registerDevice(event.id, host.token, "steward", "Offline");
    const third = await registerDevice(event.id, host.token, "steward", "Third");

    const live = await scanBody(await scan(online.token, await qrToken(z.id, z.holder.token)));
    expect(live.result).toBe("admitted");
    const earlier = Date.now() - 20 * MINUTE;
    const late = await upload(event.id, offline.token, [
      { token: await tokenAt(event.id, z.id, earlier), nonce: "late-0001", scannedAt: earlier },
    ]);
    expect(late.results[0]).toMatchObject({
      result: "admitted",
      conflict: true,
      firstScan: { at: iso(earlier), deviceId: offline.deviceId },
      conflictWith: { at: live.scannedAt, deviceId: online.deviceId, deviceName: "Online" },
    });
    expect(await objectRows(event.id, "SELECT result, conflict FROM gate_scans ORDER BY id")).toEqual([
      { result: "admitted", conflict: 1 },
      { result: "admitted", conflict: 1 },
    ]);
    await inventory(event.id).sync();
    expect(await env.DB.prepare("SELECT status, redeemed_at FROM tickets WHERE id = ?").bind(z.id).first()).toEqual({
      status: "redeemed",
      redeemed_at: earlier,
    });
    const after = await scanBody(await scan(third.token, await tokenAt(event.id, z.id, Date.now())));
    expect(after).toMatchObject({
      result: "already_redeemed",
      firstScan: { at: iso(earlier), deviceId: offline.deviceId, deviceName: "Offline" },
    });
    expect((await inventory(event.id).stats()).checkedIn).toBe(1);
  });

  it("codes are checked as of the device's scan time; future or stale scan times, other events and the device's own refusals change nothing", async () => {
    const { host, event } = await gateEvent();
    const tickets = (await issueTickets(event.id, 6)) as { id: string }[];
    const { event: other } = await gateEvent();
    const [foreign] = (await issueTickets(other.id, 1)) as [Issued];
    const device = await registerDevice(event.id, host.token);
    const now = Date.now();
    const base = now - 30 * MINUTE;
    const t = (i: number) => (tickets[i] as { id: string }).id;

    const answers = await upload(event.id, device.token, [
      // Valid when scanned, long expired now.
      { token: await tokenAt(event.id, t(0), base), nonce: "time-0000", scannedAt: base },
      // Expired 2 minutes before it was scanned.
      { token: await tokenAt(event.id, t(1), base - 10 * MINUTE), nonce: "time-0001", scannedAt: base - 3 * MINUTE },
      // A scan time in the future.
      { token: await tokenAt(event.id, t(2), now + 5 * MINUTE), nonce: "time-0002", scannedAt: now + 5 * MINUTE },
      // Before check-in opened (an hour ago).
      { token: await tokenAt(event.id, t(3), now - 70 * MINUTE), nonce: "time-0003", scannedAt: now - 70 * MINUTE },
      { token: await tokenAt(other.id, foreign.id, base), nonce: "time-0004", scannedAt: base },
      // The device turned this holder away: recorded, nothing else.
      { token: await tokenAt(event.id, t(5), base), nonce: "time-0005", scannedAt: base, deviceResult: "expired_code" },
      // Older than the offline bound.
      {
        token: await tokenAt(event.id, t(4), now - LIMITS.gateOfflineMaxAgeMs - MINUTE),
        nonce: "time-0006",
        scannedAt: now - LIMITS.gateOfflineMaxAgeMs - MINUTE,
      },
    ]);
    expect(answers.results.map((r) => r.result)).toEqual([
      "admitted",
      "expired_code",
      "invalid",
      "outside_window",
      "wrong_event",
      "expired_code",
      "invalid",
    ]);
    expect(await objectRows(event.id, "SELECT ticket_id FROM gate_redemptions")).toEqual([{ ticket_id: t(0) }]);
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM gate_scans WHERE mode = 'offline'")).toEqual([
      { n: 7 },
    ]);
  });

  it("applies a batch in the device's time order: listed newest first, the earliest admits and a re-read 5 s later is the same admission", async () => {
    const { host, event } = await gateEvent();
    const [x] = (await issueTickets(event.id, 1)) as [Issued];
    const device = await registerDevice(event.id, host.token);
    const at = Date.now() - 10 * MINUTE;
    const token = await tokenAt(event.id, x.id, at);
    const answers = await upload(event.id, device.token, [
      { token, nonce: "order-0002", scannedAt: at + 5000 },
      { token, nonce: "order-0001", scannedAt: at },
    ]);
    expect(answers.results[0]).toMatchObject({ result: "admitted", repeat: true, firstScan: { at: iso(at) } });
    expect(answers.results[1]).toMatchObject({ result: "admitted", scannedAt: iso(at) });
    expect(answers.results[1]?.repeat).toBeUndefined();
    expect(answers.conflicts).toBe(0);
  });

  it("refuses a malformed upload: more than the batch limit, duplicate nonces", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const post = (scans: unknown[]) =>
      call(`/api/v1/events/${event.id}/scans`, {
        method: "POST",
        headers: { ...deviceAuth(device.token), "Content-Type": "application/json" },
        body: JSON.stringify({ scans }),
      });
    const one = (nonce: string) => ({ token: "x.y.z", nonce, scannedAt: new Date().toISOString() });
    const tooMany = await post(
      Array.from({ length: LIMITS.gateOfflineBatchMax + 1 }, (_, i) => one(`nonce-${String(i).padStart(4, "0")}`)),
    );
    expect(tooMany.status).toBe(400);
    const duplicates = await post([one("nonce-dup1"), one("nonce-dup1")]);
    expect(duplicates.status).toBe(400);
    expect((await problemOf(duplicates)).type).toMatch(/\/validation-failed$/);
  });
});

describe("offline scans of tickets refunded meanwhile", () => {
  let stripe: FakeStripe;
  beforeEach(() => {
    stripe = useFakeStripe();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("an admission uploaded after its ticket was refunded (or while the refund is in flight) is a conflict, in the upload and in stats; the refund stands", async () => {
    const h = new PaymentsHarness();
    const start = Date.now() + HOUR;
    const { host, event } = await paidEvent({
      startsAt: new Date(start).toISOString(),
      endsAt: new Date(start + 3 * HOUR).toISOString(),
    });
    const sold = [];
    for (let i = 0; i < 2; i++) {
      const who = await buyer();
      const { order, session } = await checkout(h, stripe, event.id, who.token);
      await h.webhook(paid(stripe, session.id));
      await h.drain();
      const current = await inventory(event.id).getOrder(order.id);
      sold.push({
        orderId: order.id,
        ticketId: current?.tickets[0]?.id as string,
        pi: current?.order.paymentRef as string,
      });
    }
    const [refunded, refunding] = sold as [(typeof sold)[0], (typeof sold)[0]];
    const device = await registerDevice(event.id, host.token, "steward", "Door C");
    const admittedAt = Date.now() - 10 * MINUTE;

    // While the device was offline: the host refunded one in Stripe's dashboard; the other's refund is under way.
    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(refunded.pi, PRICE)));
    await h.drain();
    expect((await inventory(event.id).reserveRefund({ orderId: refunding.orderId })).ok).toBe(true);

    const scans = [
      { token: await tokenAt(event.id, refunded.ticketId, admittedAt), nonce: "c-0001-r", scannedAt: admittedAt },
      { token: await tokenAt(event.id, refunding.ticketId, admittedAt), nonce: "c-0002-p", scannedAt: admittedAt + 1 },
    ];
    const synced = await upload(event.id, device.token, scans);
    expect(synced.conflicts).toBe(2);
    expect(synced.results).toEqual([
      expect.objectContaining({
        result: "not_active",
        conflict: true,
        ticket: expect.objectContaining({ id: refunded.ticketId, status: "void" }),
      }),
      expect.objectContaining({
        result: "refund_pending",
        conflict: true,
        ticket: expect.objectContaining({ id: refunding.ticketId, status: "refunding" }),
      }),
    ]);
    expect(
      await objectRows(event.id, "SELECT ticket_id, result, conflict, mode, device_result FROM gate_scans ORDER BY id"),
    ).toEqual([
      { ticket_id: refunded.ticketId, result: "not_active", conflict: 1, mode: "offline", device_result: "admitted" },
      {
        ticket_id: refunding.ticketId,
        result: "refund_pending",
        conflict: 1,
        mode: "offline",
        device_result: "admitted",
      },
    ]);
    // The refunds stand: no admission recorded, nothing checked in.
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM gate_redemptions")).toEqual([{ n: 0 }]);
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 2, checkedIn: 0, offlineScans: 2 });
    await inventory(event.id).sync();
    expect(
      (await env.DB.prepare("SELECT id, status FROM tickets WHERE event_id = ? ORDER BY serial").bind(event.id).all())
        .results,
    ).toEqual([
      { id: refunded.ticketId, status: "void" },
      { id: refunding.ticketId, status: "refunding" },
    ]);

    // Uploading again answers the same and records nothing more.
    const again = await upload(event.id, device.token, scans);
    expect(again.results).toEqual(synced.results.map((r) => ({ ...r, replayed: true })));
    expect(await gateStats(event.id, host.token)).toMatchObject({ conflicts: 2, scans: 2 });
  });
});

describe("GET /api/v1/events/:id/manifest", () => {
  it("lists every ticket's id, status and redemption time with the event reference and the keys, and nothing personal", async () => {
    const { host, event } = await gateEvent();
    const tickets = (await issueTickets(event.id, 3, 1)) as { id: string; holder: { id: string; token: string } }[];
    const device = await registerDevice(event.id, host.token);
    const [a, b, c] = tickets as [(typeof tickets)[0], (typeof tickets)[0], (typeof tickets)[0]];
    const token = await qrToken(a.id, a.holder.token);
    const admitted = await scanBody(await scan(device.token, token));
    const orderOfB = await env.DB.prepare("SELECT order_id FROM tickets WHERE id = ?")
      .bind(b.id)
      .first<{ order_id: string }>();
    await call(`/api/v1/orders/${orderOfB?.order_id}/cancel`, { method: "POST", headers: bearer(b.holder.token) });

    const res = await call(`/api/v1/events/${event.id}/manifest`, { headers: deviceAuth(device.token) });
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const manifest = (await res.json()) as Record<string, unknown> & {
      eventRef: string;
      tickets: unknown[];
      keys: { keys: unknown[] };
    };
    expect(manifest).toMatchObject({ eventId: event.id, eventStatus: "published", nextCursor: null });
    expect(manifest.tickets).toEqual([
      { id: a.id, serial: 1, status: "redeemed", redeemedAt: admitted.scannedAt },
      { id: b.id, serial: 2, status: "void", redeemedAt: null },
      { id: c.id, serial: 3, status: "active", redeemedAt: null },
    ]);
    // The event reference is what tokens carry (payload bytes 17–24), so a device can tell wrong_event offline.
    expect(base64url.encode(base64url.decode(token.split(".")[1] as string).subarray(17, 25))).toBe(manifest.eventRef);
    expect(manifest.keys.keys).toEqual([expect.objectContaining({ kty: "OKP", crv: "Ed25519", alg: "EdDSA" })]);
    const text = JSON.stringify(manifest);
    for (const t of tickets) expect(text).not.toContain(t.holder.id);
    expect(text).not.toMatch(/@|"d":/);

    const page = await call(`/api/v1/events/${event.id}/manifest?limit=2`, { headers: deviceAuth(device.token) });
    const first = (await page.json()) as { tickets: { id: string }[]; nextCursor: string };
    expect(first.tickets.map((t) => t.id)).toEqual([a.id, b.id]);
    const next = await call(`/api/v1/events/${event.id}/manifest?limit=2&cursor=${first.nextCursor}`, {
      headers: deviceAuth(device.token),
    });
    expect(((await next.json()) as { tickets: { id: string }[]; nextCursor: null }).tickets.map((t) => t.id)).toEqual([
      c.id,
    ]);
  });
});
