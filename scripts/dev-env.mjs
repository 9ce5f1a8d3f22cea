/**
 * What a local Worker needs, shared by `npm run dev` (scripts/dev.mjs) and the browser tests
 * (scripts/e2e.mjs): the development secrets and how to make each one, applying the D1 migrations
 * locally, and waiting for /health.
 */
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const wrangler = join(root, "node_modules", ".bin", "wrangler");

/** Every development secret with how to make it. */
export const DEV_VARS = {
  ENVIRONMENT: () => "development",
  // The /dev routes (mailbox, seed, bench fixtures) answer only with this set, and only on localhost.
  DEV_ROUTES: () => "1",
  HASH_PEPPER: () => randomBytes(32).toString("base64url"),
  JWT_KEYS: () => JSON.stringify([{ kid: "dev-1", secret: randomBytes(32).toString("base64url") }]),
  COOKIE_SECRET: () => randomBytes(32).toString("base64url"),
  MEDIA_SIGNING_KEYS: () => JSON.stringify([{ kid: "dev-1", secret: randomBytes(32).toString("base64url") }]),
  // Ed25519 private JWK for QR ticket tokens, so codes stay valid across restarts of npm run dev.
  TICKET_SIGNING_KEYS: () => {
    const { privateKey } = generateKeyPairSync("ed25519");
    const { x, d } = privateKey.export({ format: "jwk" });
    return JSON.stringify([{ kid: "dev-1", kty: "OKP", crv: "Ed25519", x, d }]);
  },
  // Personal-data encryption keys (AES-256-GCM) and the email blind-index key: stable across restarts,
  // since the local D1 keeps what they sealed.
  PII_KEYS: () => JSON.stringify([{ kid: "dev-1", key: randomBytes(32).toString("base64url") }]),
  PII_INDEX_KEY: () => randomBytes(32).toString("base64url"),
  // TURNSTILE_SECRET is left out on purpose: without it the human challenge is off locally.
};

/** A fresh value for every development secret. */
export function freshDevVars() {
  return Object.fromEntries(Object.entries(DEV_VARS).map(([key, make]) => [key, make()]));
}

/**
 * Applies the D1 migrations to the local database (wrangler's default state, or `persistTo`) of the
 * Worker in `cwd` (this repository unless told otherwise).
 * Returns false when wrangler failed (its output went to this process's terminal).
 */
export function applyMigrations({ persistTo, stdio = "inherit", cwd = root } = {}) {
  const args = ["d1", "migrations", "apply", "DB", "--local", ...(persistTo ? ["--persist-to", persistTo] : [])];
  const result = spawnSync(wrangler, args, { cwd, stdio, env: { ...process.env, CI: "true" } });
  return result.status === 0;
}

/** Polls `${base}/health` until it answers 200 (true), the child exits or the time is up (false). */
export async function waitForHealth(base, child, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const res = await fetch(`${base}/health`);
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return false;
}

/** A port the OS just handed out; released at once so wrangler can bind it. */
export function freePort() {
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

/** Whether any process of the group `pgid` (a detached child's pid) is still running. */
export function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to a detached child's whole group (wrangler, esbuild, workerd), SIGKILL after 5 s. */
export async function stopGroup(child) {
  if (!child?.pid || !groupAlive(child.pid)) return;
  process.kill(-child.pid, "SIGTERM");
  const deadline = Date.now() + 5000;
  while (groupAlive(child.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(child.pid)) process.kill(-child.pid, "SIGKILL");
}
