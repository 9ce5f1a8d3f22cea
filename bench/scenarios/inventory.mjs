/**
 * inventory: the EventInventory object alone, against a bare Durable Object SQLite write, in the same
 * run. No autocannon and no HTTP per call: the Worker itself drives the RPCs (POST /dev/bench/inventory
 * and /dev/bench/probe, src/features/dev/bench.ts), so what is measured is the object's own decision
 * rate — the ceiling of one event's sales in production, whatever the Worker in front of it does — and
 * the bare write's rate on the same machine at the same moment. Target (issue 20): the object ≥ 0.6×
 * the bare write. A third yardstick stores a sale's rows and nothing more (BenchProbe.writeSale): how
 * much of a claim is the writes a sale cannot skip, and how much the deciding. The rounds alternate
 * (bare, sale rows, inventory, bare, …) so that the machine's drift falls on all alike.
 */

import { statSync } from "node:fs";
import { cpuPerRequest, serverCpu } from "../cpu.mjs";
import { startProfile } from "../profile.mjs";
import { printProfile } from "../report.mjs";
import { resultsDir, serverErrorsSince, serverLog, serverRestartsSince, waitForQuiet } from "../server.mjs";

/** Bare/inventory pairs of measured rounds (--inventory-rounds): more, shorter pairs see less drift each. */
export const INVENTORY_ROUNDS = 4;
/** Calls of each target's first (sizing) round: enough to read a rate from, few enough to be quick. */
const SIZING_CALLS = 200;
const MIN_ROUND_CALLS = 100;
/**
 * Claims sent after the measured rounds sold the event out, at least: every one must be refused. The
 * round is timed too (as large as one measured round): after a sell-out the crowd still knocking is
 * what the object decides, often for longer than the sale lasted.
 */
const OVER_CALLS = 50;
/** The warm-up's event never sells out (the fixture's largest capacity). */
const WARMUP_CAPACITY = 1_000_000;
export const INVENTORY_TARGET = 0.6;

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    const hint = /restarted mid-request/.test(text)
      ? " (wrangler reloaded the Worker: a source file changed; run again)"
      : "";
    throw new Error(`${path}: ${res.status} ${text}${hint}`);
  }
  return JSON.parse(text);
}

const fixture = (base, capacity) => post(base, "/dev/fixtures/inventory", { capacity });

/**
 * One round of one target: the route's answer plus the server CPU it took per call. Its time and rate
 * are the bench's own clock around the route (one request, one more round trip over thousands of
 * calls), not the route's `elapsedMs`: the Worker's clock moves only across I/O, and locally the
 * Worker shares one thread with the object, its pushes, D1 and the queues behind them, so under load
 * the route once read 4.7 s for a round whose answer took 32 s. The latencies can only come from the
 * Worker's clock, and understate alike.
 */
async function round(base, opts, target, body) {
  const before = serverCpu(opts.serverPgid);
  const started = performance.now();
  const run = await post(base, `/dev/bench/${target}`, { ...body, concurrency: opts.connections });
  const wallMs = performance.now() - started;
  run.cpuMsPerCall = cpuPerRequest(before, serverCpu(opts.serverPgid), run.calls)?.total ?? null;
  run.workerElapsedMs = run.elapsedMs;
  run.elapsedMs = wallMs;
  run.callsPerSec = wallMs > 0 ? (run.calls * 1000) / wallMs : 0;
  return run;
}

/** Rounds of one target summed: calls/s over their time together, the mean of their p50s and p99s. */
function summary(runs) {
  const calls = runs.reduce((n, r) => n + r.calls, 0);
  const ms = runs.reduce((n, r) => n + r.elapsedMs, 0);
  // To a tenth of a millisecond: the rounds' latencies are whole milliseconds.
  const mean = (pick) => Math.round((runs.reduce((n, r) => n + pick(r), 0) / runs.length) * 10) / 10;
  const cpu = runs.every((r) => r.cpuMsPerCall !== null)
    ? runs.reduce((n, r) => n + r.cpuMsPerCall * r.calls, 0) / calls
    : null;
  return {
    calls,
    elapsedMs: ms,
    callsPerSec: ms > 0 ? (calls * 1000) / ms : 0,
    p50Ms: mean((r) => r.p50Ms),
    p99Ms: mean((r) => r.p99Ms),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    cpuMsPerCall: cpu,
  };
}

/** The median of `values` (the mean of the middle two for an even count). */
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A round's route and body: the bare write, the probe's sale rows (`sale`), or the event's claims. */
function request(target, eventId, calls) {
  if (target === "inventory") return ["inventory", { eventId, calls }];
  return ["probe", target === "sale" ? { calls, rows: "sale" } : { calls }];
}

/**
 * The whole scenario, returning its row (run.mjs calls it instead of the autocannon load): a sizing
 * round of each target, the warm-up, then --inventory-rounds triples (bare write, a sale's rows,
 * claims), each round sized to last about
 * --duration ÷ rounds at the rate last seen, against an event whose capacity is exactly what the
 * measured rounds claim; then claims past the sell-out (all must be refused) and the fixture's check.
 */
