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
import { randomUUID } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { startProfile } from "./profile.mjs";

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
  // Many buyers claiming one free ticket each from one large event: every request is a different
  // user (its own session and orders-user limiter key) against the one hot EventInventory object.
  // The run covers the sale and the sold-out that follows (409 sold-out, expected); see onSaleSetup.
  {
    name: "on-sale",
    method: "POST",
    path: "/api/v1/events/:eventId/orders",
    body: { quantity: 1 },
    setup: onSaleSetup,
  },
  // Scanner devices scanning tickets at an open gate: every request a different ticket's QR token
  // (and a random nonce), the devices taking turns, against the event's one EventInventory object.
  // Once the tokens run out they come round again (already_redeemed); see scanSetup.
  {
    name: "scan",
    method: "POST",
    path: "/api/v1/scan",
    setup: scanSetup,
  },
];

/**
 * Raised for every policy a scenario passes through, so no request is denied and the bench measures
 * the allow path. GCRA stores only a theoretical arrival time, so the state left in the local
 * RateLimiter objects at this rate (milliseconds ahead of now) does not affect later `npm run dev`s.
 */
const RATE_LIMITS = {
  api: { limit: 100_000_000, windowSeconds: 60 },
  // `orders` sets both orders-user and orders-ip (on-sale: one address for every buyer).
  orders: { limit: 100_000_000, windowSeconds: 60 },
  // Per device token (`scan`: a handful of devices, each scanning thousands of tickets a second).
  scanner: { limit: 100_000_000, windowSeconds: 1 },
  // The order confirmations on-sale sends: at the default 100 a minute, a sale's emails would wait
  // (re-queued, delayed) for hours and that waiting would load every later run.
  "email-global": { limit: 100_000_000, windowSeconds: 60 },
};

/**
 * on-sale: 20,000 buyers, enough that no buyer is used twice at 50 connections for 10 s on a 2-core
 * machine. The capacity defaults to "auto": the warm-up (its own event, which never sells out)
 * measures the selling rate, and the sale gets the capacity that rate sells in 40% of --duration, so
 * the measured run covers both the sale and the sold-out after it on any machine. --on-sale-capacity
 * fixes it instead (runs then compare like for like); without a warm-up, auto means 500.
 */
const ON_SALE_USERS = 20_000;
const ON_SALE_CAPACITY_WITHOUT_WARMUP = 500;
const ON_SALE_MIN_CAPACITY = 50;
/** Share of the run the auto capacity should last at the warm-up's rate (which tends to run high). */
const ON_SALE_SELLING_SHARE = 0.4;
const ON_SALE_WARMUP_USERS = 5_000;
const ON_SALE_WARMUP_CAPACITY = 1_000_000;

/**
 * scan: tickets (each scanned once by the measured run until they run out) and devices, from
 * POST /dev/fixtures/gate. The warm-up scans its own slice of the fixture's tickets, so the measured
 * run starts with unused ones.
 */
const SCAN_TICKETS = 10_000;
const SCAN_WARMUP_TICKETS = 2_000;
const SCAN_DEVICES = 8;

const BASELINE = "ping";
/** Longest wait for the email backlog of earlier scenarios to drain before the next one. */
const QUIET_TIMEOUT_MS = 180_000;
/** Server output silent this long counts as settled (see waitForQuietLog). */
const LOG_QUIET_MS = 2_000;
const STARTUP_TIMEOUT_MS = 120_000;
/** dev.mjs seeds once /health answers; waiting for its outcome keeps seeding out of the first scenario. */
const SEED_TIMEOUT_MS = 30_000;

