/**
 * Development-only drivers for the `inventory` benchmark (bench/README.md): inside the Worker, `calls`
 * RPCs with `concurrency` in flight, to one event's EventInventory object (free claims, each a
 * different buyer, the call the order path makes) or to the BenchProbe object (one bare SQLite
 * insert). No HTTP, session or limiter in between: what is measured is the object's own rate, the
 * per-event ceiling in production, against the cheapest write a Durable Object can make. Both run
 * through the same driver, so their figures compare.
 *
 * The Worker's clock advances only across I/O; every call here is one RPC, so each latency is whole
 * milliseconds of waiting on the object (a call answered within the same millisecond reads 0). Locally
 * that clock also runs slow while the one thread the Worker shares with the objects, D1 and the queues
 * is kept busy (a round it timed at 4.7 s took 32 s), so the benchmark takes a round's time and rate
 * from its own clock around the request (bench/scenarios/inventory.mjs); `elapsedMs` here is the
 * Worker's view.
 */
import { z } from "zod";
import { LIMITS } from "../../config/limits";
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { findEvent, inventoryOf, toSnapshot } from "../events";

export const BENCH_MAX_CALLS = 100_000;
export const BENCH_MAX_CONCURRENCY = 500;
/** The one BenchProbe object every probe run writes to, as one event has one inventory object. */
export const PROBE_NAME = "bench:probe";

export const ProbeRunInput = z
  .object({
    calls: z.number().int().min(1).max(BENCH_MAX_CALLS),
    concurrency: z.number().int().min(1).max(BENCH_MAX_CONCURRENCY),
    /** `bare`: one row per call (BenchProbe.write); `sale`: a sale's rows, no decision (writeSale). */
    rows: z.enum(["bare", "sale"]).default("bare"),
  })
  .strict();
export type ProbeRunInput = z.infer<typeof ProbeRunInput>;

export const InventoryRunInput = z
  .object({
    eventId: z.string().min(1).max(64),
    calls: z.number().int().min(1).max(BENCH_MAX_CALLS),
    concurrency: z.number().int().min(1).max(BENCH_MAX_CONCURRENCY),
  })
  .strict();
export type InventoryRunInput = z.infer<typeof InventoryRunInput>;

/** What one run answers (POST /dev/bench/probe, POST /dev/bench/inventory). */
export interface BenchRun {
  /** `sale`: the probe writing a sale's rows (ProbeRunInput.rows). */
  target: "probe" | "sale" | "inventory";
  calls: number;
  concurrency: number;
  /** Calls that did what they were sent for (a row written; a ticket claimed). */
  ok: number;
  /** Calls that did not: refusals by their code (e.g. `sold-out`), exceptions as `exception`. */
  errors: number;
  errorsByCode: Record<string, number>;
  /** From the first call sent to the last answer. */
  elapsedMs: number;
  /** Every call, errors included, per second of `elapsedMs`. */
  callsPerSec: number;
  /** Latency of one call (send to answer), over all calls, in whole milliseconds. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Inventory runs also say what was sold: the serials of this run's tickets (each must be new). */
export interface InventoryRun extends BenchRun {
  eventId: string;
  tickets: number;
  distinctSerials: number;
}

/** A call's outcome: null when it did its job, else the error code to count it under. */
type Outcome = string | null;

/** The q-quantile of ascending `sorted` (nearest rank). */
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/**
 * Runs `call(0 … calls-1)` with at most `concurrency` in flight (each lane starts its next call as its
 * last one answers) and times every call and the whole.
 */
export async function drive(
  target: BenchRun["target"],
  input: { calls: number; concurrency: number },
  call: (i: number) => Promise<Outcome>,
): Promise<BenchRun> {
  const latencies: number[] = [];
  const errorsByCode: Record<string, number> = {};
  let next = 0;
  const lane = async () => {
    while (next < input.calls) {
      const i = next++;
      const sent = Date.now();
      let outcome: Outcome;
      try {
        outcome = await call(i);
      } catch {
        outcome = "exception";
      }
      latencies.push(Date.now() - sent);
      if (outcome !== null) errorsByCode[outcome] = (errorsByCode[outcome] ?? 0) + 1;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: Math.min(input.concurrency, input.calls) }, lane));
  const elapsedMs = Date.now() - started;
  latencies.sort((a, b) => a - b);
  const errors = Object.values(errorsByCode).reduce((sum, n) => sum + n, 0);
  return {
    target,
    calls: input.calls,
    concurrency: input.concurrency,
    ok: input.calls - errors,
    errors,
    errorsByCode,
    elapsedMs,
    callsPerSec: elapsedMs > 0 ? (input.calls * 1000) / elapsedMs : 0,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? 0,
  };
}

/** `calls` writes to the BenchProbe object: one bare row each, or one sale's rows each. */
export function runProbe(env: Env, input: ProbeRunInput): Promise<BenchRun> {
  const probe = env.BENCH_PROBE.getByName(PROBE_NAME);
  const run = randomId();
  if (input.rows === "sale") {
    return drive("sale", input, async (i) => {
      await probe.writeSale(`${run}:${i}`);
      return null;
    });
  }
  return drive("probe", input, async (i) => {
    await probe.write(`${run}:${i}`);
    return null;
  });
}

/**
 * `calls` free claims of one ticket from the event's EventInventory object, each by a new buyer with a
 * contact to confirm to: the request createOrder (src/features/orders/service.ts) sends, the event
 * read once from D1 as the order path caches it. Unknown events 404.
 */
export async function runInventory(env: Env, input: InventoryRunInput): Promise<InventoryRun> {
  const event = await findEvent(env.DB, input.eventId);
  if (!event) throw new DomainError("not-found", "No such event.");
  const snapshot = toSnapshot(event);
  const inventory = inventoryOf(env.EVENT_INVENTORY, event.id);
  const run = randomId();
  const serials: number[] = [];
  const result = await drive("inventory", input, async (i) => {
    const claimed = await inventory.claim({
      orderId: randomId(),
      userId: randomId(),
      quantity: 1,
      ttlMs: LIMITS.freeHoldMs,
      contact: { email: `bench-${run}-${i}@fixtures.gatehouse.local`, name: `Bench buyer ${i + 1}` },
      snapshot,
    });
    if (!claimed.ok) return claimed.code;
    for (const ticket of claimed.value.tickets) serials.push(ticket.serial);
    return null;
  });
  return { ...result, eventId: event.id, tickets: serials.length, distinctSerials: new Set(serials).size };
}
