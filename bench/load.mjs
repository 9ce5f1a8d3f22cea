/**
 * One scenario's load: the autocannon options (a bearer token or a scan token per request, answers
 * counted), setup, warm-up, the measured run with its server CPU and errors, the emails it left to
 * send, and the paired `ping` control around it; returns the scenario's row.
 */
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import autocannon from "autocannon";
import { cpuPerRequest, serverCpu } from "./cpu.mjs";
import { startProfile } from "./profile.mjs";
import { printProfile } from "./report.mjs";
import { BASELINE, SCENARIOS } from "./scenarios/index.mjs";
import {
  emailBacklog,
  resultsDir,
  serverErrorsSince,
  serverLog,
  serverRestartsSince,
  waitForQuiet,
} from "./server.mjs";

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
  const outcomes = { startedAt: 0, tokensSent: 0, answered: 0, nonOk: {}, firstSeenMs: {}, results: {} };
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
          outcomes.answered += 1;
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
          outcomes.answered += 1;
          if (status >= 200 && status < 300) return;
          countNonOk(status, responseBody);
        },
      },
    ];
  }
  return { request, outcomes };
}

export async function runScenario(scenario, base, opts) {
  // A scenario that drives its load from inside the Worker (inventory) runs itself and returns its row.
  if (scenario.run) return scenario.run({ base, opts });
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
  // Last thing before the measured run: what the scenario needs ready (on-sale loads its shard objects).
  if (spec.beforeMeasure) await spec.beforeMeasure();
  const measured = loadOptions(base, spec, opts);
  const logOffset = statSync(serverLog).size;
  measured.outcomes.startedAt = Date.now();
  // --profile: a CPU profile of the Worker's isolate over the measured run (it costs some throughput).
  const stopProfile = opts.profile ? await startProfile(opts.inspectorPort, scenario.name, resultsDir) : null;
  const cpuBefore = serverCpu(opts.serverPgid);
  const timeline = cpuTimeline(cpuBefore, measured.outcomes, opts.serverPgid);
  const r = await autocannon({ ...measured.request, duration: opts.duration });
  const cpu = cpuPerRequest(cpuBefore, serverCpu(opts.serverPgid), r["2xx"] + r.non2xx);
  timeline.stop();
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
  if (spec.after) {
    Object.assign(row, await spec.after({ result: r, outcomes: measured.outcomes, timeline: timeline.samples }));
  }
  return row;
}

/** How often the measured run's server CPU is sampled (cpuTimeline). */
const CPU_SAMPLE_MS = 100;

/**
 * Server CPU through the measured run: every CPU_SAMPLE_MS, the CPU used since its start and the
 * answers counted by then (`outcomes.answered`: bearer-token and scan loads count them), so a scenario
 * can tell what one phase of its run cost per request (on-sale: the selling phase, before sold-out
 * answers, much cheaper than a sale, dilute the whole run's figure). Reading /proc every 100 ms costs
 * the bench's own process, not the server's.
 */
function cpuTimeline(before, outcomes, pgid) {
  const samples = [];
  const timer = setInterval(() => {
    const now = cpuPerRequest(before, serverCpu(pgid), 1);
    if (now) samples.push({ ms: Date.now() - outcomes.startedAt, cpuMs: now.total, answered: outcomes.answered });
  }, CPU_SAMPLE_MS);
  return { samples, stop: () => clearInterval(timer) };
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
