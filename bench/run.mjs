#!/usr/bin/env node
/**
 * `npm run bench [-- --connections N --duration S --warmup S --only a,b]`: the load benchmark.
 * Owns: starting the Worker locally through scripts/dev.mjs on a free port, running each scenario
 * with autocannon (warm-up first, not counted), printing one table row per scenario and writing
 * bench/results/latest.json, then stopping every process it started.
 * It only reports: no timing is asserted, because a shared 2-core machine makes absolute numbers
 * noisy. Compare `ratio` (req/s relative to the `ping` baseline of the same run) instead.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const resultsDir = join(root, "bench", "results");
const serverLog = join(resultsDir, "server.log");

/**
 * The scenarios, run in this order. `ping` is the baseline every `ratio` divides by.
 * Fields: name, method, path, headers?, body? (object → JSON), setup?(ctx) → async, may return
 * { path, headers, body } overrides (e.g. a session created over HTTP at ctx.base).
 */
const SCENARIOS = [
  // Worker → Durable Object RPC and back, nothing else: the floor every other route pays.
  { name: "ping", method: "GET", path: "/dev/ping" },
  // Probes D1, a Durable Object, R2 and the queue bindings in parallel.
  { name: "health", method: "GET", path: "/health" },
  // The cheapest route behind the `api` policy: one RateLimiter call per request, allow path.
  // All requests share one key (the local server sets CF-Connecting-IP itself), so this is also
  // the worst case for a single hot limiter object.
  { name: "rate-limited-get", method: "GET", path: "/api/v1" },
];

/**
 * Raised for every policy a scenario passes through, so no request is denied and the bench measures
 * the allow path. GCRA stores only a theoretical arrival time, so the state left in the local
 * RateLimiter objects at this rate (milliseconds ahead of now) does not affect later `npm run dev`s.
 */
const RATE_LIMITS = { api: { limit: 100_000_000, windowSeconds: 60 } };

const BASELINE = "ping";
const STARTUP_TIMEOUT_MS = 120_000;
/** dev.mjs seeds once /health answers; waiting for its outcome keeps seeding out of the first scenario. */
const SEED_TIMEOUT_MS = 30_000;

