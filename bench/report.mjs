/**
 * What a run reports: ratios to the `ping` baseline, the table, the on-sale and scan figures the table
 * has no room for, the profile summary, and bench/results/latest.json.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BASELINE } from "./scenarios/index.mjs";
import { printWaitingRoom } from "./scenarios/waiting-room.mjs";
import { RATE_LIMITS, resultsDir, serverLog } from "./server.mjs";

/** The scan figures the table has no room for: scans/s, results, and token reuse. */
function printScan(row, baseline) {
  const s = row.scan;
  const ratio =
    (baseline ? `${(s.scansPerSec / baseline).toFixed(2)}× ping` : "n/a") +
    (row.control ? `, ${(s.scansPerSec / row.control.reqPerSec).toFixed(2)}× the ping paired with it` : "") +
    "; target ≥ 0.6×";
  console.log(
    `\nscan: ${s.tickets} tickets, ${s.devices} devices taking turns; each request a different ticket token and nonce`,
  );
  console.log(
    `  scans (200)        ${s.scans} = ${s.scansPerSec.toFixed(0)} scans/s (${ratio}); p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`,
  );
  if (row.cpuMsPerRequest !== null) {
    const parts = Object.entries(row.cpuMsPerRequestByProcess)
      .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
      .join(", ");
    console.log(
      `  server CPU         ${row.cpuMsPerRequest.toFixed(2)} ms per scan (${parts}); ` +
        `${row.cpuRatio === null ? "n/a" : `${row.cpuRatio.toFixed(2)}× ping's`} (throughput with the machine to itself)`,
    );
  }
  const results = Object.entries(s.results).sort(([, a], [, b]) => b - a);
  console.log(`  results            ${results.map(([name, n]) => `${n} × ${name}`).join(", ") || "none"}`);
  const nonOk = Object.entries(s.nonOk);
  if (nonOk.length > 0) console.log(`  non-200            ${nonOk.map(([key, n]) => `${n} × ${key}`).join(", ")}`);
  const c = s.check;
  console.log(
    `  object's counts    ${c.scans} scans logged (warm-up included): ` +
      `${Object.entries(c.byResult)
        .filter(([, n]) => n > 0)
        .map(([name, n]) => `${n} × ${name}`)
        .join(", ")}; checked in ${c.checkedIn ?? "?"}`,
  );
  if (s.tokensReused > 0) {
    console.log(
      `  note: the ${s.tickets} ticket tokens ran out; ${s.tokensReused} requests scanned a token again ` +
        "(already_redeemed: still the decision path; raise --scan-tickets for first scans only)",
    );
  }
}

