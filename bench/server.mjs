/**
 * The bench's server: `scripts/dev.mjs` (wrangler dev) on a free port in a process group of its own,
 * the rate policies it is started with, waiting for it to answer, to finish seeding and to go quiet
 * (email backlog, log output), reading its log for errors and reloads, and stopping it.
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export { freePort, groupAlive, stopGroup as stopServer } from "../scripts/dev-env.mjs";

export const resultsDir = join(root, "bench", "results");
export const serverLog = join(resultsDir, "server.log");

/**
 * Raised for every policy a scenario passes through, so no request is denied and the bench measures
 * the allow path. GCRA stores only a theoretical arrival time, so the state left in the local
 * RateLimiter objects at this rate (milliseconds ahead of now) does not affect later `npm run dev`s.
 */
export const RATE_LIMITS = {
  api: { limit: 100_000_000, windowSeconds: 60 },
  // `orders` sets both orders-user and orders-ip (on-sale: one address for every buyer).
  orders: { limit: 100_000_000, windowSeconds: 60 },
  // Per device token (`scan`: a handful of devices, each scanning thousands of tickets a second).
  scanner: { limit: 100_000_000, windowSeconds: 1 },
  // The order confirmations on-sale sends: at the default 100 a minute, a sale's emails would wait
  // (re-queued, delayed) for hours and that waiting would load every later run.
  "email-global": { limit: 100_000_000, windowSeconds: 60 },
  // profile: one address reading one public page; its setup adds 100 links at once.
  "profile-view": { limit: 100_000_000, windowSeconds: 60 },
  "links-write": { limit: 100_000_000, windowSeconds: 60 },
};

/** Longest wait for the email backlog of earlier scenarios to drain before the next one. */
const QUIET_TIMEOUT_MS = 180_000;
/** Server output silent this long counts as settled (see waitForQuietLog). */
const LOG_QUIET_MS = 2_000;
const STARTUP_TIMEOUT_MS = 120_000;
/** dev.mjs seeds once /health answers; waiting for its outcome keeps seeding out of the first scenario. */
const SEED_TIMEOUT_MS = 30_000;

/**
 * dev.mjs in its own process group (detached), so stopServer can signal dev.mjs, wrangler, esbuild
 * and workerd at once. Output goes to a file: a pipe nobody drains would stall the server, and the
 * per-request log lines would bury the table.
 * No --persist-to: dev.mjs applies migrations to the default local state and does not pass the flag
 * on, so a separate state directory would have an unmigrated D1. See bench/README.md.
 */
export function startServer(port, inspectorPort) {
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function readLog() {
  try {
    return readFileSync(serverLog, "utf8");
  } catch {
    return "";
  }
}

export async function waitForServer(base, child) {
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
export function serverErrorsSince(offset) {
  const text = readFileSync(serverLog).subarray(offset).toString("utf8");
  return text.split("\n").filter((line) => line.includes('"level":"error"')).length;
}

/**
 * wrangler dev reloads the Worker when a source file changes (and restarts a crashed runtime): the
 * Durable Objects' in-memory state goes and requests in flight fail, so such a run is not comparable.
 */
export function serverRestartsSince(offset) {
  const text = readFileSync(serverLog).subarray(offset).toString("utf8");
  return text.split("\n").filter((line) => /Reloading local server|runtime crashed/.test(line)).length;
}

/**
 * Waits (up to QUIET_TIMEOUT_MS) until the email consumer has sent what earlier scenarios queued
 * (on-sale's warm-up alone queues thousands of confirmations): otherwise that delivery runs during,
 * and is measured as part of, whatever scenario comes next.
 */
export async function waitForQuiet(base, { quiet = false } = {}) {
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
export async function emailBacklog(base) {
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
export async function waitForQuietLog() {
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
