/**
 * A model of the sharded inventory designed in docs/scale.md, small and deterministic enough to run a
 * few hundred on-sales inside a test. It is not the production code (today one EventInventory object
 * decides every sale of an event); it is the design for events hotter than one object, written down
 * as code so that its safety is checked before it is built.
 *
 * The parts are objects that share nothing and talk only by messages:
 * - N shards, each selling from its own allocation of ticket units without asking anyone: a hold takes
 *   units from the shard's free stock, a paid hold sells them, a cancelled or lapsed hold gives them
 *   back to the same shard.
 * - One coordinator, which deals the first allocation, keeps the rest as a reserve pool and moves
 *   unsold stock between shards: a shard running low asks it for a refill; with the pool empty it asks
 *   the shard it believes richest to give back half of its free stock, and when no shard has enough to
 *   halve, it sweeps every shard's remainder (`sweep`).
 * - The network between them, which delays, reorders, drops and duplicates messages; and crashes,
 *   which lose what an object kept in memory, never what it stored.
 *
 * Stock moves only as transfers: the sender removes the units and records the transfer in its outbox
 * in one step (one transaction in a Durable Object), resends it until it is acknowledged, and the
 * receiver applies a transfer id once. Only the owner of stock ever gives it away: the coordinator's
 * view of each shard's stock is a stale hint for choosing whom to ask, never a right to take.
 *
 * Every ticket is a numbered unit, so the invariants are checked on the units themselves
 * (checkInvariants) after every step. Two naive variants (`variant`) exist to show that the checks
 * fail when the design is broken. Randomness comes only from the seeded PRNG below: the same seed
 * gives the same run, step for step (`traceHash`).
 */

