/**
 * GET /api/v1/tickets/:id/qr: a fresh short-lived signed token for the ticket's holder only, as
 * JSON or as an SVG QR code that encodes exactly that token. Someone else's ticket is a 404 that
 * looks exactly like a missing one.
 */
import { env } from "cloudflare:workers";
import { encode } from "uqr";
import { describe, expect, it } from "vitest";
import { QR_OPTIONS } from "../../../src/features/gate/qr";
import { signTicketToken, verifyTicketToken } from "../../../src/features/gate/token";
import { call, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers } from "../events/helpers";
import { deviceAuth, gateEvent, issueTickets, qrToken, registerDevice, scan, scanBody, testKeyRing } from "./helpers";

const qr = (ticketId: string, headers: Record<string, string>, query = "") =>
  call(`/api/v1/tickets/${ticketId}/qr${query}`, { headers });

/** Reads the dark modules back out of the SVG's path (one `M x,y h… v… h… z` square per module). */
function modulesOf(svg: string, size: number, pixel: number): boolean[][] {
  const grid = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  const d = /<path[^>]* d="([^"]*)"/.exec(svg)?.[1] ?? "";
  for (const m of d.matchAll(/M(\d+),(\d+)h/g)) {
    const row = grid[Number(m[2]) / pixel] as boolean[];
    row[Number(m[1]) / pixel] = true;
  }
  return grid;
}

describe("GET /api/v1/tickets/:id/qr", () => {
  it("gives the holder a signed token for this ticket and event, valid 5 minutes, never cached", async () => {
    const { event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const before = Date.now();
    const res = await qr(ticket.id, bearer(ticket.holder.token));
    expect(res.status).toBe(200);
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const body = (await res.json()) as { token: string; ticketId: string; issuedAt: string; expiresAt: string };
    expect(body.ticketId).toBe(ticket.id);
    expect(body.token.length).toBeLessThanOrEqual(200);
    expect(Date.parse(body.issuedAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(Date.parse(body.expiresAt) - Date.parse(body.issuedAt)).toBe(300_000);

    const { verifiers } = await testKeyRing();
    const verdict = await verifyTicketToken(verifiers, body.token, { at: Date.now(), skewSeconds: 30 });
    expect(verdict).toMatchObject({ ok: true, ticketId: ticket.id, expiresAt: Date.parse(body.expiresAt) });
  });

  it("?format=svg returns an SVG QR code that encodes exactly the token, with a quiet zone, served inert", async () => {
    const { event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const res = await qr(ticket.id, bearer(ticket.holder.token), "?format=svg");
    expect(res.status).toBe(200);
    expect(res.headers.get("Content-Type")).toBe("image/svg+xml; charset=utf-8");
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Content-Security-Policy")).toContain("default-src 'none'");
    const svg = await res.text();
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(svg).not.toMatch(/<script|on\w+=/i);

    // Ed25519 signatures are deterministic: the same claims under the same key give the same token.
    // Re-derive it from the expiry header and compare the image module by module with uqr's matrix.
    const expiresAt = res.headers.get("X-Ticket-Token-Expires-At");
    expect(expiresAt).not.toBeNull();
    const { signer } = await testKeyRing();
    const expires = Date.parse(expiresAt as string);
    const token = await signTicketToken(signer, {
      ticketId: ticket.id,
      eventId: event.id,
      issuedAt: expires - 300_000,
      expiresAt: expires,
    });
    const expected = encode(token, QR_OPTIONS);
    expect(expected.size).toBeLessThanOrEqual(57 + 2 * QR_OPTIONS.border);
    expect(modulesOf(svg, expected.size, QR_OPTIONS.pixelSize)).toEqual(expected.data);
    // Quiet zone: the 4-module border is empty.
    expect(expected.data[3]?.every((dark) => !dark)).toBe(true);
  });

  it("someone else's ticket answers 404 exactly like a missing one; anonymous 401; a device 401", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const [intruder] = await buyers(1);
    if (!intruder) throw new Error("no buyer");
    const device = await registerDevice(event.id, host.token);
    const shape = (p: Record<string, unknown>) => ({
      type: p.type,
      title: p.title,
      status: p.status,
      detail: p.detail,
    });

    const missing = await qr("AAAAAAAAAAAAAAAAAAAAAA", bearer(intruder.token));
    const other = await qr(ticket.id, bearer(intruder.token));
    const otherSvg = await qr(ticket.id, bearer(intruder.token), "?format=svg");
    const byHost = await qr(ticket.id, bearer(host.token));
    for (const res of [missing, other, otherSvg, byHost]) expect(res.status).toBe(404);
    const expected = shape(await problemOf(missing));
    for (const res of [other, otherSvg, byHost]) expect(shape(await problemOf(res))).toEqual(expected);
    expect((await qr(ticket.id, {})).status).toBe(401);
    expect((await qr(ticket.id, deviceAuth(device.token))).status).toBe(401);
  });

  it("a void or already used ticket answers 409 not-active", async () => {
    const { host, event } = await gateEvent();
    const tickets = await issueTickets(event.id, 2, 1);
    const [used, voided] = tickets as [(typeof tickets)[0], (typeof tickets)[0]];
    const device = await registerDevice(event.id, host.token);
    expect((await scanBody(await scan(device.token, await qrToken(used.id, used.holder.token)))).result).toBe(
      "admitted",
    );
    await env.EVENT_INVENTORY.getByName(event.id).sync();
    const order = await env.DB.prepare("SELECT order_id FROM tickets WHERE id = ?")
      .bind(voided.id)
      .first<{ order_id: string }>();
    await call(`/api/v1/orders/${order?.order_id}/cancel`, { method: "POST", headers: bearer(voided.holder.token) });

    for (const t of [used, voided]) {
      const res = await qr(t.id, bearer(t.holder.token));
      expect(res.status).toBe(409);
      expect((await problemOf(res)).type).toMatch(/\/not-active$/);
    }
  });
});
