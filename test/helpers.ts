/** Shared test helpers: requests through the real Worker entry, with a distinct client address. */
import { exports } from "cloudflare:workers";
import { createApp } from "../src/app";

let counter = 0;

/** A fresh documentation-range address (RFC 5737), so tests do not share rate-limit buckets. */
export function freshIp(): string {
  counter += 1;
  return `198.51.${Math.floor(counter / 250) % 250}.${(counter % 250) + 1}`;
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
