/**
 * CPU profiles of the Worker's isolate during a measured run (`npm run bench -- --profile`), taken
 * through the inspector that `wrangler dev` exposes (Chrome DevTools Protocol over WebSocket). The
 * Worker and its Durable Objects share that isolate locally, so one profile shows where a route's
 * JavaScript time goes; time spent outside JavaScript (SQLite, RPC plumbing, the network stack)
 * shows as "(program)" or "(idle)".
 *
 * Writes `bench/results/<scenario>.cpuprofile` (open it in Chrome DevTools → Performance, or
 * speedscope) and prints the functions with the most self time.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** The first inspector target of the user Worker (wrangler's proxy lists them at /json). */
async function targetUrl(inspectorPort) {
  const res = await fetch(`http://127.0.0.1:${inspectorPort}/json`);
  const targets = await res.json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error("no inspector target");
  return target.webSocketDebuggerUrl;
}

/**
 * A minimal DevTools Protocol client: send(method, params) → result. wrangler's inspector proxy
 * wants an Origin header and renumbers message ids, so answers are matched in the order sent (the
 * protocol answers a session's commands in order).
 */
async function connect(url) {
  const ws = new WebSocket(url, { headers: { Origin: "http://localhost" } });
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", reject, { once: true });
  });
  let nextId = 1;
  const pending = [];
  ws.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data));
    if (message.id === undefined) return; // an event, not an answer
    const waiter = pending.shift();
    if (!waiter) return;
    if (message.error) waiter.reject(new Error(message.error.message));
    else waiter.resolve(message.result);
  });
  return {
    send(method, params = {}) {
      ws.send(JSON.stringify({ id: nextId++, method, params }));
      return new Promise((resolve, reject) => pending.push({ resolve, reject }));
    },
    close() {
      ws.close();
    },
  };
}

/** Starts profiling; the returned function stops it, writes the profile and returns the top entries. */
export async function startProfile(inspectorPort, name, resultsDir) {
  const client = await connect(await targetUrl(inspectorPort));
  await client.send("Profiler.enable");
  await client.send("Profiler.setSamplingInterval", { interval: 200 });
  await client.send("Profiler.start");
  return async function stop() {
    const { profile } = await client.send("Profiler.stop");
    client.close();
    const file = join(resultsDir, `${name}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return { file, top: selfTimes(profile) };
  };
}

/** Self time per function (name and location), largest first, as shares of all samples. */
export function selfTimes(profile, limit = 25) {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const totals = new Map();
  for (const [id, count] of counts) {
    const frame = byNode.get(id)?.callFrame;
    if (!frame) continue;
    const file = frame.url ? frame.url.split("/").slice(-2).join("/") : "";
    const key = `${frame.functionName || "(anonymous)"} ${file}${file ? `:${frame.lineNumber + 1}` : ""}`;
    totals.set(key, (totals.get(key) ?? 0) + count);
  }
  const all = profile.samples.length || 1;
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, count]) => ({ fn, share: count / all }));
}
