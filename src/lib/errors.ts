/**
 * Domain errors: a stable machine code plus a human detail, with no HTTP in sight. Services throw
 * them; `src/http/problem.ts` is the one place that turns codes into RFC 9457 responses. Codes are
 * kebab-case because each ends a problem `type` URI; enum values inside bodies (a scan's
 * `already_redeemed`) keep the contract's snake_case. The errors several layers raise alike
 * (`rate-limited`, `unavailable`) are built here, once, so clients see one shape for each.
 */
import { LIMITS } from "../config/limits";

export type ErrorCode =
  | "bad-request"
  | "validation-failed"
  | "malformed-json"
  | "unauthorized"
  | "invalid-credentials"
  | "weak-password"
  | "invalid-or-expired"
  | "locked"
  | "email-not-verified"
  | "challenge-required"
  | "sold-out"
  | "limit-exceeded"
  | "already-registered"
  | "not-on-sale"
  | "event-started"
  | "already-paid"
  | "hold-expired"
  | "invalid-transition"
  | "version-conflict"
  | "capacity-below-sold"
  | "not-active"
  | "upgrade-required"
  | "not-implemented"
  | "forbidden"
  | "insufficient-scope"
  | "csrf-failed"
  | "not-found"
  | "method-not-allowed"
  | "conflict"
  | "already-replayed"
  | "not-replayable"
  | "payload-too-large"
  | "unsupported-media-type"
  | "too-many-pixels"
  | "too-many-segments"
  | "idempotency-key-invalid"
  | "idempotency-key-reused"
  | "idempotency-key-in-flight"
  | "rate-limited"
  | "unavailable"
  | "payments-not-configured"
  | "payment-provider-error"
  | "invalid-signature"
  | "refund-not-allowed"
  | "invalid-media"
  | "invalid-event"
  | "invalid-parent"
  | "cannot-follow-self"
  | "cannot-block-self"
  | "invalid-url"
  | "too-many-links"
  | "too-many-webhook-endpoints"
  | "invalid-link-transition"
  | "invalid-link-order"
  | "invalid-handle"
  | "handle-taken"
  | "already-subscribed"
  | "no-billing-customer"
  | "idempotency-key-required"
  | "amount-out-of-range"
  | "cannot-receive-tips"
  | "payouts-not-ready"
  | "queue-pass-required"
  | "not-sold-out"
  | "already-waiting"
  | "offer-expired"
  | "hosts-future-events"
  | "subscription-active"
  | "internal";

export interface FieldError {
  path: string;
  message: string;
}

export class DomainError extends Error {
  override readonly name = "DomainError";
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    /** Extra members for the problem document (e.g. `errors`, `retryAfter`). Never secrets. */
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(`${code}: ${detail}`);
  }
}

/**
 * 429 for a spent rate budget: names the policy and carries `retryAfter` (seconds), which
 * domainErrorResponse also sends as `Retry-After` (RFC 9110 §10.2.3). `what` opens the detail.
 */
export function rateLimitedError(
  policy: string,
  retryAfterSeconds: number,
  what = `Too many requests under policy "${policy}".`,
): DomainError {
  return new DomainError("rate-limited", `${what} Retry after ${retryAfterSeconds} s.`, {
    policy,
    retryAfter: retryAfterSeconds,
  });
}

/** 400 for a `cursor` this API did not hand out (or that no longer parses): one message for every list. */
export function invalidCursorError(): DomainError {
  return new DomainError("validation-failed", "The cursor is not valid.", {
    errors: [{ path: "cursor", message: "not a cursor from this API" }],
  });
}

/**
 * 503 for a dependency that did not answer (a limiter, an object, the analytics store): by default
 * the client is told to come back in LIMITS.unavailableRetryAfterSeconds. null leaves `Retry-After`
 * out, for a cause a retry will not cure soon (a missing configuration).
 */
export function unavailableError(
  detail: string,
  retryAfterSeconds: number | null = LIMITS.unavailableRetryAfterSeconds,
): DomainError {
  return new DomainError("unavailable", detail, retryAfterSeconds === null ? {} : { retryAfter: retryAfterSeconds });
}
