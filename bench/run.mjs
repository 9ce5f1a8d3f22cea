#!/usr/bin/env node
/**
 * `npm run bench [-- --connections N --duration S --warmup S --only a,b]`: the load benchmark.
 * Owns the run: starts the Worker locally (server.mjs), runs each scenario with autocannon, warm-up
 * first, not counted (load.mjs, scenarios/), reports (report.mjs: the table and
 * bench/results/latest.json), and stops every process it started, however the run ends. Flags: cli.mjs.
 * It only reports: no timing is asserted, because a shared 2-core machine makes absolute numbers
 * noisy. Compare `ratio` (req/s relative to the `ping` baseline of the same run) instead.
 */

import { options } from "./cli.mjs";
import { runScenario } from "./load.mjs";
import { reportRun } from "./report.mjs";
import {
  freePort,
  groupAlive,
  readLog,
  serverLog,
  startServer,
  stopServer,
  waitForQuiet,
  waitForServer,
} from "./server.mjs";

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
    reportRun(rows, opts);
  } finally {
    await stopServer(child);
  }
}

main().catch((error) => {
  console.error("bench:", error);
  process.exitCode = 1;
});
