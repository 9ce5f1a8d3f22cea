/**
 * Redemption under concurrency, through the real Worker: many devices scanning the same tickets at
 * once, and one device reading one code many times at once. The object decides; the tests check
 * every answer, what the object stored, and the D1 read model after the outbox push.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signTicketToken } from "../../../src/features/gate/token";
import { objectRows } from "../../support/db";
import { syncAll } from "../events/helpers";
import { gateEvent, inventory, issueTickets, registerDevice, scanBody, scanRaised, testKeyRing } from "./helpers";

async function tokensFor(eventId: string, ticketIds: readonly string[]) {
  const { signer } = await testKeyRing();
  const now = Date.now();
  return Promise.all(
    ticketIds.map((ticketId) =>
      signTicketToken(signer, { ticketId, eventId, issuedAt: now, expiresAt: now + 300_000 }),
    ),
  );
}

describe("redemption races", () => {
  it("8 devices scanning the same 500 tickets concurrently: each admitted exactly once, the other 7 already_redeemed with the first scan's time and device", async () => {
    const { host, event } = await gateEvent({ capacity: 500, perUserLimit: 100 });
    const tickets = await issueTickets(event.id, 500);
    const devices = await Promise.all(
      Array.from({ length: 8 }, (_, i) => registerDevice(event.id, host.token, "steward", `Gate ${i + 1}`)),
    );
    const tokens = await tokensFor(
      event.id,
      tickets.map((t) => t.id),
    );

    const started = Date.now();
    // Interleaved so every ticket is contended by all 8 devices at the same moment.
    const jobs = tokens.flatMap((token, t) => devices.map((device) => ({ t, device, token })));
    const answers = await Promise.all(
      jobs.map(async (job) => ({ ...job, answer: await scanBody(await scanRaised(job.device.token, job.token)) })),
    );
    console.log(`gate race: ${jobs.length} concurrent scans answered in ${Date.now() - started} ms`);

    const redemptions = await objectRows<{ ticket_id: string; device_id: string; at: number }>(
      event.id,
      "SELECT ticket_id, device_id, at FROM gate_redemptions",
    );
    const byTicket = new Map(redemptions.map((r) => [r.ticket_id, r]));
    expect(byTicket.size).toBe(500);
    for (const [t, ticket] of tickets.entries()) {
      const mine = answers.filter((a) => a.t === t);
      const admitted = mine.filter((a) => a.answer.result === "admitted");
      expect(admitted, `ticket ${t}`).toHaveLength(1);
      const winner = admitted[0] as (typeof mine)[number];
      const stored = byTicket.get(ticket.id);
      expect(stored).toEqual({
        ticket_id: ticket.id,
        device_id: winner.device.deviceId,
        at: Date.parse(winner.answer.scannedAt),
      });
      for (const loser of mine.filter((a) => a !== winner)) {
        expect(loser.answer).toMatchObject({
          result: "already_redeemed",
          firstScan: { at: winner.answer.scannedAt, deviceId: winner.device.deviceId, deviceName: winner.device.name },
        });
      }
    }
    expect(
      await objectRows(event.id, "SELECT result, COUNT(*) AS n FROM gate_scans GROUP BY result ORDER BY result"),
    ).toEqual([
      { result: "admitted", n: 500 },
      { result: "already_redeemed", n: 3500 },
    ]);
    expect(await inventory(event.id).stats()).toMatchObject({ sold: 500, checkedIn: 500 });

    // 500 admissions: more than one push sends (LIMITS.inventoryDrainMaxBatches).
    expect(await syncAll(event.id)).toEqual({ pending: 0 });
    const projected = await env.DB.prepare("SELECT id, status, redeemed_at FROM tickets WHERE event_id = ?")
      .bind(event.id)
      .all<{ id: string; status: string; redeemed_at: number }>();
    expect(projected.results).toHaveLength(500);
    for (const row of projected.results) {
      expect(row).toEqual({ id: row.id, status: "redeemed", redeemed_at: byTicket.get(row.id)?.at });
    }
  }, 60_000);

  it("one device reading one code 12 times at once: one admission, 11 repeats of it, no alarm", async () => {
    const { host, event } = await gateEvent();
    const [ticket] = await issueTickets(event.id, 1);
    if (!ticket) throw new Error("no ticket");
    const device = await registerDevice(event.id, host.token);
    const [token] = await tokensFor(event.id, [ticket.id]);

    const answers = await Promise.all(
      Array.from({ length: 12 }, () => scanRaised(device.token, token as string).then(scanBody)),
    );
    const fresh = answers.filter((a) => a.result === "admitted" && !a.repeat);
    const repeats = answers.filter((a) => a.result === "admitted" && a.repeat);
    expect(fresh).toHaveLength(1);
    expect(repeats).toHaveLength(11);
    for (const r of repeats) expect(r.firstScan).toMatchObject({ at: fresh[0]?.scannedAt, deviceId: device.deviceId });
    expect(await objectRows(event.id, "SELECT COUNT(*) AS n FROM gate_redemptions")).toEqual([{ n: 1 }]);
    expect((await inventory(event.id).stats()).checkedIn).toBe(1);
  });
});