function options() {
  const { values } = parseArgs({
    options: {
      connections: { type: "string", default: process.env.BENCH_CONNECTIONS ?? "50" },
      duration: { type: "string", default: process.env.BENCH_DURATION ?? "10" },
      warmup: { type: "string", default: process.env.BENCH_WARMUP ?? "2" },
      only: { type: "string", default: process.env.BENCH_ONLY ?? "" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log("usage: npm run bench -- [--connections 50] [--duration 10] [--warmup 2] [--only a,b]");
    console.log(`scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
    process.exit(0);
  }
  const number = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min) usage(`--${name} must be a number >= ${min}`);
    return n;
  };
  const only = values.only
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length > 0) usage(`unknown scenario(s): ${unknown.join(", ")}`);
  // The baseline always runs: a ratio against another run's ping would mix two machines' states.
  const wanted = new Set(only.length > 0 ? [BASELINE, ...only] : SCENARIOS.map((s) => s.name));
  return {
    connections: Math.floor(number("connections", 1)),
    duration: number("duration", 1),
    warmup: number("warmup", 0),
    scenarios: SCENARIOS.filter((s) => wanted.has(s.name)),
  };
}

function usage(message) {
  console.error(`bench: ${message} (see --help)`);
  process.exit(2);
}

/** A port the OS just handed out; released immediately so wrangler can bind it. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * dev.mjs in its own process group (detached), so stopServer can signal dev.mjs, wrangler, esbuild
 * and workerd at once. Output goes to a file: a pipe nobody drains would stall the server, and the
 * per-request log lines would bury the table.
 * No --persist-to: dev.mjs applies migrations to the default local state and does not pass the flag
 * on, so a separate state directory would have an unmigrated D1. See bench/README.md.
 */
function startServer(port, inspectorPort) {
  mkdirSync(resultsDir, { recursive: true });
  const fd = openSync(serverLog, "w");
  const args = [
    join(root, "scripts", "dev.mjs"),
    "--port",
    String(port),
    // A fixed address for autocannon (localhost may resolve to ::1 or 127.0.0.1).
    "--ip",
    "127.0.0.1",
    // Its own inspector port, so a developer's `npm run dev` on the default 9229 is no obstacle.
    "--inspector-port",
    String(inspectorPort),
    "--var",
    `RATE_LIMITS:${JSON.stringify(RATE_LIMITS)}`,
  ];
  const child = spawn(process.execPath, args, { cwd: root, detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  return child;
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the whole group, SIGKILL for whatever is still there after 5 s. */
async function stopServer(child) {
  if (!child?.pid || !groupAlive(child.pid)) return;
  process.kill(-child.pid, "SIGTERM");
  const deadline = Date.now() + 5000;
  while (groupAlive(child.pid) && Date.now() < deadline) await sleep(100);
  if (groupAlive(child.pid)) process.kill(-child.pid, "SIGKILL");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readLog() {
  try {
    return readFileSync(serverLog, "utf8");
  } catch {
    return "";
  }
}

async function waitForServer(base, child) {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let healthy = false;
  while (!healthy && Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      healthy = (await fetch(`${base}/health`)).status === 200;
    } catch {
      // not listening yet
    }
    if (!healthy) await sleep(300);
  }
  if (!healthy) return false;
  // The strings dev.mjs prints after its seed request, whether it succeeded or not.
  const seedDeadline = Date.now() + SEED_TIMEOUT_MS;
  while (!/Gatehouse is running at|dev: seeding failed/.test(readLog()) && Date.now() < seedDeadline) {
    await sleep(200);
  }
  return true;
}

/** Worker log lines at error level (e.g. "rate limiter unavailable", which would mean fail-open). */
function serverErrorsSince(offset) {
  const text = readFileSync(serverLog).subarray(offset).toString("utf8");
  return text.split("\n").filter((line) => line.includes('"level":"error"')).length;
}

async function runScenario(scenario, base, opts) {
  const overrides = (await scenario.setup?.({ base })) ?? {};
  const { method, path, headers = {}, body } = { ...scenario, ...overrides };
  const request = {
    url: `${base}${path}`,
    method,
    headers:
      body !== undefined && typeof body !== "string" ? { "content-type": "application/json", ...headers } : headers,
    body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
    connections: opts.connections,
  };
  // Warm-up: isolates, Durable Objects and JIT get going; the numbers are thrown away.
  if (opts.warmup > 0) await autocannon({ ...request, duration: opts.warmup });
  const logOffset = statSync(serverLog).size;
  const r = await autocannon({ ...request, duration: opts.duration });
  return {
    name: scenario.name,
    method,
    path,
    reqPerSec: r.requests.average,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r["2xx"] + r.non2xx,
    non2xx: r.non2xx,
    // autocannon counts timeouts among errors too.
    errors: r.errors,
    timeouts: r.timeouts,
    serverErrors: serverErrorsSince(logOffset),
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count])),
  };
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
  ];
  const cells = [columns.map(([title]) => title), ...rows.map((r) => columns.map(([, cell]) => cell(r)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ");
  console.log(`\n${line(cells[0])}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const row of cells.slice(1)) console.log(line(row));
}

async function main() {
  const opts = options();
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  console.log(`bench: starting the Worker on ${base} (server output: ${serverLog})`);
  const child = startServer(port, inspectorPort);

  // Whatever way the bench ends, the server goes with it.
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, async () => {
      await stopServer(child);
      process.exit(130);
    });
  }
  process.on("exit", () => {
    if (child.pid && groupAlive(child.pid)) process.kill(-child.pid, "SIGKILL");
  });

  try {
    if (!(await waitForServer(base, child))) {
      console.error(`bench: the Worker did not answer GET /health with 200; last server output:\n`);
      console.error(readLog().split("\n").slice(-30).join("\n"));
      process.exitCode = 1;
      return;
    }
    const rows = [];
    for (const scenario of opts.scenarios) {
      console.log(`bench: ${scenario.name} (${scenario.method} ${scenario.path}) for ${opts.duration} s…`);
      rows.push(await runScenario(scenario, base, opts));
    }
    const baseline = rows.find((r) => r.name === BASELINE)?.reqPerSec;
    for (const r of rows) r.ratio = baseline ? r.reqPerSec / baseline : null;
    printTable(rows);
    if (rows.some((r) => r.serverErrors > 0)) {
      console.log(`\nbench: the Worker logged errors during the run (srv err); see ${serverLog}`);
    }

    const out = join(resultsDir, "latest.json");
    const { scenarios: _, ...settings } = opts;
    const report = { at: new Date().toISOString(), node: process.version, settings, rateLimits: RATE_LIMITS, rows };
    writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nbench: wrote ${out}`);
  } finally {
    await stopServer(child);
  }
}

main().catch((error) => {
  console.error("bench:", error);
  process.exitCode = 1;
});
