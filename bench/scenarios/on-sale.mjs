/**
 * on-sale: many buyers claiming one free ticket each from one event, through the development-only
 * fixture routes; sized from the warm-up's selling rate, checked for oversell after the run.
 */

/**
 * on-sale: 20,000 buyers, enough that no buyer is used twice at 50 connections for 10 s on a 2-core
 * machine. The capacity defaults to "auto": the warm-up (its own event, which never sells out)
 * measures the selling rate, and the sale gets the capacity that rate sells in 40% of --duration, so
 * the measured run covers both the sale and the sold-out after it on any machine. --on-sale-capacity
 * fixes it instead (runs then compare like for like); without a warm-up, auto means 500.
 */
export const ON_SALE_USERS = 20_000;
const ON_SALE_CAPACITY_WITHOUT_WARMUP = 500;
const ON_SALE_MIN_CAPACITY = 50;
/** Share of the run the auto capacity should last at the warm-up's rate (which tends to run high). */
const ON_SALE_SELLING_SHARE = 0.4;
const ON_SALE_WARMUP_USERS = 5_000;
const ON_SALE_WARMUP_CAPACITY = 1_000_000;

/** POST /dev/fixtures/on-sale: a published free event and `users` buyers with access tokens. */
async function onSaleFixture(base, users, capacity) {
  const res = await fetch(`${base}/dev/fixtures/on-sale`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ users, capacity }),
  });
  if (res.status !== 201) {
    const text = await res.text();
    const hint = /restarted mid-request/.test(text)
      ? " (wrangler reloaded the Worker: a source file changed; run again)"
      : "";
    throw new Error(`on-sale fixture: ${res.status} ${text}${hint}`);
  }
  return res.json();
}

/**
 * on-sale: a warm-up event first (when there is a warm-up), then the event to sell, sized from the
 * warm-up's selling rate unless --on-sale-capacity says otherwise; after the run, the fixture's
 * check: what the object sold against its capacity, what D1 holds, and any oversell.
 */
export async function onSaleSetup({ base, opts }) {
  const ordersPath = (eventId) => `/api/v1/events/${encodeURIComponent(eventId)}/orders`;
  const warm = opts.warmup > 0 ? await onSaleFixture(base, ON_SALE_WARMUP_USERS, ON_SALE_WARMUP_CAPACITY) : null;
  return {
    warmup: warm ? { path: ordersPath(warm.eventId), bearerTokens: warm.tokens } : undefined,
    afterWarmup: async ({ warmup }) => {
      let capacity = opts.onSaleCapacity;
      let sizing = "fixed (--on-sale-capacity)";
      if (capacity === "auto") {
        // What the warm-up event sold (including requests still in flight when it stopped): with
        // latencies near a second, counting only the responses inside a 2 s warm-up undercounts.
        const warmSold = warmup && warm ? (await onSaleCheck(base, warm.eventId)).sold : 0;
        const warmRate = warmSold > 0 ? warmSold / warmup.duration : null;
        capacity = warmRate
          ? Math.max(ON_SALE_MIN_CAPACITY, Math.round(warmRate * opts.duration * ON_SALE_SELLING_SHARE))
          : ON_SALE_CAPACITY_WITHOUT_WARMUP;
        sizing = warmRate
          ? `auto: the warm-up sold ${warmRate.toFixed(0)} orders/s; sized to sell out ${ON_SALE_SELLING_SHARE * 100}% into ${opts.duration} s`
          : "auto without a warm-up";
      }
      const started = Date.now();
      const sale = await onSaleFixture(base, opts.onSaleUsers, capacity);
      console.log(
        `bench:   sale: ${opts.onSaleUsers} buyers, capacity ${capacity} (${sizing}); ` +
          `fixture made in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return {
        path: ordersPath(sale.eventId),
        bearerTokens: sale.tokens,
        drainsEmails: true,
        beforeMeasure: () => warmShards(base),
        after: ({ result, outcomes, timeline }) =>
          onSaleOutcome(base, sale, capacity, sizing, result, outcomes, timeline, opts),
      };
    },
  };
}

/**
 * POST /dev/bench/warm-shards: one call to each shared `user:` and `mailto:` limiter object, right
 * before the measured run. Locally an object idle for some seconds (here: during the control ping)
 * is evicted, and loading it again (its SQLite opened, its schema checked) runs on the one thread the
 * Worker uses, where it was counted as the orders' CPU: about half the run's orders met a cold
 * session shard. A site busy enough for a hot on-sale keeps its shards loaded, and in production an
 * object loads on its own machine.
 */
async function warmShards(base) {
  const res = await fetch(`${base}/dev/bench/warm-shards`, { method: "POST" });
  if (!res.ok) throw new Error(`warm shards: ${res.status} ${await res.text()}`);
  const { warmed } = await res.json();
  console.log(`bench:   ${warmed.length} shard objects loaded just before the measured run`);
}

/** GET /dev/fixtures/on-sale/:eventId/check: pushes the object's outbox to D1, then counts both. */
async function onSaleCheck(base, eventId) {
  const res = await fetch(`${base}/dev/fixtures/on-sale/${encodeURIComponent(eventId)}/check`);
  if (!res.ok) throw new Error(`on-sale check: ${res.status} ${await res.text()}`);
  return res.json();
}

/**
 * Server CPU per answer while every answer was a sale: the last CPU sample (bench/load.mjs
 * cpuTimeline) before the first sold-out answer, or the whole run's when it never sold out. The
 * run's own figure averages in the sold-out answers, which skip the sale's writes, push and email.
 */
function sellingCpu(timeline, soldOutMs) {
  const inPhase = timeline.filter((s) => s.answered > 0 && (soldOutMs === null || s.ms <= soldOutMs));
  const last = inPhase[inPhase.length - 1];
  return last ? { cpuMsPerOrder: last.cpuMs / last.answered, answered: last.answered, ms: last.ms } : null;
}

async function onSaleOutcome(base, sale, capacity, sizing, result, outcomes, timeline, opts) {
  const check = await onSaleCheck(base, sale.eventId);
  const orders = result["2xx"];
  const soldOutMs = outcomes.firstSeenMs["409 sold-out"] ?? null;
  const soldOut409 = outcomes.nonOk["409 sold-out"] ?? 0;
  return {
    onSale: {
      eventId: sale.eventId,
      users: opts.onSaleUsers,
      capacity,
      sizing,
      orders,
      // 2xx per second over the whole measured run (selling, then sold out).
      ordersPerSec: orders / result.duration,
      // From the start until the first sold-out answer, when every request was a sale.
      soldOutAfterS: soldOutMs === null ? null : soldOutMs / 1000,
      sellingOrdersPerSec: soldOutMs === null ? orders / result.duration : orders / (soldOutMs / 1000),
      sellingCpu: sellingCpu(timeline, soldOutMs),
      soldOut409,
      otherNon2xx: result.non2xx - soldOut409,
      nonOk: outcomes.nonOk,
      tokensReused: Math.max(0, outcomes.tokensSent - sale.tokens.length),
      check,
    },
  };
}
