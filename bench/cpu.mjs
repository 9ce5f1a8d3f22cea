/**
 * Server CPU per request: the CPU time of the server's process group (wrangler's Node, its proxy and
 * the Worker's workerd) read from /proc before and after a run, divided by the requests it answered.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Linux clock ticks per second (USER_HZ): /proc reports CPU times in these. */
const CLOCK_TICKS = 100;

/**
 * CPU time (ms) used so far by each process of the server's process group (wrangler's Node process,
 * its proxy and the Worker's workerd), from /proc; null where /proc is not there. Keyed by pid with
 * a short name, so a scenario's share of each can be told apart.
 */
export function serverCpu(pgid) {
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
export function cpuPerRequest(before, after, requests) {
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