function options() {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      connections: { type: "string", default: process.env.BENCH_CONNECTIONS ?? "50" },
      duration: { type: "string", default: process.env.BENCH_DURATION ?? "10" },
      warmup: { type: "string", default: process.env.BENCH_WARMUP ?? "2" },
      only: { type: "string", default: process.env.BENCH_ONLY ?? "" },
      "on-sale-users": { type: "string", default: process.env.BENCH_ON_SALE_USERS ?? String(ON_SALE_USERS) },
      "on-sale-capacity": { type: "string", default: process.env.BENCH_ON_SALE_CAPACITY ?? "auto" },
      "scan-tickets": { type: "string", default: process.env.BENCH_SCAN_TICKETS ?? String(SCAN_TICKETS) },
      "scan-devices": { type: "string", default: process.env.BENCH_SCAN_DEVICES ?? String(SCAN_DEVICES) },
      profile: { type: "boolean", default: process.env.BENCH_PROFILE === "1" },
      control: { type: "boolean", default: process.env.BENCH_CONTROL !== "0" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm run bench -- [--connections 50] [--duration 10] [--warmup 2] [--only a,b]" +
        ` [--on-sale-users ${ON_SALE_USERS}] [--on-sale-capacity auto|N]` +
        ` [--scan-tickets ${SCAN_TICKETS}] [--scan-devices ${SCAN_DEVICES}] [--profile] [--no-control]`,
    );
    console.log(`scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
    process.exit(0);
  }
  const number = (name, min, max = Number.POSITIVE_INFINITY) => {
    const n = Number(values[name]);
    if (!Number.isFinite(n) || n < min || n > max) {
      usage(`--${name} must be a number ${max === Number.POSITIVE_INFINITY ? `>= ${min}` : `from ${min} to ${max}`}`);
    }
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
    // The fixture route's bounds.
    onSaleUsers: Math.floor(number("on-sale-users", 1, 50_000)),
    onSaleCapacity:
      values["on-sale-capacity"] === "auto" ? "auto" : Math.floor(number("on-sale-capacity", 1, 1_000_000)),
    // The gate fixture allows 20,000 tickets in all; the warm-up's share comes out of that.
    scanTickets: Math.floor(number("scan-tickets", 1, 20_000 - SCAN_WARMUP_TICKETS)),
    scanDevices: Math.floor(number("scan-devices", 1, 50)),
    profile: values.profile,
    control: values.control,
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
  // wrangler dev's local trace collector (X_LOCAL_OBSERVABILITY, on by default) streams a trace of
  // every invocation — each Durable Object, D1 and queue call included — to a collector worker that
  // writes it to disk for the local explorer. That is wrangler's cost, not the Worker's, and it
  // grows with a route's subrequests, so it would weigh on every ratio; production has no such
  // collector in the request path. X_LOCAL_OBSERVABILITY=true npm run bench keeps it on.
  const env = { ...process.env, X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? "false" };
  const child = spawn(process.execPath, args, { cwd: root, env, detached: true, stdio: ["ignore", fd, fd] });
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

/** Linux clock ticks per second (USER_HZ): /proc reports CPU times in these. */
const CLOCK_TICKS = 100;

/**
 * CPU time (ms) used so far by each process of the server's process group (wrangler's Node process,
 * its proxy and the Worker's workerd), from /proc; null where /proc is not there. Keyed by pid with
 * a short name, so a scenario's share of each can be told apart.
 */
function serverCpu(pgid) {
  let pids;
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const usage = new Map();
  for (const pid of pids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    // Fields after the command name: state(3) ppid(4) pgrp(5) … utime(14) stime(15).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== pgid) continue;
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    usage.set(pid, { name, ms });
  }
  return usage;
}

/** Server CPU ms per request between two serverCpu() readings, in all and per process name. */
function cpuPerRequest(before, after, requests) {
  if (!before || !after || requests === 0) return null;
  const byName = {};
  let total = 0;
  for (const [pid, { name, ms }] of after) {
    const used = ms - (before.get(pid)?.ms ?? 0);
    total += used;
    byName[name] = (byName[name] ?? 0) + used / requests;
  }
  return { total: total / requests, byName };
}

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

/**
 * wrangler dev reloads the Worker when a source file changes (and restarts a crashed runtime): the
 * Durable Objects' in-memory state goes and requests in flight fail, so such a run is not comparable.
 */
function serverRestartsSince(offset) {
  const text = readFileSync(serverLog).subarray(offset).toString("utf8");
  return text.split("\n").filter((line) => /Reloading local server|runtime crashed/.test(line)).length;
}

/**
 * The autocannon options for one load: method, path, headers, body. With `bearerTokens`, every
 * request carries the next token in turn (one buyer per request; tokens are reused only when the run
 * sends more requests than there are tokens, counted in `outcomes.tokensSent`), and non-2xx answers
 * are counted by status and problem type, with when each first appeared. With `scanTokens`
 * ({ devices, tickets }), every request scans the next ticket token with a random nonce from the
 * next device in turn (tokens come round again once used up, counted in `outcomes.tokensSent`), and
 * the 200 answers are counted by `result` in `outcomes.results`.
 */
function loadOptions(base, spec, opts) {
  const { method, path, headers = {}, body, bearerTokens, scanTokens } = spec;
  const request = {
    url: `${base}${path}`,
    method,
    headers:
      body !== undefined && typeof body !== "string" ? { "content-type": "application/json", ...headers } : headers,
    body: body === undefined || typeof body === "string" ? body : JSON.stringify(body),
    connections: opts.connections,
  };
  const outcomes = { startedAt: 0, tokensSent: 0, nonOk: {}, firstSeenMs: {}, results: {} };
  const countNonOk = (status, responseBody) => {
    const type = /"type":"[^"]*\/problems\/([a-z-]+)"/.exec(responseBody)?.[1] ?? "other";
    const key = `${status} ${type}`;
    outcomes.nonOk[key] = (outcomes.nonOk[key] ?? 0) + 1;
    outcomes.firstSeenMs[key] ??= Date.now() - outcomes.startedAt;
  };
  if (scanTokens) {
    const { devices, tickets } = scanTokens;
    request.method = "POST";
    request.requests = [
      {
        setupRequest: (req) => {
          const n = outcomes.tokensSent;
          outcomes.tokensSent += 1;
          return {
            ...req,
            headers: {
              ...req.headers,
              "content-type": "application/json",
              authorization: `Device ${devices[n % devices.length]}`,
            },
            body: JSON.stringify({ token: tickets[n % tickets.length], nonce: randomUUID() }),
          };
        },
        onResponse: (status, responseBody) => {
          if (status !== 200) return countNonOk(status, responseBody);
          const result = /"result":"([a-z_]+)"/.exec(responseBody)?.[1] ?? "unreadable";
          outcomes.results[result] = (outcomes.results[result] ?? 0) + 1;
        },
      },
    ];
  } else if (bearerTokens?.length) {
    request.requests = [
      {
        setupRequest: (req) => {
          const token = bearerTokens[outcomes.tokensSent % bearerTokens.length];
          outcomes.tokensSent += 1;
          return { ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } };
        },
        onResponse: (status, responseBody) => {
          if (status >= 200 && status < 300) return;
          countNonOk(status, responseBody);
        },
      },
    ];
  }
  return { request, outcomes };
}

async function runScenario(scenario, base, opts) {
  const startOffset = statSync(serverLog).size;
  const overrides = (await scenario.setup?.({ base, opts })) ?? {};
  let spec = { ...scenario, ...overrides };
  // Warm-up: isolates, Durable Objects and JIT get going; the numbers are not reported. A scenario
  // that consumes state (on-sale) warms up against its own `warmup` target instead.
  let warmup = null;
  if (opts.warmup > 0) {
    const { request } = loadOptions(base, spec.warmup ? { ...spec, ...spec.warmup } : spec, opts);
    warmup = await autocannon({ ...request, duration: opts.warmup });
  }
  // A scenario may prepare its measured target from the warm-up (on-sale sizes its sale by it).
  if (spec.afterWarmup) spec = { ...spec, ...(await spec.afterWarmup({ warmup })) };
  // The warm-up's emails go out before the measured run, so the emails left at its end are its own.
  if (spec.drainsEmails) await waitForQuiet(base);
  // The control: ping just before and just after the measured run, on the server as the scenario's
  // setup left it, so the paired ratio compares the two under the same conditions (see controlPing).
  const controlBefore = opts.control && scenario.name !== BASELINE ? await controlPing(base, opts) : null;
  const measured = loadOptions(base, spec, opts);
  const logOffset = statSync(serverLog).size;
  measured.outcomes.startedAt = Date.now();
  // --profile: a CPU profile of the Worker's isolate over the measured run (it costs some throughput).
  const stopProfile = opts.profile ? await startProfile(opts.inspectorPort, scenario.name, resultsDir) : null;
  const cpuBefore = serverCpu(opts.serverPgid);
  const r = await autocannon({ ...measured.request, duration: opts.duration });
  const cpu = cpuPerRequest(cpuBefore, serverCpu(opts.serverPgid), r["2xx"] + r.non2xx);
  if (stopProfile) printProfile(scenario.name, await stopProfile());
  // Emails the run caused that the (local, single) queue consumer had not sent by its end: their
  // delivery is part of what the requests cost, so it is measured until the backlog is gone.
  let emails = null;
  if (spec.drainsEmails) {
    const atEnd = await emailBacklog(base);
    const drainStarted = Date.now();
    const left = await waitForQuiet(base, { quiet: true });
    const all = cpuPerRequest(cpuBefore, serverCpu(opts.serverPgid), r["2xx"] + r.non2xx);
    emails = { atEnd, left, drainSeconds: (Date.now() - drainStarted) / 1000, cpuMsPerRequest: all?.total ?? null };
  }
  const controlAfter = controlBefore ? await controlPing(base, opts) : null;
  const control = controlBefore && controlAfter ? pairControls(controlBefore, controlAfter) : null;
  const row = {
    name: scenario.name,
    method: spec.method,
    path: spec.path,
    reqPerSec: r.requests.average,
    // autocannon records the latency of 2xx responses only.
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r["2xx"] + r.non2xx,
    non2xx: r.non2xx,
    // autocannon counts timeouts among errors too.
    errors: r.errors,
    timeouts: r.timeouts,
    serverErrors: serverErrorsSince(logOffset),
    // Setup and warm-up included: a reload there changes what the run measures too.
    serverRestarts: serverRestartsSince(startOffset),
    statusCodes: Object.fromEntries(Object.entries(r.statusCodeStats).map(([code, s]) => [code, s.count])),
    // Server CPU per request (all of wrangler dev's processes): what a request costs, whatever else
    // the machine is doing; the bench's own process is not counted.
    cpuMsPerRequest: cpu?.total ?? null,
    cpuMsPerRequestByProcess: cpu?.byName ?? null,
    emails,
    control,
    pairedRatio: control ? r.requests.average / control.reqPerSec : null,
    pairedCpuRatio: control?.cpuMsPerRequest && cpu?.total ? control.cpuMsPerRequest / cpu.total : null,
  };
  if (spec.after) Object.assign(row, await spec.after({ result: r, outcomes: measured.outcomes }));
  return row;
}

/**
 * The paired control: `ping` for half of --duration, run right before and right after a scenario's
 * measured run (after its setup and warm-up). The first `ping` row is measured on a fresh server; a
 * later scenario runs on a server that earlier scenarios and its own fixtures have loaded (tens of
 * thousands of users and tickets, a larger heap), on a shared machine whose speed drifts over a
 * minutes-long run. Both change the ping just as much as the route, so the paired ratio (scenario ÷
 * the two controls' mean) compares like with like; the `ratio` column keeps the first ping.
 */
async function controlPing(base, opts) {
  const spec = SCENARIOS.find((s) => s.name === BASELINE);
  const { request } = loadOptions(base, spec, opts);
  const before = serverCpu(opts.serverPgid);
  const r = await autocannon({ ...request, duration: Math.max(1, opts.duration / 2) });
  const cpu = cpuPerRequest(before, serverCpu(opts.serverPgid), r["2xx"] + r.non2xx);
  return { reqPerSec: r.requests.average, cpuMsPerRequest: cpu?.total ?? null, errors: r.errors + r.non2xx };
}

/** The mean of the two controls around a run, each kept too (their spread shows the drift). */
function pairControls(before, after) {
  const mean = (a, b) => (a === null || b === null ? null : (a + b) / 2);
  return {
    reqPerSec: (before.reqPerSec + after.reqPerSec) / 2,
    cpuMsPerRequest: mean(before.cpuMsPerRequest, after.cpuMsPerRequest),
    before,
    after,
  };
}

/**
 * Waits (up to QUIET_TIMEOUT_MS) until the email consumer has sent what earlier scenarios queued
 * (on-sale's warm-up alone queues thousands of confirmations): otherwise that delivery runs during,
 * and is measured as part of, whatever scenario comes next.
 */
async function waitForQuiet(base, { quiet = false } = {}) {
  const started = Date.now();
  let emails = 0;
  for (;;) {
    emails = await emailBacklog(base);
    if (emails === 0 || Date.now() - started > QUIET_TIMEOUT_MS) break;
    await sleep(250);
  }
  const waited = (Date.now() - started) / 1000;
  if (quiet) return emails;
  if (emails > 0) console.log(`bench:   ${emails} emails still unsent after ${waited.toFixed(0)} s; going on`);
  else if (waited >= 1) console.log(`bench:   waited ${waited.toFixed(1)} s for queued emails to go out`);
  return emails;
}

/** GET /dev/fixtures/backlog: emails written and not yet sent (0 when the route is unavailable). */
async function emailBacklog(base) {
  const res = await fetch(`${base}/dev/fixtures/backlog`);
  return res.ok ? (await res.json()).emails : 0;
}

/**
 * Waits (up to QUIET_TIMEOUT_MS) until the server has written nothing for LOG_QUIET_MS. After a
 * long fixture request (the gate fixture makes thousands of object calls in one request) wrangler
 * dev can go on printing for many seconds — with its local trace collector on (see startServer),
 * errors of trace sessions cancelled with the request — and that output would be measured as the
 * next scenario's cost.
 */
async function waitForQuietLog() {
  const started = Date.now();
  let size = statSync(serverLog).size;
  let quietSince = Date.now();
  while (Date.now() - quietSince < LOG_QUIET_MS && Date.now() - started < QUIET_TIMEOUT_MS) {
    await sleep(250);
    const now = statSync(serverLog).size;
    if (now !== size) {
      size = now;
      quietSince = Date.now();
    }
  }
  const waited = (Date.now() - started - LOG_QUIET_MS) / 1000;
  if (waited >= 1) console.log(`bench:   waited ${waited.toFixed(1)} s for the server's output to settle`);
}

/** POST /dev/fixtures/on-sale: a published free event and `users` buyers with access tokens. */
async function onSaleFixture(base, users, capacity) {
  const res = await fetch(`${base}/dev/fixtures/on-sale`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ users, capacity }),
  });
  if (res.status !== 201) {
    const text = await res.text();
    const hint = /restarted mid-request/.test(text)
      ? " (wrangler reloaded the Worker: a source file changed; run again)"
      : "";
    throw new Error(`on-sale fixture: ${res.status} ${text}${hint}`);
  }
  return res.json();
}

