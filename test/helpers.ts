/** Shared test helpers: requests through the real Worker entry, with a distinct client address. */
import { exports } from "cloudflare:workers";
import { createApp } from "../src/app";

/**
 * A fresh public IPv4 address, so tests do not share rate-limit buckets: random over 11.0.0.1 to
 * 99.255.255.254 (no private, loopback, shared or documentation range among them), about 1.5 billion
 * addresses. Random rather than counted: the files that share a Miniflare (vitest.config.ts) each load
 * this module afresh, so a counter would hand every file the same addresses and budgets.
 */
export function freshIp(): string {
  const [a = 0, b = 0, c = 0, d = 0] = crypto.getRandomValues(new Uint32Array(4));
  return `${11 + (a % 89)}.${b % 256}.${c % 256}.${1 + (d % 254)}`;
}

export interface CallInit extends RequestInit {
  ip?: string | null;
}

/** Sends a request to the Worker's default export, setting CF-Connecting-IP unless ip is null. */
export function call(path: string, init: CallInit = {}): Promise<Response> {
  return send(`https://gatehouse.test${path}`, init);
}

/** As call, addressed to a loopback host: the /dev routes answer nothing else (src/features/dev/guard.ts). */
export function devCall(path: string, init: CallInit = {}): Promise<Response> {
  return send(`http://localhost${path}`, init);
}

function send(url: string, init: CallInit): Promise<Response> {
  const { ip, ...rest } = init;
  const headers = new Headers(rest.headers);
  const address = ip === undefined ? freshIp() : ip;
  if (address !== null && !headers.has("CF-Connecting-IP")) headers.set("CF-Connecting-IP", address);
  return exports.default.fetch(new Request(url, { ...rest, headers }));
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** Asserts the shape every problem response shares and returns the parsed body. */
export async function problemOf(response: Response): Promise<Record<string, unknown> & { type: string }> {
  if (response.headers.get("Content-Type") !== "application/problem+json") {
    throw new Error(`expected problem+json, got ${response.headers.get("Content-Type")}: ${await response.text()}`);
  }
  return (await response.json()) as Record<string, unknown> & { type: string };
}

/**
 * POSTs JSON through a fresh app on `bindings` with an execution context, and waits for the work the
 * request left running after its answer (waitUntil: account emails are written after the answer so
 * known and unknown addresses answer alike) before returning the response.
 */
export async function postSettled(bindings: Env, path: string, payload: unknown): Promise<Response> {
  const after: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => after.push(p), passThroughOnException: () => {}, props: {} };
  const res = await createApp().request(
    `https://gatehouse.test${path}`,
    {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify(payload),
    },
    bindings,
    ctx as unknown as ExecutionContext,
  );
  await Promise.all(after);
  return res;
}
