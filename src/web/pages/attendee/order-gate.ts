/**
 * What stands between the event page's order form and the orders service: the same rate policies
 * as POST /api/v1/events/:id/orders (`orders-ip` per address, `orders-user` per person, both closed
 * when the limiter cannot answer), and the same idempotency. A form cannot send an Idempotency-Key
 * header, so each rendered form carries a fresh key in a hidden field; it is claimed here in the
 * API's own `idempotency_keys` table (see src/http/idempotency) with the same conditional INSERT, so
 * of two submissions of one form exactly one runs the order and the other — concurrent or later —
 * is sent where the first went. The key also derives a paid order's id (orderIdFor), so even a lost
 * answer lands on the same hold and Checkout Session.
 */
import { LIMITS } from "../../../config/limits";
import type { AppContext } from "../../../context";
import { claimIdempotencyKey, completeIdempotencyKey, releaseIdempotencyKey } from "../../../http/idempotency";
import { byIp } from "../../../http/rate-limit";
import { sha256Hex } from "../../../lib/crypto";
import { DomainError, rateLimitedError, unavailableError } from "../../../lib/errors";
import { consumeRates, RateLimiterUnavailable } from "../../../lib/rate-limit-client";

/** A form key as rendered (randomToken(16)): anything else is not one of our forms. */
export const FORM_KEY = /^[A-Za-z0-9_-]{16,64}$/;

/** Takes `orders-ip` and `orders-user` like the API route; throws rate-limited or unavailable. */
export async function takeOrderRates(c: AppContext, userId: string): Promise<void> {
  const policies = c.get("config").ratePolicies;
  const asks = [
    { key: byIp(c), policy: policies["orders-ip"] },
    { key: `user:${userId}`, policy: policies["orders-user"] },
  ];
  for (const ask of asks) {
    let decision: Awaited<ReturnType<typeof consumeRates>>[number] | undefined;
    try {
      [decision] = await consumeRates(c.env.RATE_LIMITER, ask.key, [ask.policy]);
    } catch (error) {
      if (!(error instanceof RateLimiterUnavailable)) throw error;
      // Both policies fail closed, as on the API: an order is never taken unmetered.
      throw unavailableError("Ordering is briefly unavailable. Please try again shortly.");
    }
    if (decision && !decision.allowed) {
      throw rateLimitedError(ask.policy.name, decision.retryAfterSeconds, "Too many order attempts.");
    }
  }
}

type Claim = { kind: "run" } | { kind: "done"; location: string } | { kind: "other-request" };

const POLL_MS = 100;

/**
 * Runs `order` once per (person, form key): returns where to send the browser. A second submission
 * while the first runs waits for it (up to the lock time) and gets the same answer. A domain error
 * releases the key, so the person can correct the form and send it again.
 */
export async function oncePerForm(
  c: AppContext,
  userId: string,
  formKey: string,
  request: string,
  order: () => Promise<string>,
): Promise<string> {
  const db = c.env.DB;
  const scope = `user:${userId}`;
  const key = `page-order:${formKey}`;
  const fingerprint = await sha256Hex(request);
  const deadline = Date.now() + LIMITS.idempotencyLockSeconds * 1000;

  for (;;) {
    const claim = await claimKey(db, scope, key, fingerprint);
    if (claim.kind === "done") return claim.location;
    if (claim.kind === "other-request") {
      throw new DomainError("idempotency-key-reused", "This form was already sent with other choices.");
    }
    if (claim.kind === "run") break;
    if (Date.now() > deadline) {
      throw new DomainError("idempotency-key-in-flight", "Your order is still being processed.");
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }

  let location: string;
  try {
    location = await order();
  } catch (error) {
    await releaseIdempotencyKey(db, scope, key);
    throw error;
  }
  await completeIdempotencyKey(db, scope, key, fingerprint, { status: 303, headers: { location }, body: "" });
  return location;
}

/** The middleware's claim (src/http/idempotency), read as what the form should do next. */
async function claimKey(
  db: D1Database,
  scope: string,
  key: string,
  fingerprint: string,
): Promise<Claim | { kind: "wait" }> {
  const claim = await claimIdempotencyKey(db, scope, key, fingerprint);
  if (claim.claimed) return { kind: "run" };
  const { row } = claim;
  // Released by a failed first attempt in between: claim again.
  if (!row) return { kind: "wait" };
  if (row.fingerprint !== fingerprint) return { kind: "other-request" };
  if (row.state === "running") return { kind: "wait" };
  const location = (JSON.parse(row.headers ?? "{}") as { location?: string }).location;
  return location ? { kind: "done", location } : { kind: "wait" };
}
