#!/usr/bin/env node
/**
 * `npm run test:e2e [-- playwright flags] [--screenshots]`: the browser tests (e2e/) in Chromium
 * against a Worker of their own.
 * 1. a fresh temporary directory holds a copy of the Worker's files (see snapshotWorker), the local
 *    state (D1, Durable Objects, R2, Queues), the environment file (freshly generated development
 *    secrets, as `npm run dev` makes them) and the Worker's log, so a run never sees, nor leaves
 *    anything in, a developer's `npm run dev` data;
 * 2. applies the D1 migrations into that state;
 * 3. starts `wrangler dev` on free ports (HTTP and inspector) in a process group of its own and
 *    waits for /health;
 * 4. runs `playwright test -c e2e/playwright.config.ts` with BASE_URL, passing extra flags through;
 * 5. stops the Worker (also on failure and Ctrl-C) and exits with Playwright's code. A failed run
 *    keeps the directory (Worker log, traces) and says where it is.
 * `--screenshots` also writes docs/screenshots/*.png (e2e/screenshots.spec.ts).
 * Chromium is the system's (CHROMIUM_PATH, default /usr/bin/chromium): Playwright's own browser
 * download is not used.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations, freePort, freshDevVars, root, stopGroup, waitForHealth, wrangler } from "./dev-env.mjs";

/**
 * Raised for every policy the tests pass through: all requests come from one address and many
 * accounts sign up, sign in and claim within a minute. The tests are about pages, not the limits
 * (the unit suite covers those).
 */
const RATE_LIMITS = {
  api: { limit: 1_000_000, windowSeconds: 60 },
  "auth-login": { limit: 10_000, windowSeconds: 60 },
  "auth-register": { limit: 10_000, windowSeconds: 60 },
  "auth-verify-email": { limit: 10_000, windowSeconds: 60 },
  "auth-reset": { limit: 10_000, windowSeconds: 60 },
  "otp-request": { limit: 10_000, windowSeconds: 60 },
  "otp-verify-ip": { limit: 10_000, windowSeconds: 60 },
  "challenge-ip": { limit: 10_000, windowSeconds: 60 },
  "challenge-email": { limit: 10_000, windowSeconds: 60 },
  orders: { limit: 10_000, windowSeconds: 60 },
  "dashboard-write": { limit: 10_000, windowSeconds: 60 },
  posts: { limit: 10_000, windowSeconds: 60 },
  comments: { limit: 10_000, windowSeconds: 60 },
  "handle-claim": { limit: 10_000, windowSeconds: 60 },
  "links-write": { limit: 10_000, windowSeconds: 60 },
  scanner: { limit: 10_000, windowSeconds: 1 },
  "email-global": { limit: 100_000, windowSeconds: 60 },
  "email-recipient": { limit: 10_000, windowSeconds: 60 },
};

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const playwright = join(root, "node_modules", ".bin", "playwright");

function fail(message) {
  console.error(`e2e: ${message}`);
  process.exit(1);
}