/**
 * on-sale: a warm-up event first (when there is a warm-up), then the event to sell, sized from the
 * warm-up's selling rate unless --on-sale-capacity says otherwise; after the run, the fixture's
 * check: what the object sold against its capacity, what D1 holds, and any oversell.
 */
async function onSaleSetup({ base, opts }) {
  const ordersPath = (eventId) => `/api/v1/events/${encodeURIComponent(eventId)}/orders`;
  const warm = opts.warmup > 0 ? await onSaleFixture(base, ON_SALE_WARMUP_USERS, ON_SALE_WARMUP_CAPACITY) : null;
  return {
    warmup: warm ? { path: ordersPath(warm.eventId), bearerTokens: warm.tokens } : undefined,
    afterWarmup: async ({ warmup }) => {
      let capacity = opts.onSaleCapacity;
      let sizing = "fixed (--on-sale-capacity)";
      if (capacity === "auto") {
        // What the warm-up event sold (including requests still in flight when it stopped): with
        // latencies near a second, counting only the responses inside a 2 s warm-up undercounts.
        const warmSold = warmup && warm ? (await onSaleCheck(base, warm.eventId)).sold : 0;
        const warmRate = warmSold > 0 ? warmSold / warmup.duration : null;
        capacity = warmRate
          ? Math.max(ON_SALE_MIN_CAPACITY, Math.round(warmRate * opts.duration * ON_SALE_SELLING_SHARE))
          : ON_SALE_CAPACITY_WITHOUT_WARMUP;
        sizing = warmRate
          ? `auto: the warm-up sold ${warmRate.toFixed(0)} orders/s; sized to sell out ${ON_SALE_SELLING_SHARE * 100}% into ${opts.duration} s`
          : "auto without a warm-up";
      }
      const started = Date.now();
      const sale = await onSaleFixture(base, opts.onSaleUsers, capacity);
      console.log(
        `bench:   sale: ${opts.onSaleUsers} buyers, capacity ${capacity} (${sizing}); ` +
          `fixture made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return {
        path: ordersPath(sale.eventId),
        bearerTokens: sale.tokens,
        drainsEmails: true,
        after: ({ result, outcomes }) => onSaleOutcome(base, sale, capacity, sizing, result, outcomes, opts),
      };
    },
  };
}

/** GET /dev/fixtures/on-sale/:eventId/check: pushes the object's outbox to D1, then counts both. */
async function onSaleCheck(base, eventId) {
  const res = await fetch(`${base}/dev/fixtures/on-sale/${encodeURIComponent(eventId)}/check`);
  if (!res.ok) throw new Error(`on-sale check: ${res.status} ${await res.text()}`);
  return res.json();
}

async function onSaleOutcome(base, sale, capacity, sizing, result, outcomes, opts) {
  const check = await onSaleCheck(base, sale.eventId);
  const orders = result["2xx"];
  const soldOutMs = outcomes.firstSeenMs["409 sold-out"] ?? null;
  const soldOut409 = outcomes.nonOk["409 sold-out"] ?? 0;
  return {
    onSale: {
      eventId: sale.eventId,
      users: opts.onSaleUsers,
      capacity,
      sizing,
      orders,
      // 2xx per second over the whole measured run (selling, then sold out).
      ordersPerSec: orders / result.duration,
      // From the start until the first sold-out answer, when every request was a sale.
      soldOutAfterS: soldOutMs === null ? null : soldOutMs / 1000,
      sellingOrdersPerSec: soldOutMs === null ? orders / result.duration : orders / (soldOutMs / 1000),
      soldOut409,
      otherNon2xx: result.non2xx - soldOut409,
      nonOk: outcomes.nonOk,
      tokensReused: Math.max(0, outcomes.tokensSent - sale.tokens.length),
      check,
    },
  };
}

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
async function scanSetup({ base, opts }) {
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
function printOnSale(row, baseline) {
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
  console.log(
    `  non-2xx            ${o.soldOut409} × 409 sold-out (expected once sold out), ${o.otherNon2xx} other` +
      (other.length > 0 ? ` (${other.map(([key, n]) => `${n} × ${key}`).join(", ")})` : ""),
  );
  console.log(
    `  oversold           ${c.oversold} (sold ${c.sold} / capacity ${c.capacity}, held ${c.held}, ` +
      `D1 tickets ${c.d1Tickets}, distinct serials ${c.distinctSerials}, over-limit buyers ${c.overLimitUsers}, ` +
      `outbox pending ${c.pending})`,
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

/** The functions with the most self time in a scenario's profile. */
function printProfile(name, { file, top }) {
  console.log(`bench:   ${name} profile (${file}), self time:`);
  for (const { fn, share } of top) console.log(`    ${(share * 100).toFixed(1).padStart(5)}%  ${fn}`);
}

async function main() {
  const opts = options();
  const [port, inspectorPort] = [await freePort(), await freePort()];
  opts.inspectorPort = inspectorPort;
  const base = `http://127.0.0.1:${port}`;
  console.log(`bench: starting the Worker on ${base} (server output: ${serverLog})`);
  const child = startServer(port, inspectorPort);
  // The server runs detached, in a process group of its own named by its pid (for CPU accounting).
  opts.serverPgid = child.pid;

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
      await waitForQuiet(base);
      console.log(`bench: ${scenario.name} (${scenario.method} ${scenario.path}) for ${opts.duration} s…`);
      rows.push(await runScenario(scenario, base, opts));
    }
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
      printOnSale(row, baseline);
    }
    for (const row of rows.filter((r) => r.scan)) {
      row.scan.ratio = baseline ? row.scan.scansPerSec / baseline : null;
      row.scan.pairedRatio = row.control ? row.scan.scansPerSec / row.control.reqPerSec : null;
      printScan(row, baseline);
    }
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
  } finally {
    await stopServer(child);
  }
}

main().catch((error) => {
  console.error("bench:", error);
  process.exitCode = 1;
});
