/**
 * scan: scanner devices at an open gate, each request a different ticket's QR token, through the
 * development-only gate fixture; the object's own counts after the run.
 */
import { waitForQuietLog } from "../server.mjs";

/**
 * scan: tickets (each scanned once by the measured run until they run out) and devices, from
 * POST /dev/fixtures/gate. The warm-up scans its own slice of the fixture's tickets, so the measured
 * run starts with unused ones.
 */
export const SCAN_TICKETS = 10_000;
export const SCAN_WARMUP_TICKETS = 2_000;
export const SCAN_DEVICES = 8;

/** POST /dev/fixtures/gate: an event with check-in open, `tickets` QR tokens and `devices` device tokens. */
async function gateFixture(base, tickets, devices) {
  const res = await fetch(`${base}/dev/fixtures/gate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ tickets, devices }),
  });
  if (res.status !== 201) {
    const text = await res.text();
    const hint = /restarted mid-request/.test(text)
      ? " (wrangler reloaded the Worker: a source file changed; run again)"
      : "";
    throw new Error(`gate fixture: ${res.status} ${text}${hint}`);
  }
  return res.json();
}

/** GET /dev/fixtures/gate/:eventId/check: the object's gate stats (scans by result, checked in). */
async function gateCheck(base, eventId) {
  const res = await fetch(`${base}/dev/fixtures/gate/${encodeURIComponent(eventId)}/check`);
  if (!res.ok) throw new Error(`gate check: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * scan: one fixture with the measured run's tickets plus a warm-up slice (when there is a warm-up);
 * the warm-up scans only its slice. Ticket tokens live TICKET_TOKEN_TTL_SECONDS (5 min by default)
 * from the fixture on, which covers setup, warm-up and any sensible --duration.
 */
export async function scanSetup({ base, opts }) {
  const warmTickets = opts.warmup > 0 ? SCAN_WARMUP_TICKETS : 0;
  const started = Date.now();
  const gate = await gateFixture(base, opts.scanTickets + warmTickets, opts.scanDevices);
  await waitForQuietLog();
  const tickets = gate.ticketTokens.slice(0, opts.scanTickets);
  console.log(
    `bench:   gate: ${tickets.length} tickets (+${warmTickets} for the warm-up), ${gate.deviceTokens.length} devices; ` +
      `fixture made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return {
    scanTokens: { devices: gate.deviceTokens, tickets },
    warmup: warmTickets
      ? { scanTokens: { devices: gate.deviceTokens, tickets: gate.ticketTokens.slice(opts.scanTickets) } }
      : undefined,
    after: async ({ result, outcomes }) => {
      const ok = result["2xx"];
      return {
        scan: {
          eventId: gate.eventId,
          tickets: tickets.length,
          devices: gate.deviceTokens.length,
          scans: ok,
          scansPerSec: ok / result.duration,
          results: outcomes.results,
          nonOk: outcomes.nonOk,
          // Requests that reused a ticket token because the run sent more than there are tickets.
          tokensReused: Math.max(0, outcomes.tokensSent - tickets.length),
          tokensSent: outcomes.tokensSent,
          // The object's own counts (warm-up included; a scan still in flight at the end included).
          check: await gateCheck(base, gate.eventId),
        },
      };
    },
  };
}