function tail(path, lines) {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

if (!existsSync(chromium)) {
  fail(
    `no Chromium at ${chromium}. Install Debian's (apt-get install -y chromium) or point CHROMIUM_PATH at a ` +
      "Chromium or Chrome binary.",
  );
}
if (!existsSync(playwright)) fail("node_modules/.bin/playwright is missing: run npm ci first.");

const args = process.argv.slice(2);
const screenshots = args.includes("--screenshots");
const passthrough = args.filter((a) => a !== "--screenshots");
// Screenshots alone by default: a fresh Worker shows the demo data, not what other specs made.
if (screenshots && !passthrough.some((a) => a.endsWith(".spec.ts"))) passthrough.push("e2e/screenshots.spec.ts");

/**
 * The Worker's files as they are now, copied into the run's directory: wrangler dev reloads the Worker
 * when a file it was built from changes, dropping requests in flight, so an edit made during the run
 * (in another terminal) would fail whichever test was talking to it. The run tests the tree it
 * started with; node_modules is linked, not copied.
 */
const WORKER_FILES = [
  "src",
  "durable-objects",
  "queues",
  "public",
  "migrations",
  "wrangler.toml",
  "package.json",
  "tsconfig.json",
];

function snapshotWorker(into) {
  mkdirSync(into);
  for (const name of WORKER_FILES) cpSync(join(root, name), join(into, name), { recursive: true });
  symlinkSync(join(root, "node_modules"), join(into, "node_modules"), "dir");
}

const started = Date.now();
const dir = mkdtempSync(join(tmpdir(), "gatehouse-e2e-"));
const app = join(dir, "app");
const state = join(dir, "state");
const results = join(dir, "results");
const log = join(dir, "wrangler.log");
mkdirSync(state);
snapshotWorker(app);

const port = await freePort();
const inspectorPort = await freePort();
const base = `http://localhost:${port}`;
const vars = {
  ...freshDevVars(),
  PUBLIC_URL: base,
  RATE_LIMITS: JSON.stringify(RATE_LIMITS),
  // Every sign-up, sign-in and reset hashes a password, and at the production cost (ln=17) each hash
  // holds the isolate for most of a second on a busy machine. The browser tests are about pages; the
  // unit suite runs the production cost (test/lib/password.test.ts).
  PASSWORD_SCRYPT: "ln=12,r=8,p=1",
};
const envFile = join(dir, "e2e.env");
const envLines = Object.entries(vars).map(([key, value]) => `${key}=${value}`);
writeFileSync(envFile, `${envLines.join("\n")}\n`, { mode: 0o600 });

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(0)} s`;
console.log(`e2e: state in ${dir}`);
if (!applyMigrations({ persistTo: state, cwd: app, stdio: ["ignore", "ignore", "inherit"] })) {
  fail("applying the D1 migrations failed");
}
console.log(`e2e: migrations applied after ${seconds(started)}`);

const logFd = openSync(log, "w");
const server = spawn(
  wrangler,
  [
    "dev",
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    String(inspectorPort),
    "--persist-to",
    state,
    // Only this file: with --env-file wrangler does not read a developer's .dev.vars.
    "--env-file",
    envFile,
    "--show-interactive-dev-session=false",
  ],
  {
    cwd: app,
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: {
      ...process.env,
      CI: "true",
      WRANGLER_SEND_METRICS: "false",
      // wrangler's local trace collector is tooling overhead on every request; production has none.
      X_LOCAL_OBSERVABILITY: "false",
    },
  },
);
closeSync(logFd);

let runner;
let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  if (runner && runner.exitCode === null) runner.kill("SIGTERM");
  await stopGroup(server);
  if (code === 0 && !process.env.E2E_KEEP) rmSync(dir, { recursive: true, force: true });
  else console.error(`e2e: kept ${dir} (wrangler.log, results/ with traces of failed tests)`);
  console.log(`e2e: finished in ${seconds(started)}`);
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => shutdown(130));

if (!(await waitForHealth(base, server))) {
  console.error(`e2e: the Worker did not answer ${base}/health; its log ends with:\n${tail(log, 40)}`);
  await shutdown(1);
}
console.log(`e2e: Worker ready at ${base} after ${seconds(started)}`);

runner = spawn(playwright, ["test", "-c", join(root, "e2e", "playwright.config.ts"), ...passthrough], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    BASE_URL: base,
    CHROMIUM_PATH: chromium,
    E2E_OUTPUT_DIR: results,
    E2E_SERVER_LOG: log,
    ...(screenshots ? { E2E_SCREENSHOTS: "1" } : {}),
  },
});
runner.on("exit", (code, signal) => shutdown(code ?? (signal ? 1 : 0)));
server.on("exit", (code) => {
  if (stopping) return;
  console.error(`e2e: wrangler dev exited (${code}) during the run; its log ends with:\n${tail(log, 40)}`);
  shutdown(1);
});