/** mulberry32: a tiny 32-bit PRNG, plenty for a simulation and the same on every platform. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Random {
  readonly #next: () => number;

  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }

  float(): number {
    return this.#next();
  }

  /** 0 ≤ result < n. */
  int(n: number): number {
    return Math.floor(this.#next() * n);
  }

  chance(p: number): boolean {
    return this.#next() < p;
  }

  /** An index, with odds proportional to its weight. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.#next() * total;
    for (let i = 0; i < weights.length; i += 1) {
      r -= weights[i] as number;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

// ------------------------------------------------------------------------------------ configuration

export type Variant =
  /** The design: shards ask the coordinator; only the owner of stock gives it away; transfers apply once. */
  | "designed"
  /** Naive: a shard out of stock sells units it believes another shard still has (that shard's last gossip). */
  | "stale-borrow"
  /** Naive: a transfer is applied every time it arrives (no dedupe by transfer id). */
  | "no-dedupe";

export const EVENT_KINDS = [
  "arrive",
  "deliver",
  "duplicate",
  "drop",
  "confirm",
  "cancel",
  "alarm",
  "crash",
  "shift",
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface SimConfig {
  /** Tickets for sale: units 0 … capacity − 1. */
  capacity: number;
  shards: number;
  /** Random steps of the selling phase (the closing phase follows, see `close`). */
  steps: number;
  /** Share of the capacity dealt to the shards at the start, evenly; the rest is the coordinator's pool. */
  initialShare: number;
  /** Units the coordinator grants per refill. */
  chunk: number;
  /** A shard asks for a refill when its free stock falls below this. */
  lowWater: number;
  /** Minimum transfer m: a shard asked for half gives ⌊free/2⌋ only if that is at least m. */
  minTransfer: number;
  /** Steps a hold lasts before it lapses (a paid on-sale's checkout window). */
  holdTtl: number;
  /** Steps before an unanswered request or unacknowledged transfer is sent again. */
  retryAfter: number;
  /** A buyer asks for 1 … maxQuantity tickets. */
  maxQuantity: number;
  /** With the pool empty and no shard rich enough to halve, take every shard's remainder. */
  sweep: boolean;
  variant: Variant;
  /** Relative odds of each random event in the selling phase. */
  odds: Record<EventKind, number>;
}

export const DEFAULT_CONFIG: SimConfig = {
  capacity: 400,
  shards: 6,
  steps: 2000,
  initialShare: 0.5,
  chunk: 16,
  lowWater: 4,
  minTransfer: 3,
  holdTtl: 60,
  retryAfter: 8,
  maxQuantity: 4,
  sweep: true,
  variant: "designed",
  odds: {
    arrive: 30,
    deliver: 40,
    duplicate: 2,
    drop: 3,
    confirm: 20,
    cancel: 4,
    alarm: 14,
    crash: 1,
    shift: 0.5,
  },
};

/**
 * What may be left unsold when demand outruns capacity but only one shard still has buyers, before
 * the sweep: every other shard refuses to halve once it holds fewer than 2m units, so it keeps at most
 * 2m − 1. With the sweep the bound is 0.
 */
export function strandedBound(config: Pick<SimConfig, "shards" | "minTransfer">): number {
  return (config.shards - 1) * (2 * config.minTransfer - 1);
}

// ------------------------------------------------------------------------------------ state

/** −1 is the coordinator; 0 … N − 1 the shards. */
type NodeId = number;
const COORDINATOR: NodeId = -1;

interface Transfer {
  id: string;
  from: NodeId;
  to: NodeId;
  units: number[];
  /** The refill request a grant answers. */
  reqId: number | null;
  sentAt: number;
}

interface Hold {
  id: number;
  units: number[];
  expiresAt: number;
}

type Message =
  | { kind: "refill"; from: number; reqId: number; free: number; seq: number }
  | { kind: "report"; from: number; free: number; seq: number; releaseId: number | null }
  | { kind: "release"; to: number; releaseId: number; mode: "half" | "all" }
  | { kind: "none"; to: number; reqId: number }
  | { kind: "transfer"; transfer: Transfer }
  | { kind: "ack"; to: NodeId; transferId: string }
  | { kind: "gossip"; from: number; to: number; units: number[] }
  | { kind: "borrowed"; from: number; to: number; units: number[] };

/** What an object keeps in storage for its transfers: survives a crash. */
interface TransferLog {
  outbox: Transfer[];
  applied: Set<string>;
  nextTransfer: number;
}

export interface ShardState extends TransferLog {
  readonly index: number;
  free: number[];
  holds: Map<number, Hold>;
  sold: number[];
  answeredReleases: Set<number>;
  reportSeq: number;
  // In memory only (lost in a crash).
  request: { reqId: number; at: number } | null;
  lastAskAt: number;
  refusedSinceAsk: boolean;
  lastReported: number;
  /** stale-borrow only: each peer's free units as it last gossiped them. */
  peers: Map<number, number[]>;
}

export interface CoordinatorState extends TransferLog {
  pool: number[];
  /** Each shard's free stock as last reported (or granted since): a hint, never a right. */
  view: number[];
  viewSeq: number[];
  // In memory only (lost in a crash).
  waiting: { shard: number; reqId: number }[];
  releases: Map<number, { shard: number; at: number }>;
}

export interface SimStats {
  arrivals: number;
  unitsRequested: number;
  holds: number;
  /** Buyers turned away: the shard had too little free stock for them at that moment. */
  refused: number;
  /** …of which while free stock sat in other shards or the pool (the cost of not sharing a counter). */
  refusedWhileStockElsewhere: number;
  confirmed: number;
  /** Payments that came after their hold lapsed (refused; the units were already back on sale). */
  confirmRefused: number;
  cancelled: number;
  expired: number;
  grants: number;
  unitsGranted: number;
  releasesHalf: number;
  releasesAll: number;
  /** Units shards gave back to the pool when asked (rebalancing). */
  unitsReturned: number;
  noneAnswers: number;
  borrowed: number;
  delivered: number;
  duplicated: number;
  dropped: number;
  crashes: number;
  shifts: number;
  resent: number;
  maxInFlight: number;
  /** The selling phase's step at which the last unit was sold, or null. */
  soldOutAtStep: number | null;
  closingRounds: number;
}

export type ViolationKind = "oversold" | "sold-twice" | "stock-not-conserved";

export interface Violation {
  kind: ViolationKind;
  step: number;
  detail: string;
}

export interface Ledger {
  /** Free units in shards. */
  free: number;
  held: number;
  /** Units in transfers their receiver has not applied yet. */
  inFlight: number;
  pool: number;
  sold: number;
}

export interface SimResult {
  seed: number;
  config: SimConfig;
  stats: SimStats;
  ledger: Ledger;
  /** capacity − sold at the end of the closing phase. */
  leftover: number;
  /** The first step each kind of violation was seen (none for a sound design). */
  violations: Violation[];
  /** Steps on which any invariant failed. */
  violatingSteps: number;
  /** FNV-1a over every event and the ledger after it. */
  traceHash: string;
}

// ------------------------------------------------------------------------------------ invariants

/** Where every unit is, counted (each unit should be in exactly one place). */
export function ledgerOf(sim: ShardedInventorySim): Ledger {
  return inspect(sim).ledger;
}

/**
 * The invariants, on the units themselves: no unit sold twice and no more sold than the capacity;
 * every unit 0 … capacity − 1 in exactly one place (a shard's free stock, a hold, a transfer not yet
 * applied, the pool, or sold), so allocated + in flight + pool + sold = capacity.
 */
export function checkInvariants(sim: ShardedInventorySim): { kind: ViolationKind; detail: string }[] {
  return inspect(sim).found;
}

/**
 * Counts units by id. A generation stamp per unit replaces clearing the counters before each check
 * (the check runs after every step, so it has to be cheap): a unit whose stamp is older than this
 * census has not been seen in it yet.
 */
class Census {
  readonly capacity: number;
  readonly #count: Uint16Array;
  readonly #stamp: Uint32Array;
  #generation = 0;
  distinct = 0;
  repeated = 0;
  strays = 0;
  firstRepeat = -1;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#count = new Uint16Array(capacity);
    this.#stamp = new Uint32Array(capacity);
  }

  begin(): void {
    this.#generation += 1;
    this.distinct = 0;
    this.repeated = 0;
    this.strays = 0;
    this.firstRepeat = -1;
  }

  /** Counts `units`; answers how many there were. */
  add(units: readonly number[]): number {
    const count = this.#count;
    const stamp = this.#stamp;
    const generation = this.#generation;
    for (let i = 0; i < units.length; i += 1) {
      const unit = units[i] as number;
      if (unit >>> 0 !== unit || unit >= this.capacity) {
        this.strays += 1;
      } else if (stamp[unit] !== generation) {
        stamp[unit] = generation;
        count[unit] = 1;
        this.distinct += 1;
      } else {
        count[unit] = (count[unit] as number) + 1;
        if (count[unit] === 2) {
          this.repeated += 1;
          if (this.firstRepeat < 0) this.firstRepeat = unit;
        }
      }
    }
    return units.length;
  }
}

const censuses = new Map<number, Census>();

function inspect(sim: ShardedInventorySim): { ledger: Ledger; found: { kind: ViolationKind; detail: string }[] } {
  const capacity = sim.config.capacity;
  let census = censuses.get(capacity);
  if (!census) {
    census = new Census(capacity);
    censuses.set(capacity, census);
  }
  census.begin();
  const ledger: Ledger = { free: 0, held: 0, inFlight: 0, pool: 0, sold: 0 };
  // Sold units are counted first, so a unit repeated by then was sold twice.
  for (const shard of sim.shards) ledger.sold += census.add(shard.sold);
  const soldTwice = census.firstRepeat;
  for (const shard of sim.shards) {
    ledger.free += census.add(shard.free);
    for (const hold of shard.holds.values()) ledger.held += census.add(hold.units);
  }
  ledger.pool = census.add(sim.coordinator.pool);
  sim.forEachUnappliedTransfer((transfer) => {
    ledger.inFlight += census.add(transfer.units);
  });

  const found: { kind: ViolationKind; detail: string }[] = [];
  if (ledger.sold > capacity) found.push({ kind: "oversold", detail: `sold ${ledger.sold} of ${capacity}` });
  if (soldTwice >= 0) found.push({ kind: "sold-twice", detail: `unit ${soldTwice} sold more than once` });
  const missing = capacity - census.distinct;
  const doubled = census.repeated;
  const strays = census.strays;
  if (missing + doubled + strays > 0) {
    const l = ledger;
    found.push({
      kind: "stock-not-conserved",
      detail:
        `${missing} units nowhere, ${doubled} in two places, ${strays} unknown; free ${l.free} + held ${l.held}` +
        ` + in flight ${l.inFlight} + pool ${l.pool} + sold ${l.sold} = ${l.free + l.held + l.inFlight + l.pool + l.sold} (capacity ${capacity})`,
    });
  }
  return { ledger, found };
}

// ------------------------------------------------------------------------------------ the simulation

function emptyStats(): SimStats {
  return {
    arrivals: 0,
    unitsRequested: 0,
    holds: 0,
    refused: 0,
    refusedWhileStockElsewhere: 0,
    confirmed: 0,
    confirmRefused: 0,
    cancelled: 0,
    expired: 0,
    grants: 0,
    unitsGranted: 0,
    releasesHalf: 0,
    releasesAll: 0,
    unitsReturned: 0,
    noneAnswers: 0,
    borrowed: 0,
    delivered: 0,
    duplicated: 0,
    dropped: 0,
    crashes: 0,
    shifts: 0,
    resent: 0,
    maxInFlight: 0,
    soldOutAtStep: null,
    closingRounds: 0,
  };
}

/** Closing rounds with no sale before the run is judged settled. */
const CLOSING_IDLE_ROUNDS = 100;

export class ShardedInventorySim {
  readonly config: SimConfig;
  readonly seed: number;
  readonly shards: ShardState[];
  readonly coordinator: CoordinatorState;
  readonly stats = emptyStats();
  now = 0;
  step = 0;
  readonly #rng: Random;
  #inFlight: Message[] = [];
  #demand: number[];
  readonly #odds: number[];
  #soldCount = 0;
  #closing = false;
  #nextHold = 1;
  #nextRequest = 1;
  #nextRelease = 1;
  #hash = 0x811c9dc5;
  #violations = new Map<ViolationKind, Violation>();
  #violatingSteps = 0;

  constructor(seed: number, config: SimConfig) {
    this.seed = seed;
    this.config = config;
    this.#rng = new Random(seed);
    this.#odds = EVENT_KINDS.map((kind) => config.odds[kind]);
    const n = config.shards;
    const each = Math.floor((config.capacity * config.initialShare) / n);
    let unit = 0;
    this.shards = Array.from({ length: n }, (_, index) => {
      const free: number[] = [];
      for (let k = 0; k < each; k += 1) free.push(unit++);
      return {
        index,
        free,
        holds: new Map(),
        sold: [],
        outbox: [],
        applied: new Set(),
        nextTransfer: 1,
        answeredReleases: new Set(),
        reportSeq: 0,
        request: null,
        lastAskAt: Number.NEGATIVE_INFINITY,
        refusedSinceAsk: false,
        lastReported: each,
        peers: new Map(),
      };
    });
    const pool: number[] = [];
    while (unit < config.capacity) pool.push(unit++);
    this.coordinator = {
      pool,
      view: Array.from({ length: n }, () => each),
      viewSeq: Array.from({ length: n }, () => 0),
      outbox: [],
      applied: new Set(),
      nextTransfer: 1,
      waiting: [],
      releases: new Map(),
    };
    this.#demand = this.#skew();
  }

  /** Transfers some sender still holds in its outbox that the receiver has not applied. */
  forEachUnappliedTransfer(visit: (transfer: Transfer) => void): void {
    const each = (log: TransferLog) => {
      for (const transfer of log.outbox) if (!this.#log(transfer.to).applied.has(transfer.id)) visit(transfer);
    };
    each(this.coordinator);
    for (const shard of this.shards) each(shard);
  }

  run(): SimResult {
    this.#check();
    for (this.step = 1; this.step <= this.config.steps; this.step += 1) {
      this.now += 1;
      this.#randomEvent();
      this.#check();
    }
    this.#close();
    return {
      seed: this.seed,
      config: this.config,
      stats: this.stats,
      ledger: ledgerOf(this),
      leftover: this.config.capacity - this.#soldCount,
      violations: [...this.#violations.values()],
      violatingSteps: this.#violatingSteps,
      traceHash: (this.#hash >>> 0).toString(16).padStart(8, "0"),
    };
  }

  // ---------------------------------------------------------------- phases

  #randomEvent(): void {
    const kind = EVENT_KINDS[this.#rng.weighted(this.#odds)] as EventKind;
    this.#trace(EVENT_KINDS.indexOf(kind));
    switch (kind) {
      case "arrive":
        this.#arrive(this.#rng.weighted(this.#demand), 1 + this.#rng.int(this.config.maxQuantity));
        break;
      case "deliver":
        this.#deliverRandom(false);
        break;
      case "duplicate":
        this.#deliverRandom(true);
        break;
      case "drop":
        this.#dropRandom();
        break;
      case "confirm":
      case "cancel": {
        const picked = this.#randomHold();
        if (picked) {
          if (kind === "confirm") this.#confirm(picked.shard, picked.hold);
          else this.#cancel(picked.shard, picked.hold);
        }
        break;
      }
      case "alarm":
        this.#alarm(this.#rng.int(this.config.shards + 1) - 1);
        break;
      case "crash":
        this.#crash(this.#rng.int(this.config.shards + 1) - 1);
        break;
      case "shift":
        this.stats.shifts += 1;
        this.#demand = this.#skew();
        break;
    }
    this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.#inFlight.length);
  }

  /**
   * The on-sale's last minutes: no more faults; every open hold is paid or abandoned; buyers keep
   * coming (demand outruns capacity) but all at one shard, and pay at once. Each round one buyer
   * arrives, every message is delivered, time passes and every object's alarm runs. It ends when all
   * is sold or nothing has sold for CLOSING_IDLE_ROUNDS rounds; what is left then is `leftover`.
   */
  #close(): void {
    this.#closing = true;
    for (const shard of this.shards) {
      for (const hold of [...shard.holds.values()]) {
        if (this.#rng.chance(0.5)) this.#confirm(shard, hold);
        else this.#cancel(shard, hold);
      }
    }
    const hot = this.#rng.int(this.config.shards);
    const shard = this.shards[hot] as ShardState;
    let idle = 0;
    while (this.#soldCount < this.config.capacity && idle < CLOSING_IDLE_ROUNDS) {
      this.stats.closingRounds += 1;
      const before = this.#soldCount;
      this.now += 1;
      const hold = this.#arrive(hot, 1 + this.#rng.int(this.config.maxQuantity));
      if (hold) this.#confirm(shard, hold);
      this.#drain();
      this.now += this.config.retryAfter;
      for (let node = COORDINATOR; node < this.config.shards; node += 1) this.#alarm(node);
      this.#drain();
      this.#check();
      idle = this.#soldCount === before ? idle + 1 : 0;
    }
  }

  // ---------------------------------------------------------------- buyers (at a shard)

  #arrive(index: number, quantity: number): Hold | null {
    const shard = this.shards[index] as ShardState;
    this.stats.arrivals += 1;
    this.stats.unitsRequested += quantity;
    this.#expireLapsed(shard);
    if (shard.free.length < quantity && this.config.variant === "stale-borrow") {
      const hold = this.#borrow(shard, quantity);
      if (hold) return hold;
    }
    if (shard.free.length < quantity) {
      this.stats.refused += 1;
      if (this.#stockOutside(shard) > 0) this.stats.refusedWhileStockElsewhere += 1;
      shard.refusedSinceAsk = true;
      this.#ask(shard);
      this.#trace(0, index, quantity);
      return null;
    }
    const hold: Hold = {
      id: this.#nextHold++,
      units: shard.free.splice(shard.free.length - quantity, quantity),
      expiresAt: this.now + this.config.holdTtl,
    };
    shard.holds.set(hold.id, hold);
    this.stats.holds += 1;
    if (shard.free.length < this.config.lowWater) this.#ask(shard);
    this.#trace(1, index, hold.id, ...hold.units);
    return hold;
  }

  #confirm(shard: ShardState, hold: Hold): void {
    shard.holds.delete(hold.id);
    if (this.now >= hold.expiresAt) {
      // Paid too late: the hold has lapsed and its units go back on sale (the buyer is refunded).
      this.stats.confirmRefused += 1;
      shard.free.push(...hold.units);
      this.#trace(2, shard.index, hold.id);
      return;
    }
    shard.sold.push(...hold.units);
    this.#soldCount += hold.units.length;
    this.stats.confirmed += 1;
    if (this.#soldCount >= this.config.capacity && !this.#closing) this.stats.soldOutAtStep ??= this.step;
    this.#trace(3, shard.index, hold.id);
  }

  #cancel(shard: ShardState, hold: Hold): void {
    shard.holds.delete(hold.id);
    shard.free.push(...hold.units);
    this.stats.cancelled += 1;
    this.#trace(4, shard.index, hold.id);
  }

  #expireLapsed(shard: ShardState): void {
    // Deleting the entry being visited is safe in a Map's iteration.
    for (const hold of shard.holds.values()) {
      if (this.now >= hold.expiresAt) {
        shard.holds.delete(hold.id);
        shard.free.push(...hold.units);
        this.stats.expired += 1;
      }
    }
  }

  #randomHold(): { shard: ShardState; hold: Hold } | null {
    let open = 0;
    for (const shard of this.shards) open += shard.holds.size;
    if (open === 0) return null;
    let i = this.#rng.int(open);
    for (const shard of this.shards) {
      if (i >= shard.holds.size) {
        i -= shard.holds.size;
        continue;
      }
      for (const hold of shard.holds.values()) if (i-- === 0) return { shard, hold };
    }
    return null;
  }

  /** Free stock anywhere but this shard (other shards and the pool), for the refusal figures. */
  #stockOutside(shard: ShardState): number {
    let units = this.coordinator.pool.length;
    for (const other of this.shards) if (other !== shard) units += other.free.length;
    return units;
  }

  // ---------------------------------------------------------------- shards

  /** Asks the coordinator for a refill, unless a request is already out. */
  #ask(shard: ShardState): void {
    if (shard.request !== null) return;
    const reqId = this.#nextRequest++;
    shard.request = { reqId, at: this.now };
    shard.lastAskAt = this.now;
    shard.refusedSinceAsk = false;
    shard.reportSeq += 1;
    shard.lastReported = shard.free.length;
    this.#send({ kind: "refill", from: shard.index, reqId, free: shard.free.length, seq: shard.reportSeq });
  }

  #report(shard: ShardState, releaseId: number | null): void {
    shard.reportSeq += 1;
    shard.lastReported = shard.free.length;
    this.#send({ kind: "report", from: shard.index, free: shard.free.length, seq: shard.reportSeq, releaseId });
  }

  /** The coordinator asks for stock back: only the shard decides how much, from what it really has. */
  #onRelease(shard: ShardState, releaseId: number, mode: "half" | "all"): void {
    if (shard.answeredReleases.has(releaseId)) {
      // A repeated request: the units (if any) are already in the outbox; answer again.
      this.#report(shard, releaseId);
      return;
    }
    shard.answeredReleases.add(releaseId);
    this.#expireLapsed(shard);
    const half = Math.floor(shard.free.length / 2);
    const give = mode === "all" ? shard.free.length : half >= this.config.minTransfer ? half : 0;
    if (give > 0) {
      const units = shard.free.splice(shard.free.length - give, give);
      this.#transfer(shard.index, COORDINATOR, units, null);
      this.stats.unitsReturned += give;
    }
    this.#report(shard, releaseId);
  }

  #onNone(shard: ShardState, reqId: number): void {
    if (shard.request?.reqId === reqId) shard.request = null;
  }

  /** stale-borrow only: sells units a peer last said it had, and tells the peer afterwards. */
  #borrow(shard: ShardState, quantity: number): Hold | null {
    let richest = -1;
    let most = quantity - 1;
    for (const [peer, units] of shard.peers) {
      if (units.length > most) {
        richest = peer;
        most = units.length;
      }
    }
    if (richest < 0) return null;
    const cached = shard.peers.get(richest) as number[];
    const units = cached.splice(cached.length - quantity, quantity);
    const hold: Hold = { id: this.#nextHold++, units, expiresAt: this.now + this.config.holdTtl };
    shard.holds.set(hold.id, hold);
    this.stats.holds += 1;
    this.stats.borrowed += 1;
    this.#send({ kind: "borrowed", from: shard.index, to: richest, units: [...units] });
    this.#trace(5, shard.index, richest, ...units);
    return hold;
  }

  // ---------------------------------------------------------------- the coordinator

  #onRefill(from: number, reqId: number, free: number, seq: number): void {
    const c = this.coordinator;
    this.#noteView(from, free, seq);
    const waiting = c.waiting.find((w) => w.shard === from);
    if (waiting) waiting.reqId = reqId;
    else c.waiting.push({ shard: from, reqId });
    this.#serve();
  }

  #onReport(from: number, free: number, seq: number, releaseId: number | null): void {
    this.#noteView(from, free, seq);
    if (releaseId !== null) this.coordinator.releases.delete(releaseId);
    this.#serve();
  }

  /** A newer report replaces the view; a late, older one (reordered) is ignored. */
  #noteView(shard: number, free: number, seq: number): void {
    const c = this.coordinator;
    if (seq <= (c.viewSeq[shard] as number)) return;
    c.viewSeq[shard] = seq;
    c.view[shard] = free;
  }

  /** Grants the pool to waiting shards in turn; with the pool empty, looks for stock to pull back. */
  #serve(): void {
    const c = this.coordinator;
    while (c.waiting.length > 0 && c.pool.length > 0) {
      const w = c.waiting.shift() as { shard: number; reqId: number };
      const n = Math.min(this.config.chunk, c.pool.length);
      this.#transfer(COORDINATOR, w.shard, c.pool.splice(c.pool.length - n, n), w.reqId);
      c.view[w.shard] = (c.view[w.shard] as number) + n;
      this.stats.grants += 1;
      this.stats.unitsGranted += n;
    }
    if (c.waiting.length === 0 || c.releases.size > 0) return;
    const asking = new Set(c.waiting.map((w) => w.shard));
    let donor = -1;
    for (let s = 0; s < this.config.shards; s += 1) {
      if (asking.has(s) || (c.view[s] as number) < 2 * this.config.minTransfer) continue;
      if (donor < 0 || (c.view[s] as number) > (c.view[donor] as number)) donor = s;
    }
    if (donor >= 0) {
      this.#release(donor, "half");
      return;
    }
    if (this.config.sweep) {
      let asked = 0;
      for (let s = 0; s < this.config.shards; s += 1) {
        if (!asking.has(s) && (c.view[s] as number) > 0) {
          this.#release(s, "all");
          asked += 1;
        }
      }
      if (asked > 0) return;
    }
    // Nothing known anywhere: the waiting shards turn buyers away until they ask again.
    for (const w of c.waiting) {
      this.#send({ kind: "none", to: w.shard, reqId: w.reqId });
      this.stats.noneAnswers += 1;
    }
    c.waiting = [];
  }

  #release(shard: number, mode: "half" | "all"): void {
    const releaseId = this.#nextRelease++;
    this.coordinator.releases.set(releaseId, { shard, at: this.now });
    if (mode === "half") this.stats.releasesHalf += 1;
    else this.stats.releasesAll += 1;
    this.#send({ kind: "release", to: shard, releaseId, mode });
  }

  // ---------------------------------------------------------------- transfers

  #log(node: NodeId): TransferLog {
    return node === COORDINATOR ? this.coordinator : (this.shards[node] as ShardState);
  }

  /** Removing the units and recording the transfer happen together (one transaction). */
  #transfer(fromId: NodeId, to: NodeId, units: number[], reqId: number | null): void {
    const from = this.#log(fromId);
    const transfer: Transfer = {
      id: `${fromId}:${from.nextTransfer++}`,
      from: fromId,
      to,
      units,
      reqId,
      sentAt: this.now,
    };
    from.outbox.push(transfer);
    this.#send({ kind: "transfer", transfer });
  }

  #onTransfer(transfer: Transfer): void {
    const log = this.#log(transfer.to);
    const fresh = !log.applied.has(transfer.id);
    if (fresh || this.config.variant === "no-dedupe") {
      log.applied.add(transfer.id);
      if (transfer.to === COORDINATOR) {
        this.coordinator.pool.push(...transfer.units);
      } else {
        const shard = this.shards[transfer.to] as ShardState;
        shard.free.push(...transfer.units);
        if (transfer.reqId !== null && shard.request?.reqId === transfer.reqId) shard.request = null;
      }
    }
    this.#send({ kind: "ack", to: transfer.from, transferId: transfer.id });
    if (transfer.to === COORDINATOR) this.#serve();
  }

  #onAck(node: NodeId, transferId: string): void {
    const log = this.#log(node);
    log.outbox = log.outbox.filter((t) => t.id !== transferId);
  }

  #resendDue(log: TransferLog): void {
    for (const transfer of log.outbox) {
      if (this.now - transfer.sentAt >= this.config.retryAfter) {
        transfer.sentAt = this.now;
        this.stats.resent += 1;
        this.#send({ kind: "transfer", transfer });
      }
    }
  }

  // ---------------------------------------------------------------- alarms and crashes

  /**
   * An object's alarm: a shard expires lapsed holds, resends what is unacknowledged, asks again when
   * buyers were turned away since its last request, and reports its stock if it changed; the
   * coordinator resends, forgets release requests nobody answered, and serves.
   */
  #alarm(node: NodeId): void {
    this.#trace(6, node);
    if (node === COORDINATOR) {
      const c = this.coordinator;
      this.#resendDue(c);
      for (const [id, release] of c.releases) {
        if (this.now - release.at >= this.config.retryAfter) c.releases.delete(id);
      }
      this.#serve();
      return;
    }
    const shard = this.shards[node] as ShardState;
    this.#expireLapsed(shard);
    this.#resendDue(shard);
    if (shard.request !== null && this.now - shard.request.at >= this.config.retryAfter) shard.request = null;
    // Only demand asks: a shard nobody buys from never pulls stock to itself.
    const wants = shard.refusedSinceAsk && shard.request === null;
    if (wants && this.now - shard.lastAskAt >= this.config.retryAfter) this.#ask(shard);
    else if (shard.free.length !== shard.lastReported) this.#report(shard, null);
    if (this.config.variant === "stale-borrow") {
      for (let peer = 0; peer < this.config.shards; peer += 1) {
        if (peer !== node) this.#send({ kind: "gossip", from: node, to: peer, units: [...shard.free] });
      }
    }
  }

  /** An object restarts: memory is lost and so are the calls in flight to it; storage is kept. */
  #crash(node: NodeId): void {
    this.stats.crashes += 1;
    this.#trace(7, node);
    this.#inFlight = this.#inFlight.filter((m) => this.#destination(m) !== node);
    if (node === COORDINATOR) {
      this.coordinator.waiting = [];
      this.coordinator.releases = new Map();
      return;
    }
    const shard = this.shards[node] as ShardState;
    shard.request = null;
    shard.lastAskAt = Number.NEGATIVE_INFINITY;
    shard.refusedSinceAsk = false;
    shard.lastReported = -1;
    shard.peers = new Map();
  }

  // ---------------------------------------------------------------- the network

  #send(message: Message): void {
    this.#inFlight.push(message);
  }

  #destination(message: Message): NodeId {
    switch (message.kind) {
      case "refill":
      case "report":
        return COORDINATOR;
      case "transfer":
        return message.transfer.to;
      default:
        return message.to;
    }
  }

  /** Delivers a random message (so messages overtake each other); `duplicate` leaves a copy in flight. */
  #deliverRandom(duplicate: boolean): void {
    if (this.#inFlight.length === 0) return;
    const i = this.#rng.int(this.#inFlight.length);
    const message = this.#inFlight[i] as Message;
    if (duplicate) this.stats.duplicated += 1;
    else this.#inFlight.splice(i, 1);
    this.#dispatch(message);
  }

  #dropRandom(): void {
    if (this.#inFlight.length === 0) return;
    this.#inFlight.splice(this.#rng.int(this.#inFlight.length), 1);
    this.stats.dropped += 1;
  }

  /** Delivers everything in order until nothing is left in flight (the closing phase has no faults). */
  #drain(): void {
    for (let guard = 0; this.#inFlight.length > 0 && guard < 100_000; guard += 1) {
      this.#dispatch(this.#inFlight.shift() as Message);
    }
  }

  #dispatch(message: Message): void {
    this.stats.delivered += 1;
    this.#trace(8, this.#destination(message), message.kind.length);
    switch (message.kind) {
      case "refill":
        this.#onRefill(message.from, message.reqId, message.free, message.seq);
        break;
      case "report":
        this.#onReport(message.from, message.free, message.seq, message.releaseId);
        break;
      case "release":
        this.#onRelease(this.shards[message.to] as ShardState, message.releaseId, message.mode);
        break;
      case "none":
        this.#onNone(this.shards[message.to] as ShardState, message.reqId);
        break;
      case "transfer":
        this.#onTransfer(message.transfer);
        break;
      case "ack":
        this.#onAck(message.to, message.transferId);
        break;
      case "gossip":
        (this.shards[message.to] as ShardState).peers.set(message.from, message.units);
        break;
      case "borrowed": {
        const peer = this.shards[message.to] as ShardState;
        const taken = new Set(message.units);
        peer.free = peer.free.filter((unit) => !taken.has(unit));
        break;
      }
    }
  }

  // ---------------------------------------------------------------- demand, checks, trace

  /** Buyers per shard: a skewed spread (hot shards run dry first), sometimes with a quiet shard. */
  #skew(): number[] {
    const n = this.config.shards;
    const ranks = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i -= 1) {
      const j = this.#rng.int(i + 1);
      [ranks[i], ranks[j]] = [ranks[j] as number, ranks[i] as number];
    }
    const weights = ranks.map((rank) => 1 / (rank + 1) ** 1.5);
    if (this.#rng.chance(0.3)) weights[this.#rng.int(n)] = 0;
    return weights;
  }

  #check(): void {
    const { ledger: l, found } = inspect(this);
    if (found.length > 0) this.#violatingSteps += 1;
    for (const { kind, detail } of found) {
      if (!this.#violations.has(kind)) this.#violations.set(kind, { kind, step: this.step, detail });
    }
    this.#trace(9, l.free, l.held, l.inFlight, l.pool, l.sold);
  }

  /** FNV-1a, 16 bits at a time. */
  #trace(...values: number[]): void {
    let h = this.#hash;
    for (const value of values) {
      const v = value | 0;
      h = Math.imul(h ^ (v & 0xffff), 16777619);
      h = Math.imul(h ^ (v >>> 16), 16777619);
    }
    this.#hash = h;
  }
}

export function simulate(seed: number, overrides: Partial<SimConfig> = {}): SimResult {
  return new ShardedInventorySim(seed, { ...DEFAULT_CONFIG, ...overrides }).run();
}
