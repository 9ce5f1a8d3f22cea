/**
 * Every limit Gatehouse enforces, with its number and where the number comes from.
 * Environments override rate policies through the RATE_LIMITS variable (see `parseRateLimitOverrides`).
 */
import { z } from "zod";

export interface RatePolicy {
  /** Name shown in RateLimit-Policy / RateLimit headers and accepted by RATE_LIMITS. */
  readonly name: string;
  /** Requests allowed per window (the burst). */
  readonly limit: number;
  readonly windowSeconds: number;
  /**
   * What to do when the RateLimiter object cannot be reached: `open` lets the request through
   * (public reads stay up), `closed` answers 503 (auth and payments: an attacker must not be able to
   * turn an outage into unlimited guesses), `delay` puts queued work back for later (email: nothing
   * is dropped and nothing is sent unmetered).
   */
  readonly onUnavailable: "open" | "closed" | "delay";
  /** Taking the last unit locks the key for this long (see RateLimiter); absent for plain limits. */
  readonly lockSeconds?: number;
  /**
   * `gcra` (default) for request rates; `window` (exact sliding log) for failure counters, where
   * "N failures within the window" must trip however the failures are spaced.
   */
  readonly algorithm?: "gcra" | "window";
}

const policy = (
  name: string,
  limit: number,
  windowSeconds: number,
  onUnavailable: RatePolicy["onUnavailable"],
  lockSeconds?: number,
): RatePolicy =>
  lockSeconds
    ? { name, limit, windowSeconds, onUnavailable, lockSeconds }
    : { name, limit, windowSeconds, onUnavailable };

/**
 * Default policies. Numbers follow OWASP ASVS 5.0 §6.3 (anti-automation on authentication),
 * the product's per-route budgets, and the gate's scan rate (a busy lane scans ~5/s; 20/s leaves room
 * for offline batches being replayed).
 */
export const DEFAULT_RATE_POLICIES = {
  api: policy("api", 100, 60, "open"),
  "auth-login": { ...policy("auth-login", 5, 15 * 60, "closed"), algorithm: "window" },
  "auth-register": policy("auth-register", 3, 60 * 60, "closed"),
  "auth-verify-email": policy("auth-verify-email", 5, 60 * 60, "closed"),
  "auth-reset": policy("auth-reset", 3, 60 * 60, "closed"),
  // ASVS 6.5.5 / 6.3.1: 5 failed codes in 15 minutes lock OTP sign-in for that email for 15 minutes.
  "otp-verify": { ...policy("otp-verify", 5, 15 * 60, "closed", 15 * 60), algorithm: "window" },
  // After 3 failed logins for an address or an email within 15 minutes, a Turnstile challenge is
  // required for login, register and otp/request (counted on failures only).
  // Sign-in codes per email: stops a third party from flooding someone's inbox.
  "otp-request": policy("otp-request", 5, 15 * 60, "closed"),
  // Wrong sign-in codes also count per address and platform-wide, so codes cannot be sprayed across
  // accounts (5 guesses per account × any number of accounts). Per address (IPv6 by /64): 10 wrong
  // codes in 15 minutes, twice one person's own lockout allowance, then 429 until the window slides.
  // Platform-wide: 1,000 wrong codes in 15 minutes, far above what mistyping people produce; past it
  // every code needs the Turnstile challenge (429 where none is configured), so a botnet spread over
  // many addresses still cannot try codes at scale. Only wrong codes stay counted.
  "otp-verify-ip": { ...policy("otp-verify-ip", 10, 15 * 60, "closed"), algorithm: "window" },
  "otp-verify-global": { ...policy("otp-verify-global", 1000, 15 * 60, "closed"), algorithm: "window" },
  "challenge-ip": { ...policy("challenge-ip", 3, 15 * 60, "closed"), algorithm: "window" },
  "challenge-email": { ...policy("challenge-email", 3, 15 * 60, "closed"), algorithm: "window" },
  "orders-user": policy("orders-user", 5, 60, "closed"),
  "orders-ip": policy("orders-ip", 10, 60, "closed"),
  posts: policy("posts", 10, 5 * 60, "open"),
  // Pro's allowance (config/plans.ts rateMultiplier): a Pro creator's posts count here instead of `posts`.
  "posts-pro": policy("posts-pro", 20, 5 * 60, "open"),
  comments: policy("comments", 20, 5 * 60, "open"),
  // Reports per user (POST /reports): each one lands in a moderator's queue; 10 an hour is plenty for
  // a real person and stops one account from flooding the queue.
  reports: policy("reports", 10, 60 * 60, "open"),
  "profile-view": policy("profile-view", 100, 60, "open"),
  // Handle availability checks per address: enough for a person typing a handle with a live hint (the
  // page asks after a pause, one check per settled spelling); a script walking a name list gets 30 a
  // minute, and the padded answer (LIMITS.handleCheckPadMs) tells it nothing by its timing.
  "handle-check": policy("handle-check", 30, 60, "open"),
  // Handle claims per user (PUT /me/handle and onboarding): every claim retires the previous handle for
  // a grace period, so 3 an hour stops one account from parking names or churning redirects; counted
  // only for claims that reach the registry (a well-formed, unreserved handle that is not already yours).
  "handle-claim": policy("handle-claim", 3, 60 * 60, "open"),
  track: policy("track", 50, 60, "open"),
  "creator-track": policy("creator-track", 10_000, 60 * 60, "open"),
  "dashboard-write": policy("dashboard-write", 30, 60, "open"),
  // Link-list writes per user (create, edit, delete, reorder): 30 a minute (issue 18), its own budget so
  // editing links never spends a host's dashboard allowance.
  "links-write": policy("links-write", 30, 60, "open"),
  scanner: policy("scanner", 20, 1, "open"),
  // Hosts' API keys, per key and instead of the per-address `api` (an integration runs from one server,
  // or a cloud's shared addresses): 10 a second sustained lets a CRM sync page through thousands of
  // orders a minute, and one runaway script cannot crowd out the host's other keys or the platform.
  "api-key": policy("api-key", 600, 60, "open"),
  // Failed API keys per address, the counterpart of scanner-auth: key requests skip `api`, so made-up
  // keys are bounded here (each costs one indexed D1 read). Only failures count.
  "api-key-auth": policy("api-key-auth", 30, 60, "open"),
  // Failed device credentials per address: scans skip the per-address `api` policy, so without this a
  // flood of made-up `Device` tokens would each get a fresh bucket. Only failures count: a working
  // device spends nothing. One this isolate does not remember yet (a cold isolate, an entry older than
  // deviceCacheMs) checks it at zero cost before its D1 lookup, so a blocked address holds that lookup
  // back too; a remembered device skips the check. 30 a minute leaves room for a few misconfigured
  // devices.
  "scanner-auth": policy("scanner-auth", 30, 60, "open"),
  // Uploads per user: each one costs R2 storage and a strip pass; 60 an hour covers a busy gallery post.
  "media-upload": policy("media-upload", 60, 60 * 60, "open"),
  // Email delivery (queue consumer). `delay` when the RateLimiter cannot answer: the message waits
  // and is retried, never dropped and never sent unmetered. 100 a minute keeps us inside the
  // provider's account limits with room for bursts; per recipient, 10 a minute then a one-minute
  // pause (lockSeconds) so one inbox is never flooded (a sign-in code loop, a buggy batch).
  "email-global": policy("email-global", 100, 60, "delay"),
  "email-recipient": policy("email-recipient", 10, 60, "delay", 60),
  // Stripe webhook deliveries per address, instead of `api`: Stripe sends from a handful of shared
  // addresses, so a sales burst (hundreds of completed checkouts a minute) must not be throttled like
  // one browser. Open when the limiter is down: Stripe retries anyway, and every delivery is verified.
  "stripe-webhook": policy("stripe-webhook", 2000, 60, "open"),
} as const satisfies Record<string, RatePolicy>;

