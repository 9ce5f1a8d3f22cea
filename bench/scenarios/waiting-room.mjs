/**
 * waiting-room: an on-sale hotter than its admit rate (issue 20). An event whose queue is on, admitting
 * R a second (--waiting-room-rate), and distinct buyers arriving at 5×R a second for --duration
 * seconds. Each buyer joins the queue (POST /api/v1/events/:id/queue), polls it at the
 * pollAfterSeconds it is told, and orders with its pass once admitted. Stateful, so driven here with
 * Node's fetch (undici) rather than autocannon.
 *
 * Reported: the queue answer's latency (joins and polls, p50 and p99); admissions against arrival
 * order (the queue admits by number: the skew is how far the number order strays from the order the
 * buyers arrived in, by rank); the admit rate seen by the buyers; the time from arrival to admission;
 * the orders (sold, then 409 sold-out once the capacity is gone); 0 oversell (the fixture's check);
 * and every other non-2xx as an error.
 *
 * Locally the arrivals are bounded by the HTTP front end (wrangler dev's proxy and one workerd on a
 * shared machine, a few hundred requests a second for everything), not by the queue's objects: a rate
 * the machine cannot carry shows up as queue latency, not as a queue limit.
 */

import { statSync } from "node:fs";
import { serverErrorsSince, serverLog, serverRestartsSince } from "../server.mjs";