export async function inventoryRun({ base, opts }) {
  const startOffset = statSync(serverLog).size;
  const concurrency = opts.connections;
  const rounds = opts.inventoryRounds;
  const warmEvent = await fixture(base, WARMUP_CAPACITY);
  // Sizing, then the warm-up at that rate: isolates, both objects, their SQLite and the JIT get going.
  const rate = {
    probe: (await round(base, opts, ...request("probe", warmEvent.eventId, SIZING_CALLS))).callsPerSec,
    sale: (await round(base, opts, ...request("sale", warmEvent.eventId, SIZING_CALLS))).callsPerSec,
    inventory: (await round(base, opts, ...request("inventory", warmEvent.eventId, SIZING_CALLS))).callsPerSec,
  };
  if (opts.warmup > 0) {
    for (const target of ["probe", "sale", "inventory"]) {
      const calls = Math.max(MIN_ROUND_CALLS, Math.round(rate[target] * opts.warmup));
      rate[target] = (await round(base, opts, ...request(target, warmEvent.eventId, calls))).callsPerSec;
    }
  }
  // Each target gets about --duration seconds in all, over `rounds` rounds.
  const size = (target) => Math.max(MIN_ROUND_CALLS, Math.round((rate[target] * opts.duration) / rounds));
  const sizes = { probe: size("probe"), sale: size("sale"), inventory: size("inventory") };
  const sale = await fixture(base, sizes.inventory * rounds);
  // The warm-up's confirmations go out before the measured rounds, and each round's before the next.
  await waitForQuiet(base);
  const logOffset = statSync(serverLog).size;
  const runs = { probe: [], sale: [], inventory: [] };
  for (let i = 0; i < rounds; i++) {
    runs.probe.push(await round(base, opts, ...request("probe", sale.eventId, sizes.probe)));
    runs.sale.push(await round(base, opts, ...request("sale", sale.eventId, sizes.sale)));
    await waitForQuiet(base);
    // --profile: the Worker's isolate (the objects' too, locally) over the last inventory round.
    const stopProfile =
      opts.profile && i === rounds - 1 ? await startProfile(opts.inspectorPort, "inventory", resultsDir) : null;
    runs.inventory.push(await round(base, opts, "inventory", { eventId: sale.eventId, calls: sizes.inventory }));
    if (stopProfile) printProfile("inventory (last round)", await stopProfile());
    await waitForQuiet(base);
  }
  // Past the sell-out: a timed round the size of a measured one, against the bare write just before it.
  const overCalls = Math.max(OVER_CALLS, sizes.inventory);
  const overProbe = await round(base, opts, "probe", { calls: sizes.probe });
  await waitForQuiet(base);
  const over = await round(base, opts, "inventory", { eventId: sale.eventId, calls: overCalls });
  const check = await fetch(`${base}/dev/fixtures/on-sale/${encodeURIComponent(sale.eventId)}/check`).then((r) =>
    r.json(),
  );
  const pairRatios = runs.inventory.map((r, i) => r.callsPerSec / runs.probe[i].callsPerSec);
  const saleRatios = runs.sale.map((r, i) => r.callsPerSec / runs.probe[i].callsPerSec);
  const claimToSaleRatios = runs.inventory.map((r, i) => r.callsPerSec / runs.sale[i].callsPerSec);
  const probe = summary(runs.probe);
  const saleRows = summary(runs.sale);
  const inventory = summary(runs.inventory);
  return {
    name: "inventory",
    method: "POST",
    path: "/dev/bench/inventory",
    // The table's figures are the object's: claims per second inside the Worker (no HTTP per call).
    reqPerSec: inventory.callsPerSec,
    p50Ms: inventory.p50Ms,
    p99Ms: inventory.p99Ms,
    requests: inventory.calls,
    non2xx: 0,
    errors: inventory.errors,
    timeouts: 0,
    serverErrors: serverErrorsSince(logOffset),
    serverRestarts: serverRestartsSince(startOffset),
    statusCodes: {},
    cpuMsPerRequest: inventory.cpuMsPerCall,
    cpuMsPerRequestByProcess: null,
    emails: null,
    control: null,
    pairedRatio: null,
    pairedCpuRatio: null,
    inventory: {
      eventId: sale.eventId,
      concurrency,
      rounds,
      sizes,
      probe,
      // The probe storing a sale's rows and nothing more (BenchProbe.writeSale), against the bare write
      // of its round; and each claim round against it.
      sale: {
        ...saleRows,
        pairRatios: saleRatios,
        pairedRatio: median(saleRatios),
        claimPairRatios: claimToSaleRatios,
        claimPairedRatio: median(claimToSaleRatios),
      },
      inventory,
      ratio: probe.callsPerSec > 0 ? inventory.callsPerSec / probe.callsPerSec : null,
      // Each inventory round against the bare round just before it: the machine's speed changes
      // within seconds here, and a pair run back to back shares it; the median sets one odd pair aside.
      pairRatios,
      pairedRatio: median(pairRatios),
      cpuRatio: probe.cpuMsPerCall && inventory.cpuMsPerCall ? probe.cpuMsPerCall / inventory.cpuMsPerCall : null,
      target: INVENTORY_TARGET,
      runs,
      // Claims after the sell-out: every one refused (sold-out), none sold; their rate against the bare
      // write run just before them.
      over: {
        calls: over.calls,
        sold: over.ok,
        errorsByCode: over.errorsByCode,
        callsPerSec: over.callsPerSec,
        cpuMsPerCall: over.cpuMsPerCall,
        probeCallsPerSec: overProbe.callsPerSec,
        ratio: overProbe.callsPerSec > 0 ? over.callsPerSec / overProbe.callsPerSec : null,
      },
      check,
    },
  };
}