export type RatePolicyName = keyof typeof DEFAULT_RATE_POLICIES;
export type RatePolicies = Record<RatePolicyName, RatePolicy>;

const overrideSchema = z.record(
  z.string(),
  z
    .object({
      limit: z.number().int().positive().max(1_000_000_000),
      windowSeconds: z
        .number()
        .int()
        .positive()
        .max(7 * 24 * 60 * 60),
    })
    .strict(),
);

/**
 * Applies RATE_LIMITS (JSON) over the defaults. `orders` is accepted as a shorthand that sets both
 * order policies' window and limit: the API contract (kept outside this repository) names a single
 * `orders` policy, which here is two (per user and per address; README "Rate policies").
 */
export function resolveRatePolicies(raw: string | undefined): RatePolicies {
  const policies: Record<string, RatePolicy> = { ...DEFAULT_RATE_POLICIES };
  if (!raw || raw.trim() === "") return policies as RatePolicies;
  const parsed = overrideSchema.parse(JSON.parse(raw));
  for (const [name, value] of Object.entries(parsed)) {
    const targets = name === "orders" ? ["orders-user", "orders-ip"] : [name];
    for (const target of targets) {
      const base = policies[target];
      if (!base) throw new Error(`RATE_LIMITS names unknown policy "${name}"`);
      policies[target] = { ...base, ...value };
    }
  }
  return policies as RatePolicies;
}