export const WAITING_ROOM_RATE = 50;
/** Arrivals per second, as a multiple of the admit rate (issue 20: 5×). */
const ARRIVAL_FACTOR = 5;
/** Share of the buyers there are tickets for: the tail meets a sold-out, as in a real hot sale. */
const CAPACITY_SHARE = 0.8;
/** A buyer gives up after this long in the queue (a run that never admits must still end). */
const GIVE_UP_MS = 10 * 60 * 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The `sub` of an access token (the buyer's user id), read without checking: ours, just minted. */
function subject(token) {
  const payload = token.split(".")[1];
  return JSON.parse(Buffer.from(payload, "base64url").toString("utf8")).sub;
}

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function get(base, path) {
  const res = await fetch(`${base}${path}`);
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

const problemType = (text) => /"type":"[^"]*\/problems\/([a-z-]+)"/.exec(text)?.[1] ?? "other";

/**
 * One buyer: join, poll as told until admitted (a 503 is retried after its Retry-After and counted),
 * then order with the pass. Everything it saw goes into `stats`.
 */
async function buyer(base, eventId, token, index, stats) {
  const auth = { authorization: `Bearer ${token}` };
  const record = { index, arrivedAt: Date.now(), admittedAt: null, polls: 0, order: null };
  stats.buyers[index] = record;
  while (Date.now() - record.arrivedAt < GIVE_UP_MS) {
    const sent = Date.now();
    let res;
    try {
      res = await fetch(`${base}/api/v1/events/${encodeURIComponent(eventId)}/queue`, {
        method: "POST",
        headers: auth,
      });
    } catch (error) {
      stats.errors[`queue: ${error.cause?.code ?? error.message}`] =
        (stats.errors[`queue: ${error.cause?.code ?? error.message}`] ?? 0) + 1;
      await sleep(1000);
      continue;
    }
    const text = await res.text();
    stats.queueLatencies.push(Date.now() - sent);
    record.polls += 1;
    if (res.status !== 200) {
      const key = `queue ${res.status} ${problemType(text)}`;
      stats.errors[key] = (stats.errors[key] ?? 0) + 1;
      if (res.status !== 503 && res.status !== 429) return;
      await sleep(Number(res.headers.get("retry-after") ?? 1) * 1000);
      continue;
    }
    const answer = JSON.parse(text);
    if (answer.state === "admitted") {
      record.admittedAt = Date.now();
      const orderSent = Date.now();
      const ordered = await fetch(`${base}/api/v1/events/${encodeURIComponent(eventId)}/orders`, {
        method: "POST",
        headers: {
          ...auth,
          "content-type": "application/json",
          "queue-pass": answer.pass,
          "idempotency-key": `wr-${index}-${orderSent}`,
        },
        body: JSON.stringify({ quantity: 1 }),
      });
      const orderText = await ordered.text();
      stats.orderLatencies.push(Date.now() - orderSent);
      record.order = ordered.status === 201 ? "201" : `${ordered.status} ${problemType(orderText)}`;
      stats.orders[record.order] = (stats.orders[record.order] ?? 0) + 1;
      return;
    }
    await sleep(answer.pollAfterSeconds * 1000);
  }
  stats.errors["gave up waiting"] = (stats.errors["gave up waiting"] ?? 0) + 1;
}

/** Rank displacement between two orders of the same buyers: max, mean and p99 of |rank a − rank b|. */
function displacement(arrivalOrder, admissionOrder) {
  const rankOf = new Map(arrivalOrder.map((id, i) => [id, i]));
  const moves = admissionOrder.filter((id) => rankOf.has(id)).map((id, i) => Math.abs(i - rankOf.get(id)));
  const sorted = [...moves].sort((a, b) => a - b);
  return {
    compared: moves.length,
    max: sorted.length ? sorted[sorted.length - 1] : 0,
    mean: moves.length ? moves.reduce((n, m) => n + m, 0) / moves.length : 0,
    p99: percentile(sorted, 99) ?? 0,
    inPlace: moves.filter((m) => m === 0).length,
  };
}

/**
 * The whole scenario (run.mjs calls it instead of an autocannon load): the fixture, the arrivals on
 * their schedule, every buyer to the end of its flow, then the checks. Returns its row.
 */
export async function waitingRoomRun({ base, opts }) {
  const startOffset = statSync(serverLog).size;
  const rate = opts.waitingRoomRate;
  const arrivalsPerSec = rate * ARRIVAL_FACTOR;
  const users = Math.round(arrivalsPerSec * opts.duration);
  const capacity = Math.max(1, Math.floor(users * CAPACITY_SHARE));
  const made = Date.now();
  const sale = await post(base, "/dev/fixtures/on-sale", {
    users,
    capacity,
    queue: { mode: "on", admitPerSecond: rate },
  });
  console.log(
    `bench:   waiting room: ${users} buyers arriving at ${arrivalsPerSec}/s for ${opts.duration} s, ` +
      `admitted at ${rate}/s, capacity ${capacity}; fixture made in ${((Date.now() - made) / 1000).toFixed(1)} s`,
  );
  const ids = sale.tokens.map(subject);
  const stats = { buyers: [], queueLatencies: [], orderLatencies: [], orders: {}, errors: {} };
  const logOffset = statSync(serverLog).size;
  const started = Date.now();
  const flows = sale.tokens.map(
    (token, i) =>
      new Promise((resolve) => {
        setTimeout(
          () => buyer(base, sale.eventId, token, i, stats).then(resolve, resolve),
          (i * 1000) / arrivalsPerSec,
        );
      }),
  );
  await Promise.all(flows);
  const elapsedMs = Date.now() - started;

  const check = await get(base, `/dev/fixtures/on-sale/${encodeURIComponent(sale.eventId)}/check`);
  const { entrants } = await get(base, `/dev/fixtures/on-sale/${encodeURIComponent(sale.eventId)}/queue`);
  // Arrival order: the order the buyers' first requests went out. Admission order: by number.
  const arrival = stats.buyers
    .filter(Boolean)
    .sort((a, b) => a.arrivedAt - b.arrivedAt || a.index - b.index)
    .map((b) => ids[b.index]);
  const admission = entrants.map((e) => e.userId);
  const skew = displacement(arrival, admission);

  const latencies = [...stats.queueLatencies].sort((a, b) => a - b);
  const orderLatencies = [...stats.orderLatencies].sort((a, b) => a - b);
  const admitted = stats.buyers.filter((b) => b?.admittedAt).map((b) => b.admittedAt);
  const waits = stats.buyers
    .filter((b) => b?.admittedAt)
    .map((b) => b.admittedAt - b.arrivedAt)
    .sort((a, b) => a - b);
  const firstAdmit = Math.min(...admitted);
  const lastAdmit = Math.max(...admitted);
  const sold = stats.orders["201"] ?? 0;
  const soldOut = stats.orders["409 sold-out"] ?? 0;
  const orderErrors = Object.entries(stats.orders)
    .filter(([key]) => key !== "201" && key !== "409 sold-out")
    .reduce((n, [, count]) => n + count, 0);
  const queueErrors = Object.values(stats.errors).reduce((n, count) => n + count, 0);
  const requests = latencies.length + orderLatencies.length;
  return {
    name: "waiting-room",
    method: "POST",
    path: "/api/v1/events/:eventId/queue",
    // The table's figures are the queue answer's (joins and polls).
    reqPerSec: (latencies.length * 1000) / elapsedMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    requests,
    non2xx: soldOut + orderErrors + queueErrors,
    errors: orderErrors + queueErrors,
    timeouts: 0,
    serverErrors: serverErrorsSince(logOffset),
    serverRestarts: serverRestartsSince(startOffset),
    statusCodes: {},
    cpuMsPerRequest: null,
    cpuMsPerRequestByProcess: null,
    emails: null,
    control: null,
    pairedRatio: null,
    pairedCpuRatio: null,
    waitingRoom: {
      eventId: sale.eventId,
      rate,
      arrivalsPerSec,
      users,
      capacity,
      elapsedMs,
      queueAnswers: latencies.length,
      queueP50Ms: percentile(latencies, 50),
      queueP99Ms: percentile(latencies, 99),
      pollsPerBuyer: latencies.length / users,
      admitted: admitted.length,
      admittedPerSec: admitted.length > 1 ? ((admitted.length - 1) * 1000) / (lastAdmit - firstAdmit) : null,
      waitP50Ms: percentile(waits, 50),
      waitP99Ms: percentile(waits, 99),
      numbered: entrants.length,
      skew,
      orders: stats.orders,
      orderP50Ms: percentile(orderLatencies, 50),
      orderP99Ms: percentile(orderLatencies, 99),
      sold,
      soldOut,
      errors: {
        ...stats.errors,
        ...Object.fromEntries(Object.entries(stats.orders).filter(([k]) => k !== "201" && k !== "409 sold-out")),
      },
      errorCount: orderErrors + queueErrors,
      check,
    },
  };
}

/** The waiting-room figures the table has no room for. */
export function printWaitingRoom(row) {
  const w = row.waitingRoom;
  const ms = (n) => (n === null ? "n/a" : `${n} ms`);
  console.log(
    `\nwaiting-room: ${w.users} distinct buyers arriving at ${w.arrivalsPerSec}/s (${ARRIVAL_FACTOR}× the admit rate of ${w.rate}/s); ` +
      `each joins, polls as told, orders with its pass (capacity ${w.capacity})`,
  );
  console.log(
    `  queue answers      ${w.queueAnswers} (joins and polls, ${w.pollsPerBuyer.toFixed(2)} per buyer); p50 ${ms(w.queueP50Ms)}, p99 ${ms(w.queueP99Ms)}`,
  );
  console.log(
    `  admitted           ${w.admitted} of ${w.users} at ${w.admittedPerSec === null ? "n/a" : w.admittedPerSec.toFixed(1)}/s as the buyers saw it ` +
      `(rate ${w.rate}/s); arrival to admission p50 ${(w.waitP50Ms / 1000).toFixed(1)} s, p99 ${(w.waitP99Ms / 1000).toFixed(1)} s`,
  );
  console.log(
    `  admission order    by number, against arrival order (${w.skew.compared} buyers): rank displacement max ${w.skew.max}, ` +
      `mean ${w.skew.mean.toFixed(1)}, p99 ${w.skew.p99}; ${w.skew.inPlace} exactly in place`,
  );
  console.log(
    `  orders             ${w.sold} sold, ${w.soldOut} × 409 sold-out (expected past the capacity); p50 ${ms(w.orderP50Ms)}, p99 ${ms(w.orderP99Ms)}`,
  );
  const c = w.check;
  console.log(
    `  oversold           ${c.oversold} (sold ${c.sold} / capacity ${c.capacity}, held ${c.held}, D1 tickets ${c.d1Tickets}, distinct serials ${c.distinctSerials})`,
  );
  const errors = Object.entries(w.errors);
  console.log(
    `  errors             ${w.errorCount}${errors.length ? ` (${errors.map(([k, n]) => `${n} × ${k}`).join(", ")})` : ""}`,
  );
}