function printTable(rows) {
  const columns = [
    ["scenario", (r) => r.name],
    ["req/s", (r) => r.reqPerSec.toFixed(0)],
    ["p50 ms", (r) => String(r.p50Ms)],
    ["p99 ms", (r) => String(r.p99Ms)],
    ["non-2xx", (r) => String(r.non2xx)],
    ["err/timeout", (r) => `${r.errors}/${r.timeouts}`],
    ["srv err", (r) => String(r.serverErrors)],
    ["ratio", (r) => (r.ratio === null ? "n/a" : r.ratio.toFixed(2))],
    ["cpu ms/req", (r) => (r.cpuMsPerRequest === null ? "n/a" : r.cpuMsPerRequest.toFixed(2))],
    ["cpu ratio", (r) => (r.cpuRatio === null ? "n/a" : r.cpuRatio.toFixed(2))],
    ["control ping", (r) => (r.control ? r.control.reqPerSec.toFixed(0) : "-")],
    ["paired", (r) => (r.pairedRatio === null ? "-" : r.pairedRatio.toFixed(2))],
  ];
  const cells = [columns.map(([title]) => title), ...rows.map((r) => columns.map(([, cell]) => cell(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  console.log(`\n${line(cells[0])}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of cells.slice(1)) console.log(line(row));
}

/** The on-sale figures the table has no room for: orders, sold out when, what the 409s were, oversold. */
function printOnSale(row, baseline, baselineCpu) {
  const o = row.onSale;
  const ratio = (perSec) =>
    (baseline ? `${(perSec / baseline).toFixed(2)}× ping` : "n/a") +
    (row.control ? `, ${(perSec / row.control.reqPerSec).toFixed(2)}× the ping paired with it` : "");
  const c = o.check;
  const other = Object.entries(o.nonOk).filter(([key]) => key !== "409 sold-out");
  console.log(
    `\non-sale: ${o.users} buyers, capacity ${o.capacity} (${o.sizing}); one ticket per request, each a different buyer`,
  );
  console.log(
    `  orders (2xx)       ${o.orders} = ${o.ordersPerSec.toFixed(0)} orders/s over the run (${ratio(o.ordersPerSec)}); ` +
      `p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`,
  );
  console.log(
    o.soldOutAfterS === null
      ? `  selling phase      the whole run: not sold out (raise --duration or lower --on-sale-capacity)`
      : `  selling phase      sold out after ${o.soldOutAfterS.toFixed(1)} s: ` +
          `${o.sellingOrdersPerSec.toFixed(0)} orders/s until then (${ratio(o.sellingOrdersPerSec)})`,
  );
  const sc = o.sellingCpu;
  if (sc) {
    const times = (of) => (of ? `${(sc.cpuMsPerOrder / of).toFixed(2)}×` : "n/a");
    console.log(
      `  order's CPU        ${sc.cpuMsPerOrder.toFixed(2)} ms of server CPU per answer in the selling phase ` +
        `(${sc.answered} answers in its first ${(sc.ms / 1000).toFixed(1)} s): ${times(baselineCpu)} ping's` +
        (row.control?.cpuMsPerRequest ? `, ${times(row.control.cpuMsPerRequest)} the paired ping's` : "") +
        " (target ≤ 2×; the table's figure averages in the cheaper sold-out answers)",
    );
  }
  console.log(
    `  non-2xx            ${o.soldOut409} × 409 sold-out (expected once sold out), ${o.otherNon2xx} other` +
      (other.length > 0 ? ` (${other.map(([key, n]) => `${n} × ${key}`).join(", ")})` : ""),
  );
  console.log(
    `  oversold           ${c.oversold} (sold ${c.sold} / capacity ${c.capacity}, held ${c.held}, ` +
      `D1 tickets ${c.d1Tickets}, distinct serials ${c.distinctSerials}, over-limit buyers ${c.overLimitUsers}, ` +
      `outbox pending ${c.pending}` +
      (c.pushes > 0 ? `; ${c.pushes} pushes to D1, ${(c.sold / c.pushes).toFixed(1)} sales each` : "") +
      ")",
  );
  if (c.d1Tickets !== c.sold) console.log("  WARNING: D1 does not hold the tickets the object sold (see server.log)");
  const e = row.emails;
  if (e) {
    const cpuRatio =
      row.cpuMsPerRequest && e.cpuMsPerRequest ? row.cpuRatio * (row.cpuMsPerRequest / e.cpuMsPerRequest) : null;
    console.log(
      `  emails             ${e.atEnd} of the run's ${o.orders} confirmations still unsent at its end` +
        (e.left > 0
          ? `, ${e.left} still unsent ${e.drainSeconds.toFixed(0)} s later`
          : `, all sent ${e.drainSeconds.toFixed(1)} s later`) +
        (e.cpuMsPerRequest === null
          ? ""
          : `; server CPU with their delivery ${e.cpuMsPerRequest.toFixed(2)} ms per request` +
            (cpuRatio === null ? "" : ` (${cpuRatio.toFixed(2)}× ping's)`)),
    );
  }
  if (o.tokensReused > 0) {
    console.log(`  note: ${o.tokensReused} requests reused a buyer (409 already-registered); raise --on-sale-users`);
  }
}

/**
 * The inventory figures: the object's claims, the bare write and a sale's rows alone, round by round,
 * their ratios, oversell.
 */
function printInventory(row) {
  const v = row.inventory;
  const fmt = (t, unit) =>
    `${t.calls} in ${(t.elapsedMs / 1000).toFixed(1)} s = ${t.callsPerSec.toFixed(0)} ${unit}/s; ` +
    `p50 ${t.p50Ms.toFixed(0)} ms, p99 ${t.p99Ms.toFixed(0)} ms` +
    (t.cpuMsPerCall === null ? "" : `; server CPU ${t.cpuMsPerCall.toFixed(2)} ms each`) +
    (t.errors > 0 ? `; ${t.errors} errors` : "");
  const rounds = (runs) => runs.map((r) => r.callsPerSec.toFixed(0)).join(", ");
  console.log(
    `\ninventory: the EventInventory object alone (free claims by RPC from the Worker, ${v.concurrency} in flight) ` +
      `against a bare Durable Object SQLite write; ${v.rounds} rounds each, alternating`,
  );
  console.log(`  bare write         ${fmt(v.probe, "writes")} (rounds: ${rounds(v.runs.probe)})`);
  if (v.sale) console.log(`  a sale's rows      ${fmt(v.sale, "sales")} (rounds: ${rounds(v.runs.sale)})`);
  console.log(`  inventory          ${fmt(v.inventory, "claims")} (rounds: ${rounds(v.runs.inventory)})`);
  const met = v.pairedRatio >= v.target ? "met" : "not met";
  console.log(
    `  ratio              ${v.pairedRatio.toFixed(2)}× the bare write, the median of the pairs ` +
      `(${v.pairRatios.map((r) => r.toFixed(2)).join(", ")}; target ≥ ${v.target}×: ${met}); ` +
      `${v.ratio === null ? "n/a" : `${v.ratio.toFixed(2)}×`} over all rounds` +
      (v.cpuRatio === null ? "" : `; by server CPU ${v.cpuRatio.toFixed(2)}×`),
  );
  if (v.sale) {
    const list = (ratios) => ratios.map((r) => r.toFixed(2)).join(", ");
    console.log(
      `  a sale's rows      stored alone: ${v.sale.pairedRatio.toFixed(2)}× the bare write (pairs ${list(v.sale.pairRatios)}); ` +
        `a claim runs at ${v.sale.claimPairedRatio.toFixed(2)}× its own rows (pairs ${list(v.sale.claimPairRatios)}): ` +
        "the rest is deciding, answering and pushing",
    );
  }
  if (v.over.ratio !== null && v.over.ratio !== undefined) {
    console.log(
      `  after the sell-out ${v.over.calls} refused claims at ${v.over.callsPerSec.toFixed(0)}/s: ` +
        `${v.over.ratio.toFixed(2)}× the bare write run just before (${v.over.probeCallsPerSec.toFixed(0)}/s)` +
        (v.over.cpuMsPerCall === null ? "" : `; server CPU ${v.over.cpuMsPerCall.toFixed(2)} ms each`),
    );
  }
  const c = v.check;
  const over = Object.entries(v.over.errorsByCode)
    .map(([code, n]) => `${n} × ${code}`)
    .join(", ");
  console.log(
    `  oversold           ${c.oversold + v.over.sold} (sold ${c.sold} / capacity ${c.capacity}; ` +
      `${v.over.calls} claims past the sell-out: ${v.over.sold} sold, ${over || "none refused"}; ` +
      `D1 tickets ${c.d1Tickets}, distinct serials ${c.distinctSerials}, outbox pending ${c.pending}` +
      (c.pushes > 0 ? `; ${c.pushes} pushes to D1, ${(c.sold / c.pushes).toFixed(1)} sales each` : "") +
      ")",
  );
  if (c.d1Tickets !== c.sold || c.distinctSerials !== c.sold) {
    console.log("  WARNING: D1 does not hold the tickets the object sold, one serial each (see server.log)");
  }
}

/** The functions with the most self time in a scenario's profile. */
export function printProfile(name, { file, top }) {
  console.log(`bench:   ${name} profile (${file}), self time:`);
  for (const { fn, share } of top) console.log(`    ${(share * 100).toFixed(1).padStart(5)}%  ${fn}`);
}

/** Ratios to the baseline, the table and the scenarios' own figures, then bench/results/latest.json. */
export function reportRun(rows, opts) {
  const baseline = rows.find((r) => r.name === BASELINE)?.reqPerSec;
  for (const r of rows) r.ratio = baseline ? r.reqPerSec / baseline : null;
  // Ping's CPU per request over the scenario's: the throughput ratio a machine with nothing else
  // running would show (1 / how many pings of CPU one request costs).
  const baselineCpu = rows.find((r) => r.name === BASELINE)?.cpuMsPerRequest ?? null;
  for (const r of rows) r.cpuRatio = baselineCpu && r.cpuMsPerRequest ? baselineCpu / r.cpuMsPerRequest : null;
  printTable(rows);
  for (const row of rows.filter((r) => r.onSale)) {
    row.onSale.ordersRatio = baseline ? row.onSale.ordersPerSec / baseline : null;
    row.onSale.sellingRatio = baseline ? row.onSale.sellingOrdersPerSec / baseline : null;
    row.onSale.pairedSellingRatio = row.control ? row.onSale.sellingOrdersPerSec / row.control.reqPerSec : null;
    printOnSale(row, baseline, baselineCpu);
  }
  for (const row of rows.filter((r) => r.scan)) {
    row.scan.ratio = baseline ? row.scan.scansPerSec / baseline : null;
    row.scan.pairedRatio = row.control ? row.scan.scansPerSec / row.control.reqPerSec : null;
    printScan(row, baseline);
  }
  for (const row of rows.filter((r) => r.inventory)) printInventory(row);
  for (const row of rows.filter((r) => r.waitingRoom)) printWaitingRoom(row);
  const restarted = rows.filter((r) => r.serverRestarts > 0).map((r) => r.name);
  if (restarted.length > 0) {
    console.log(
      `\nbench: the Worker reloaded or restarted during ${restarted.join(", ")} (a source file changed, or the ` +
        `runtime crashed): discard those rows and run again; see ${serverLog}`,
    );
  }
  if (rows.some((r) => r.serverErrors > 0)) {
    console.log(`\nbench: the Worker logged errors during the run (srv err); see ${serverLog}`);
  }

  const out = join(resultsDir, "latest.json");
  const { scenarios: _, inspectorPort: __, serverPgid: ___, ...settings } = opts;
  const report = { at: new Date().toISOString(), node: process.version, settings, rateLimits: RATE_LIMITS, rows };
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nbench: wrote ${out}`);
}