export const LIMITS = {
  /** JSON request bodies: 1 MB covers every JSON document the API takes, with room to spare. */
  jsonBodyBytes: 1024 * 1024,
  /** Idempotency-Key replay window: 24 h, as Stripe keeps its own keys. */
  idempotencyTtlSeconds: 24 * 60 * 60,
  /**
   * A claimed key whose request never finished (isolate crash) may be taken over after this long.
   * Longer than the Worker's 30 s wall-clock budget for a request, so a live request is never raced.
   */
  idempotencyLockSeconds: 60,
  /** Idempotency-Key length: Stripe accepts up to 255 characters. */
  idempotencyKeyMaxLength: 255,
  /**
   * Browsers may cache a CORS preflight answer this long (Access-Control-Max-Age): a page's repeated
   * calls skip most preflights, and a CORS_ORIGINS change reaches every browser within 10 minutes.
   */
  corsMaxAgeSeconds: 600,
  /** A request slower than this is logged at warn level. */
  slowRequestMs: 1000,
  /** GET /health gives each dependency this long to answer: a hung one reports "fail", not a hung check. */
  healthCheckTimeoutMs: 2000,
  /**
   * GET /health sends each queue a probe message (src/lib/queue-probe.ts). /health has no rate limit
   * (monitors poll it), so a probe that went through is trusted for this long per isolate: a flood of
   * /health costs at most one message per queue per isolate every 15 s, not one per request; a
   * monitor polling every 30 s or slower still sees a fresh send each time.
   */
  healthQueueProbeReuseMs: 15_000,
  /** How long the Worker waits for a RateLimiter answer before applying the policy's fail mode. */
  rateLimiterTimeoutMs: 1000,
  /** Blocked keys remembered per isolate, so floods stop before reaching the object. Bounded memory. */
  blockedKeyCacheEntries: 10_000,
  /**
   * RateLimiter objects that share the keys of one numerous, mostly cold kind (`user:`, `mailto:`):
   * a hot on-sale brings thousands of buyers who each order once, and an object of their own would
   * be created (storage and all) for a single call. Hashed over this many long-lived objects, the
   * keys keep exact per-key state (one row each) and a shard stays far below a Durable Object's
   * throughput (10,000 orders/s ≈ 40 calls/s per shard). Addresses and devices keep an object each:
   * they are the keys floods come from, and one must not slow its neighbours.
   */
  rateLimiterShards: 256,
  /**
   * Units of a plain rate budget an isolate may take ahead from the key's object and hand out itself,
   * and for how long (src/lib/rate-limit-client.ts): at most 1% of the budget, never fewer than
   * `rateLeaseMinUnits` (so only budgets of 1,000 or more per window are ever leased), and only the
   * part of a budget above half of it, so a key near its limit is decided by its object on every
   * request. Units a lease does not use in time are lost: stricter, never looser. 0 turns leasing off.
   */
  rateLeaseUnits: 50,
  rateLeaseMinUnits: 10,
  rateLeaseMs: 1000,
  /** Pagination: the largest `?limit=` a list takes, as the API contract sets it (/openapi.json shows each bound). */
  pageSizeMax: 100,
  /** Dev mailbox listing size. */
  devMailboxMax: 50,
  /** ASVS 6.3 / 6.4: email verification links live 24 h, password reset links 1 h, sign-in codes 10 min. */
  verifyEmailTtlSeconds: 24 * 60 * 60,
  resetPasswordTtlSeconds: 60 * 60,
  otpTtlSeconds: 10 * 60,
  /**
   * A refresh retried this soon after its rotation (the response was lost: a dropped connection, a
   * tab closed mid-request) gets the same new pair instead of counting as token reuse, which would
   * revoke the session. Short, so a stolen rotated token is still caught as reuse almost always.
   */
  refreshRetryGraceSeconds: 10,
  /**
   * Access tokens (JWT and the access cookie) live 15 minutes (ASVS 7.2): short enough that a leaked
   * one is soon worthless; logout and reset revoke them sooner through the session epoch. The
   * `expiresIn` of every sign-in and refresh answer says the same number.
   */
  accessTokenSeconds: 15 * 60,
  /**
   * Hosts' API keys: live (unrevoked) keys one host may hold, enough for one per connected system and
   * a rotation overlap; more is a runaway script, refused with 409 limit-exceeded.
   */
  apiKeysPerHost: 20,
  /**
   * An API key's last_used_at is written at most once per this interval per key (and isolate): the
   * host learns "used today", never at the cost of a D1 write per request.
   */
  apiKeyLastUsedGranularityMs: 60 * 60 * 1000,
  /** Keys whose last write an isolate remembers (a forgotten one costs one more conditional UPDATE). */
  apiKeyLastUsedEntries: 10_000,
  /** Sessions' last_used_at is written at most this often: the idle clock is minute-accurate, not per request. */
  sessionTouchIntervalMs: 60_000,
  /**
   * A moved last use reaches D1's copy within this (the user shard's alarm; durable-objects/session-book.ts),
   * up to sessionTouchFlushBatch sessions per D1 batch; after a failed batch the alarm tries again
   * after sessionTouchRetryMs.
   */
  sessionTouchFlushMs: 10_000,
  sessionTouchFlushBatch: 100,
  sessionTouchRetryMs: 30_000,
  /**
   * After a request that may place an order, the buyer's reads of their orders and tickets first have
   * that event's object finish pushing to D1, for this long (durable-objects/session-book.ts): a claim
   * answers before its push, which normally lands within milliseconds, and is retried by the object's
   * alarm when it does not.
   */
  ownOrdersSettleMs: 60_000,
  /** Bound on each of those pushes a read waits for; past it the read goes on with D1 as it is. */
  ownOrdersSettleTimeoutMs: 2_000,
  /** Bound on the Turnstile siteverify call: a hung challenge service must not hang sign-in. */
  turnstileTimeoutMs: 5000,
  /**
   * Retry-After on every 503 `unavailable` (the RateLimiter down under a closed policy, host analytics
   * with D1 down and no cached answer, the event's object refusing a live socket): momentary outages
   * (an object restarting, a D1 hiccup), so a client comes back within seconds, not minutes.
   */
  unavailableRetryAfterSeconds: 5,
  /** Media file size (issue 8: 10 MB holds a 12-megapixel phone photo); MEDIA_MAX_UPLOAD_BYTES overrides. */
  mediaUploadBytes: 10 * 1024 * 1024,
  /**
   * Ceiling for MEDIA_MAX_UPLOAD_BYTES and the upload route's body limit: an upload is held in memory
   * up to four times (as received, parsed, stripped, hashed) inside a 128 MB isolate.
   */
  mediaUploadCeilingBytes: 16 * 1024 * 1024,
  /** Room around the file for the multipart envelope (boundary, part headers, purpose, visibility). */
  mediaMultipartOverheadBytes: 16 * 1024,
  /** ASVS 5.2.6 pixel flood: 40 megapixels is above what phone cameras save by default. */
  mediaMaxPixels: 40_000_000,
  /**
   * Blocks per image file, kept or dropped (JPEG segments, PNG and WebP chunks, GIF blocks); more is
   * refused with 422 too-many-segments. A flood of tiny blocks is cheap to make (a 10 MB GIF holds 3.5
   * million 3-byte extension blocks); each block costs the walker time and each kept one a piece of
   * output, so the cap bounds both. Real files stay far below: the JPEG photos we measured have 9–26
   * segments (progressive adds a DHT and an SOS per scan, ~10 scans; ICC needs at most 255 segments,
   * XMP one per 64 KB); libpng writes 8 KB IDAT chunks (2,048 at the 16 MB ceiling) and APNG or
   * animated WebP add one or two chunks a frame; a GIF has two blocks a frame (a 544 KB terminal
   * recording: 783 frames in 1,568 blocks, ~29,000 at 10 MB). A 10 MB flood of the smallest blocks
   * is 27–2,500 times these caps.
   */
  mediaMaxBlocks: { jpeg: 1_024, png: 32_768, webp: 32_768, gif: 65_536 },
  /** Signed media URLs: private media 5 min (issue 8), enough to load a page, short enough to not spread. */
  mediaPrivateUrlSeconds: 5 * 60,
  /** Public media URLs live 24 h, their expiry rounded up to the hour so repeat requests share a cached URL. */
  mediaPublicUrlSeconds: 24 * 60 * 60,
  /**
   * Email retry schedule after a transient failure (429, 5xx, timeout): retry n waits the n-th entry.
   * 1 s rides out a blip, 5 s and 30 s a provider hiccup, 5 and 30 min an outage; after the last
   * retry fails the email is dead-lettered (about 36 minutes after the first attempt; 6 attempts).
   * wrangler.toml max_retries for the email queue matches the length.
   */
  emailRetryDelaysSeconds: [1, 5, 30, 5 * 60, 30 * 60],
  /** A buyer whose checkout Stripe did not answer is told to retry after this many seconds. */
  paymentProviderRetryAfterSeconds: 2,
  /** EventInventory: outbox rows pushed to D1 per batch, well under D1's per-batch limits. */
  inventoryOutboxBatch: 100,
  /**
   * EventInventory: batches one push sends before it leaves the rest to an alarm set for at once (each
   * alarm is an invocation of its own). A row becomes at most 3 statements (an email: its row, the
   * development copy, the queued mark), so 3 batches stay under D1's 1,000 queries per invocation,
   * counting every statement of a batch as one: a backlog after an outage drains alarm by alarm
   * instead of failing on that limit and backing off for minutes.
   */
  inventoryDrainMaxBatches: 3,
  /**
   * EventInventory: a claim's push starts at least this long after the previous claim's push started. A lone
   * sale is pushed at once; under a hot on-sale the sales of each window reach D1 in one push (fewer,
   * larger batches for D1's one writer, and less of the object's time per sale). The claim has
   * answered already; the buyer's own reads wait for its push (src/features/orders/settle.ts), so
   * this is at most what they wait longer.
   */
  inventoryClaimPushSpacingMs: 50,
  /** EventInventory: retry schedule of a failed outbox push, from the alarm (1 s, 5 s, 30 s, then every 2 min). */
  inventoryPushRetryMs: [1_000, 5_000, 30_000, 120_000],
  /** EventInventory: an outbox row still there this long after its commit is pushed by the alarm. */
  inventoryOutboxSafetyNetMs: 5_000,
  /**
   * Each retry waits up to this fraction longer than its schedule entry, at random, so a burst that
   * failed together does not retry together (thundering herd). Upward only: never sooner than planned.
   */
  emailRetryJitterRatio: 0.25,
  /** Cloudflare Queues refuses delaySeconds above 12 h; a provider's Retry-After is capped to it. */
  queueMaxDelaySeconds: 12 * 60 * 60,
  /**
   * A provider call slower than this is abandoned and retried as transient (same Idempotency-Key, so a
   * call that did land is not sent twice). Resend answers in well under a second when healthy.
   */
  emailProviderTimeoutMs: 10_000,
  /**
   * How long a consumer owns a row it claimed (status sending). The consumer claims a whole batch at
   * once, so this is longer than a batch's sends at the provider timeout (emailBatchMax × 10 s) plus
   * the D1 writes around them, and a live send is never taken over; short enough that a crashed
   * consumer's email is retried within minutes.
   */
  emailLeaseSeconds: 120,
  /** Principals whose access-log hash an isolate keeps (scanner devices and busy users log often). */
  accessLogTagCacheEntries: 10_000,
  /** Event id → the event reference ticket tokens carry (src/features/gate/token.ts), per isolate. */
  eventRefCacheEntries: 10_000,
  /** Emails claimed and sent together: wrangler.toml's max_batch_size for the email queue. */
  emailBatchMax: 10,
  /** The bound: a queued row whose message is 10 minutes overdue is presumed lost and re-sent. */
  emailStuckAfterSeconds: 10 * 60,
  /**
   * A pending row (written, never handed to the queue: the request died between its batch and the
   * send, or the writer has no queue, like EventInventory) is picked up once it is this old. Longer
   * than a request's lifetime, so the sweep does not race the request that will enqueue it.
   */
  emailPendingGraceSeconds: 60,
  /** Cloudflare Queues: one sendBatch call takes at most 100 messages; enqueue and sweep chunk by it. */
  queueSendBatchMax: 100,
  /**
   * Expired idempotency keys deleted per cron statement: keeps it well inside D1's per-query limits;
   * the next run takes the rest.
   */
  idempotencySweepMaxRows: 5000,
  /** Stuck rows re-enqueued per cron run: bounds the sweep's time; the next run takes the rest. */
  emailSweepMaxRows: 1000,
  /** A queue this Worker consumes but has no handler for (a deploy mistake): messages wait this long. */
  unknownQueueRetrySeconds: 60,
  /** The RateLimiter did not answer (fail mode `delay`): try the email again after this long. */
  emailLimiterUnavailableDelaySeconds: 30,
  /** Rate-limited emails wait the limiter's Retry-After plus up to this many seconds, to spread them. */
  emailRateLimitJitterSeconds: 5,
  /** The retention job (src/features/retention): rows one delete chooses (well inside D1's per-query limits) … */
  retentionBatchRows: 1000,
  /** … and chunks per kind and run; the next run (5 min later) takes the rest. */
  retentionMaxBatches: 10,
  /** The PII job (src/features/privacy/pii-job.ts): rows sealed again per chunk … */
  piiJobBatchRows: 200,
  /** … and chunks per column and run of the five-minute cron (about 16,000 values a run at most). */
  piiJobMaxBatches: 10,
  /**
   * Once a cron run finds no value left to seal under the current key, the next runs skip the job (no
   * read of the sealed columns, which no index serves) until the key changes or this much time passes:
   * the daily look catches a value an isolate still running the previous key wrote after the rotation.
   */
  piiJobRecheckMs: 24 * 3600 * 1000,
  /**
   * Data exports (src/features/privacy, GDPR art. 15/20): one per person per 24 h (art. 12(5) lets a
   * controller refuse manifestly excessive requests; each export reads every table about them); the
   * emailed link and the archive live 7 days; an export still pending after 15 min died with its
   * isolate and is marked failed by the cron (a failed one does not count toward the 24 h).
   */
  dataExportIntervalMs: 24 * 60 * 60 * 1000,
  dataExportLinkSeconds: 7 * 24 * 60 * 60,
  dataExportStaleMs: 15 * 60 * 1000,
  /**
   * Rows per kind in one archive: the export is built inside one request's waitUntil (30 s), so every
   * query is bounded; a kind cut short says so in the archive (`truncated`) and the rest is sent on
   * request by an operator. 2,000 of the largest kind (posts, 2,000 characters each) is about 4 MB.
   */
  dataExportRowsPerKind: 2000,
  /** Expired exports deleted from R2 per cron run (the rest on the next one). */
  dataExportSweepMaxRows: 100,
  /**
   * Rows an erasure opens, per kind, to find the ones holding the erased address where it is sealed
   * without an index: unsent outbox rows (the queue drains them within minutes, so a few thousand is
   * plenty) and guest tips, newest first (older ones keep their sealed copy; docs/privacy.md).
   */
  erasureScanRows: 5000,
  /**
   * Events whose inventory objects an erasure clears of the person's email and name (the ones they
   * ordered or queued at, newest first), within one request's subrequests alongside its D1 and R2
   * calls. Older events' objects are cleared after, by the five-minute cron (object_erasures).
   */
  erasureEventObjects: 500,
  /** Of those, cleared at once. */
  erasureObjectConcurrency: 10,
  /**
   * How long an event's object takes a forgotten person's orders without a contact: far longer than
   * an order in flight while the erasure ran can take to arrive (durable-objects/event-inventory/contacts.ts).
   */
  erasureTombstoneMs: 10 * 60 * 1000,
  /**
   * How long after its end an event's object keeps its buyers' and waitlist's emails and names: a
   * host may still cancel it (the cancellation emails its ticket holders); after that nothing sends
   * them anything, and the object's alarm clears them (durable-objects/event-inventory/contacts.ts).
   */
  inventoryContactRetentionMs: 30 * 24 * 60 * 60 * 1000,
  /**
   * Ended events one cron run has their objects clear of contacts (src/features/privacy/contact-retention.ts):
   * those past the retention whose object's own alarm may never have armed for it.
   */
  contactPurgeSweepMax: 100,
  /**
   * An event whose object failed that sweep is passed over for 5 minutes, then 15, an hour, and 6 hours
   * between tries from then on: the events behind it in the sweep's queue go first meanwhile.
   */
  contactPurgeRetryMs: [300_000, 900_000, 3_600_000, 21_600_000],
  /**
   * Event objects one cron run clears for erasures that left them (src/features/privacy/object-erasures.ts),
   * erasureObjectConcurrency at a time, well within a cron invocation's subrequests.
   */
  objectErasureSweepMax: 100,
  /** A failing object is tried again after 1, 2, 4, … minutes, at most an hour apart. */
  objectErasureRetryMs: [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000],
  /**
   * Ticket QR tokens (issue 6): 5 minutes by default, long enough to open the app in the queue and
   * walk to the gate, short enough that a screenshot passed around outside is soon worthless
   * (Ticketmaster's rotating codes refresh even faster). TICKET_TOKEN_TTL_SECONDS overrides.
   */
  ticketTokenSeconds: 5 * 60,
  /** Upper bound for TICKET_TOKEN_TTL_SECONDS: a day covers a printed code for a one-day event. */
  ticketTokenMaxSeconds: 24 * 60 * 60,
  /** Clock skew tolerated on a ticket token's iat/exp (issue 6: ±30 s between phone, device and edge). */
  ticketTokenSkewSeconds: 30,
  /** A token longer than this is refused unread; ours are at most 200 characters. */
  ticketTokenMaxChars: 512,
  /**
   * The same device reading the same ticket again within this window gets the same admission, not
   * an alarm (issue 6): a scanner often reads a code twice while it is held in front of it.
   */
  gateRepeatWindowMs: 10_000,
  /** Devices per event (active ones): a stadium has a few hundred gates; bounds a runaway script. */
  gateDevicesPerEvent: 500,
  /** Offline scans per upload: 500 × ~300 bytes stays far below the JSON body limit. */
  gateOfflineBatchMax: 500,
  /** Offline scans older than this are refused as invalid: a device offline for a week is broken. */
  gateOfflineMaxAgeMs: 7 * 24 * 60 * 60 * 1000,
  /** Manifest page size: 5,000 tickets ≈ 400 KB of JSON per page; devices follow nextCursor. */
  gateManifestPage: 5_000,
  gateManifestPageMax: 10_000,
  /**
   * Device credentials a Worker isolate remembers (token hash → device and event, facts that never
   * change), so a scan needs no D1 read; revocation is decided in the event's object on every call.
   * 5,000 entries ≈ 1 MB; entries are re-read from D1 after deviceCacheMs.
   */
  deviceCacheEntries: 5_000,
  deviceCacheMs: 10 * 60 * 1000,
  /**
   * The order path's copy of a published event, per isolate: a hot on-sale reads the event from D1
   * once per this interval instead of once per order. Safe because the event's object decides with
   * its own copy (kept current by every edit), and ignores an older one: a stale copy here can only
   * send a request to the object that the object then refuses (cancelled, price set since, …).
   * Edits forget it in the isolate that made them at once.
   */
  orderEventCacheMs: 2_000,
  orderEventCacheEntries: 1_000,
  /**
   * Check-in opens this long before the start unless the host sets its own time (doors open 2 h
   * early); it closes when the event ends.
   */
  checkInLeadMs: 2 * 60 * 60 * 1000,
  /**
   * Tickets one person may hold for an event when the host sets no per-user limit: one for a free
   * event (a free claim must not empty the room), ten for a paid one (a group or family booking).
   */
  perUserTicketsFree: 1,
  perUserTicketsPaid: 10,
  /** The highest per-user limit a host may set, and the most tickets one order takes. */
  perUserTicketsMax: 100,
  /** Browsers and shared caches may keep the public event listing this long (one event: src/lib/edge-cache.ts). */
  eventCacheSeconds: 10,
  /** The whole host-analytics read must answer within this, or the last good answer is served (stale). */
  analyticsTimeoutMs: 2000,
  /** How long a last good analytics answer is kept for D1 outages. */
  analyticsFallbackSeconds: 24 * 60 * 60,
  /** A free claim is confirmed within the same request; its hold on the seats only has to outlive that. */
  freeHoldMs: 60 * 1000,
  /**
   * A waitlist offer holds its ticket this long by default (hours; a host may set the window per event
   * between the bounds): half a day reaches someone who reads mail once a day without leaving a seat
   * idle for long (pretix defaults to 48 h). The minimum leaves time to read the email at all.
   */
  waitlistOfferWindowHoursDefault: 12,
  waitlistOfferWindowHoursMin: 1,
  waitlistOfferWindowHoursMax: 168,
  /** Live counts are pushed at most once per this many ms per event (issue 6: a few a second). */
  liveCoalesceMs: 250,
  /**
   * Live post counts (durable-objects/post-live): sockets one post's object holds at most (a hot post's
   * object stays responsive: each broadcast walks every socket), and sockets one address may hold on one
   * post. The per-address cap keeps a single client from taking the whole budget, yet leaves room for a
   * venue's shared network (the `api` policy already bounds how fast one address can open them).
   */
  postLiveMaxSockets: 5000,
  postLivePerAddress: 100,
  /**
   * Scans reach the D1 read model (checked-in counts) at most this long after they are decided: the
   * object answers the device at once and pushes every scan of the interval in one D1 batch, so a
   * busy gate costs one D1 write per interval instead of one per scan.
   */
  gateProjectionDelayMs: 200,
  /**
   * Payments (issue 5). Stripe Checkout Sessions expire between 30 minutes and 24 hours after creation
   * (Stripe's documented bounds for `expires_at`); a paid hold lasts exactly as long as its session.
   * CHECKOUT_TTL_SECONDS overrides the default (Stripe's minimum: seats are not locked longer than needed).
   */
  checkoutTtlSeconds: 30 * 60,
  checkoutTtlMinSeconds: 30 * 60,
  checkoutTtlMaxSeconds: 24 * 60 * 60,
  /**
   * Added to the session's lifetime so Stripe's "at least 30 minutes from now" check still passes after
   * our request latency and any clock skew between us and Stripe.
   */
  checkoutExpirySlackSeconds: 60,
  /** Stripe's own default signature tolerance: a signed payload older than 5 minutes is refused (replay). */
  webhookToleranceSeconds: 300,
  /**
   * Webhook and refund processing retries (issue 5): 1 min, 5 min, 30 min, 2 h, 24 h, then dead-letter
   * (6 attempts over about 26.5 h, inside Stripe's own 3-day redelivery window). Delays above
   * queueMaxDelaySeconds are chained.
   */
  webhookRetryDelaysSeconds: [60, 5 * 60, 30 * 60, 2 * 60 * 60, 24 * 60 * 60],
  /** Upward jitter on each webhook retry, so a batch that failed together does not retry together. */
  webhookRetryJitterRatio: 0.1,
  /** An inbox row or refund job whose queue message is this overdue is presumed lost and re-sent (cron). */
  webhookStuckAfterSeconds: 10 * 60,
  /**
   * A row whose hand-over to the queue failed is re-sent by the cron once it is this old: longer than a
   * request's lifetime, so the sweep does not race the request that is still sending it.
   */
  webhookUnqueuedGraceSeconds: 60,
  /** Rows re-enqueued per sweep and sessions reconciled per hourly run; the next run takes the rest. */
  paymentsSweepMaxRows: 500,
  /**
   * Reconciliation looks at a pending session this long after it expired: Stripe sends
   * `checkout.session.expired` within minutes, so only a session whose webhook really went missing is
   * fetched from the API.
   */
  reconcileGraceSeconds: 10 * 60,
  /**
   * A session marked complete whose capture was not seen through (its webhook kept failing after the
   * mark, then went to the dead letters; or an asynchronous payment whose success event never came) is
   * fetched from Stripe this long after its last change, while its expiry is at most
   * `reconcileUnappliedWindowSeconds` old (bank debits settle within days).
   */
  reconcileUnappliedGraceSeconds: 60 * 60,
  reconcileUnappliedWindowSeconds: 14 * 24 * 60 * 60,
  /** The webhook consumer could not even record a failure (D1 down): Queues tries the message again this soon. */
  webhookUnrecordedRetrySeconds: 60,
  /** Default refund policy: attendees may ask for a refund until 48 h before the start (REFUND_CUTOFF_HOURS). */
  refundCutoffHours: 48,
  /** A Stripe API call slower than this is abandoned (the SDK retries it once with the same idempotency key). */
  stripeTimeoutMs: 10_000,
  /** SDK-level retries of a failed Stripe call (connection errors, 409, 5xx), always under the same key. */
  stripeNetworkRetries: 1,
  /** Links on one creator's list (issue 18): the public page shows them all, so its read stays bounded. */
  linksMax: 100,
  /** A profile page's tracking token lives this long: a tab left open for an evening still counts its clicks. */
  trackTokenTtlSeconds: 2 * 60 * 60,
  /** Raw tracking events are kept this long before the cron deletes them (TRACK_RETENTION_DAYS overrides). */
  trackRetentionDays: 90,
  /** Raw tracking events deleted per statement, and statements per cron run: bounded work per run. */
  trackPurgeBatchRows: 5000,
  trackPurgeMaxBatches: 20,
  /**
   * Creator-days one cron run rolls up (nine statements each): those with new raw events, least
   * recently rolled first, so the run's D1 work stays bounded however many creators had visitors.
   */
  trackRollupMaxCreatorDays: 25,
  /** Creator analytics: the whole read must answer within this (issue 18), else the last good answer (stale). */
  creatorAnalyticsTimeoutMs: 5000,
  /** The widest creator-analytics range one request may ask for, in days. */
  creatorAnalyticsMaxDays: 366,
  /**
   * Creator handles: every availability answer (available, taken, invalid, reserved) is sent this long
   * after the request arrived, give or take handleCheckJitterMs at random, so its timing cannot tell a
   * taken handle from a free one (issue 18: 100 ms ± 10 ms).
   */
  handleCheckPadMs: 100,
  handleCheckJitterMs: 10,
  /**
   * A changed handle stays its owner's, redirecting `/@old` to the new one, this long; then anyone may
   * claim it. Two weeks lets printed QR codes and bio links be updated without a stranger taking over.
   */
  handleGraceSeconds: 14 * 24 * 60 * 60,
  /** Public profile reads are bounded: links (the list's own cap), contacts, upcoming events. */
  profileLinksMax: 100,
  profileContactsMax: 50,
  profileEventsMax: 20,
  /**
   * The waiting room (issue 20, src/features/queue, durable-objects/waiting-room). Passes a host may have
   * issued per second: at least 1; at most 10,000, ten times a Durable Object's ~1,000 requests/s soft
   * limit (past that one event's inventory object is the wall, not the queue). The default, 50 a
   * second, is well under what one object decides (issue 20's inventory bench), leaving room for the
   * retries and paid checkouts an admitted buyer brings.
   */
  queueAdmitPerSecondDefault: 50,
  queueAdmitPerSecondMax: 10_000,
  /**
   * WaitingRoom shard objects per event: a buyer always lands on shard hash(user id) mod this, so no
   * one object sees more than 1/32 of the joins and polls: 100,000 people at once is ~3,000 joins per
   * shard, a few seconds at a Durable Object's ~1,000 requests/s. It also bounds the queue's burst: a
   * queue with nobody waiting lets at most this many (and never more than one second's admissions) in
   * at once.
   */
  waitingRoomShards: 32,
  /**
   * An admitted buyer's window: the pass is valid this long from the moment they were first found
   * admitted (checkout included: Stripe's page only has to open inside it). Then they queue again.
   */
  queuePassSeconds: 10 * 60,
  /** Poll intervals the queue hands out: never busier than once a second, never quieter than 30 s. */
  queuePollMinSeconds: 1,
  queuePollMaxSeconds: 30,
  /**
   * Every object call on the join and order paths gives up after this long and answers 503 with
   * Retry-After (nobody waits on a hung connection): a queue shard, and the event's inventory object
   * (longer: it writes, and its answer is a sale).
   */
  waitingRoomTimeoutMs: 2_000,
  inventoryCallTimeoutMs: 5_000,
  /**
   * A shard reports its new arrivals to the event's inventory object (which numbers them) at most
   * once per waitingRoomReportMs while people are waiting, whatever the crowd: 32 shards × 4 a second
   * is the object's whole share of a 100,000-person rush, and the line follows arrival order to within
   * a quarter of a second. A quiet queue's newcomer is reported at once (one call in flight per shard,
   * carrying everyone who came meanwhile), so they are let in without waiting. The shard refreshes the
   * queue's clock (on, start, rate) at least once per waitingRoomSyncMs; it gives up on the object after
   * waitingRoomSyncTimeoutMs and keeps answering from its last copy for up to waitingRoomStaleMs.
   */
  waitingRoomReportMs: 250,
  /**
   * A shard deletes its whole line (who queued, in what order) this long after the event starts, when
   * no one can join or order any more: the user ids are not kept for ever, and an event's 32 shards
   * cost no storage afterwards.
   */
  waitingRoomKeepAfterStartMs: 24 * 60 * 60 * 1000,
  waitingRoomSyncMs: 1_000,
  waitingRoomSyncTimeoutMs: 1_000,
  waitingRoomStaleMs: 30_000,
  /**
   * `auto` (hysteresis, measured in the event's inventory object): the queue turns on in a second with
   * more than queueAutoOnPerSecond arrivals (claims and holds, refused ones included), the rate the
   * object's own decisions sustain with headroom (issue 20's inventory bench: one object decides a few
   * hundred claims a second on the 2-core development machine; a Durable Object's soft limit is
   * ~1,000 requests/s). It turns off only once everyone it numbered has been admitted and no second
   * in the last queueAutoCoolMs had more than half that many arrivals.
   */
  queueAutoOnPerSecond: 200,
  queueAutoCoolMs: 60_000,
  /**
   * `auto`'s second trigger, what the object itself measures: a standing backlog. A claim or hold
   * says when the Worker sent it; when even the quickest of a second's arrivals (at least
   * queueAutoBacklogSamples of them) waited more than queueAutoBacklogMs to be decided, requests are
   * queueing at the object's door faster than it decides them, whatever its rate is on that machine,
   * and the queue turns on. The minimum, not the mean: a burst that clears within the second leaves
   * some quick arrivals, and so does the transit from a far-away Worker (tens of milliseconds).
   */
  queueAutoBacklogMs: 250,
  queueAutoBacklogSamples: 20,
  /**
   * Outgoing webhooks (issue 21, docs/webhooks.md). The first attempt goes at once; after failure n the
   * next waits the n-th entry: Standard Webhooks' reference schedule (immediately, 5 s, 5 min, 30 min,
   * 2 h, 5 h, 10 h, 10 h), 8 attempts over about 27.5 h, then the delivery is `failed`. Each wait is
   * stretched upward by up to 10 % (the 10 h wait stays under Queues' 12 h delaySeconds ceiling).
   */
  outgoingWebhookRetryDelaysSeconds: [5, 5 * 60, 30 * 60, 2 * 60 * 60, 5 * 60 * 60, 10 * 60 * 60, 10 * 60 * 60],
  outgoingWebhookRetryJitterRatio: 0.1,
  /** An endpoint that has not answered within 10 s has failed that attempt (Standard Webhooks' guidance). */
  outgoingWebhookTimeoutMs: 10_000,
  /**
   * An attempt claims its delivery for this long (longer than the timeout plus the D1 writes), so two
   * messages for one delivery do not both send; a consumer that died mid-attempt is retried after it.
   */
  outgoingWebhookLeaseMs: 60_000,
  /** An endpoint whose every attempt failed for 5 days is disabled and its host emailed. */
  webhookDisableAfterMs: 5 * 24 * 60 * 60 * 1000,
  /** Characters of an endpoint's answer kept in the delivery log: enough to read an error, no more. */
  webhookResponseSnippetChars: 1024,
  /** Endpoints per host: each fans out every subscribed event, so the count bounds one event's work. */
  webhookEndpointsPerHost: 10,
  /** After a rotation the previous secret keeps signing too for 24 h, while the host deploys the new one. */
  webhookSecretOverlapMs: 24 * 60 * 60 * 1000,
  /**
   * The cron sweep re-enqueues webhook events not fanned out a minute after they were written (their
   * wake-up was lost), and pending deliveries whose attempt is 10 minutes overdue (a lost message, or
   * a consumer that died holding the lease); at most webhookSweepMaxRows of each per run.
   */
  webhookFanoutGraceMs: 60_000,
  webhookDeliveryOverdueMs: 10 * 60 * 1000,
  webhookSweepMaxRows: 200,
} as const;
