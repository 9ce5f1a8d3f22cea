/**
 * Domain errors: a stable machine code plus a human detail, with no HTTP in sight. Services throw
 * them; `src/http/problem.ts` is the one place that turns codes into RFC 9457 responses.
 */
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
