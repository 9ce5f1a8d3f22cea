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
   * turn an outage into unlimited guesses).
   */
  readonly onUnavailable: "open" | "closed";
  /** Taking the last unit locks the key for this long (see RateLimiter); absent for plain limits. */
  readonly lockSeconds?: number;
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
  "auth-login": policy("auth-login", 5, 15 * 60, "closed"),
  "auth-register": policy("auth-register", 3, 60 * 60, "closed"),
  "auth-verify-email": policy("auth-verify-email", 5, 60 * 60, "closed"),
  "auth-reset": policy("auth-reset", 3, 60 * 60, "closed"),
  // ASVS 6.5.5 / 6.3.1: 5 failed codes in 15 minutes lock OTP sign-in for that email for 15 minutes.
  "otp-verify": policy("otp-verify", 5, 15 * 60, "closed", 15 * 60),
  // After 3 failed logins for an address or an email within 15 minutes, a Turnstile challenge is
  // required for login, register and otp/request (counted on failures only).
  // Sign-in codes per email: stops a third party from flooding someone's inbox.
  "otp-request": policy("otp-request", 5, 15 * 60, "closed"),
  "challenge-ip": policy("challenge-ip", 3, 15 * 60, "closed"),
  "challenge-email": policy("challenge-email", 3, 15 * 60, "closed"),
  "orders-user": policy("orders-user", 5, 60, "closed"),
  "orders-ip": policy("orders-ip", 10, 60, "closed"),
  posts: policy("posts", 10, 5 * 60, "open"),
  comments: policy("comments", 20, 5 * 60, "open"),
  "profile-view": policy("profile-view", 100, 60, "open"),
  track: policy("track", 50, 60, "open"),
  "creator-track": policy("creator-track", 10_000, 60 * 60, "open"),
  "dashboard-write": policy("dashboard-write", 30, 60, "open"),
  scanner: policy("scanner", 20, 1, "open"),
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
 * order policies' window and limit, matching the single name API.md lists for them.
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
  /** A request slower than this is logged at warn level. */
  slowRequestMs: 1000,
  /** How long the Worker waits for a RateLimiter answer before applying the policy's fail mode. */
  rateLimiterTimeoutMs: 1000,
  /** Blocked keys remembered per isolate, so floods stop before reaching the object. Bounded memory. */
  blockedKeyCacheEntries: 10_000,
  /** Pagination: `?limit=` upper bound from API.md. */
  pageSizeMax: 100,
  /** Dev mailbox listing size. */
  devMailboxMax: 50,
  /** ASVS 6.3 / 6.4: email verification links live 24 h, password reset links 1 h, sign-in codes 10 min. */
  verifyEmailTtlSeconds: 24 * 60 * 60,
  resetPasswordTtlSeconds: 60 * 60,
  otpTtlSeconds: 10 * 60,
} as const;
