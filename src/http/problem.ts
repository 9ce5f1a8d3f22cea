/**
 * RFC 9457 problem details: the single mapping from domain error codes to HTTP statuses, and the
 * response builder every error path uses (route handlers, middleware, notFound, onError).
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { DomainError, type ErrorCode } from "../lib/errors";

/** Problem `type` URIs are stable: clients switch on the trailing code. */
export const PROBLEM_TYPE_BASE = "https://gatehouse.events/problems/";

/**
 * Each code's status and title, and, where the contract gives one problem type two statuses, the
 * type it is published under (`type`, the URI's trailing code): a link's refused state change is
 * `invalid-transition` with 422 (API.md, Creators), while an order's or event's is 409.
 */
const PROBLEMS: Record<ErrorCode, { status: ContentfulStatusCode; title: string; type?: string }> = {
  "bad-request": { status: 400, title: "Bad request" },
  "validation-failed": { status: 400, title: "Your request is not valid" },
  "malformed-json": { status: 400, title: "The request body is not valid JSON" },
  unauthorized: { status: 401, title: "Authentication required" },
  "invalid-credentials": { status: 401, title: "Sign-in failed" },
  "weak-password": { status: 400, title: "Password does not meet the policy" },
  "invalid-or-expired": { status: 400, title: "Link or token is invalid or expired" },
  locked: { status: 423, title: "Temporarily locked" },
  "email-not-verified": { status: 403, title: "Email address not verified" },
  "challenge-required": { status: 403, title: "Human verification required" },
  "sold-out": { status: 409, title: "Sold out" },
  "limit-exceeded": { status: 409, title: "Ticket limit exceeded" },
  "already-registered": { status: 409, title: "Already registered" },
  "not-on-sale": { status: 422, title: "Not on sale" },
  "event-started": { status: 422, title: "The event has started" },
  "already-paid": { status: 409, title: "Already paid" },
  "hold-expired": { status: 409, title: "Hold expired" },
  "invalid-transition": { status: 409, title: "Not allowed in the current state" },
  "version-conflict": { status: 409, title: "Edited by someone else meanwhile" },
  "capacity-below-sold": { status: 409, title: "Capacity below tickets sold" },
  "not-active": { status: 409, title: "Ticket is not active" },
  "upgrade-required": { status: 426, title: "WebSocket upgrade required" },
  "not-implemented": { status: 501, title: "Not available yet" },
  forbidden: { status: 403, title: "Forbidden" },
  // RFC 6750 §3.1 names this error for a token lacking the scope a resource needs (our API keys).
  "insufficient-scope": { status: 403, title: "The API key lacks the scope for this" },
  "csrf-failed": { status: 403, title: "Cross-site request refused" },
  "not-found": { status: 404, title: "Not found" },
  "method-not-allowed": { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  "already-replayed": { status: 409, title: "Already replayed" },
  "not-replayable": { status: 409, title: "Cannot be replayed" },
  "payload-too-large": { status: 413, title: "Request body too large" },
  "unsupported-media-type": { status: 415, title: "Unsupported media type" },
  "too-many-pixels": { status: 422, title: "Image has too many pixels" },
  "too-many-segments": { status: 422, title: "Image has too many segments" },
  "idempotency-key-invalid": { status: 400, title: "Idempotency-Key header is not valid" },
  "idempotency-key-reused": {
    status: 422,
    title: "Idempotency-Key was already used with a different request",
  },
  "idempotency-key-in-flight": {
    status: 409,
    title: "A request with this Idempotency-Key is still being processed",
  },
  "rate-limited": { status: 429, title: "Too many requests" },
  unavailable: { status: 503, title: "Service temporarily unavailable" },
  "payments-not-configured": { status: 503, title: "Payments are not configured" },
  "payment-provider-error": { status: 502, title: "The payment provider could not be reached" },
  "invalid-signature": { status: 400, title: "Signature verification failed" },
  "refund-not-allowed": { status: 422, title: "Refund not allowed" },
  "invalid-media": { status: 422, title: "Media cannot be attached" },
  "invalid-event": { status: 422, title: "No such published event" },
  "invalid-parent": { status: 422, title: "Cannot reply to this comment" },
  "cannot-follow-self": { status: 422, title: "You cannot follow yourself" },
  "cannot-block-self": { status: 422, title: "You cannot block yourself" },
  "invalid-url": { status: 422, title: "The URL is not allowed" },
  "too-many-links": { status: 409, title: "Too many links" },
  "too-many-webhook-endpoints": { status: 409, title: "Too many webhook endpoints" },
  // 422 where events' invalid-transition is 409: the contract (issue 18) answers a link's refused state change so.
  "invalid-link-transition": {
    status: 422,
    title: "This link cannot move to that state",
    type: "invalid-transition",
  },
  "invalid-link-order": { status: 422, title: "The order must name each of your links once" },
  "invalid-handle": { status: 422, title: "This handle cannot be used" },
  "handle-taken": { status: 409, title: "This handle is taken" },
  "already-subscribed": { status: 409, title: "Already subscribed to Pro" },
  "no-billing-customer": { status: 409, title: "No billing account yet" },
  // RFC 6585 §3: the route requires a conditional (idempotent) request; a money-moving POST is never run keyless.
  "idempotency-key-required": { status: 428, title: "Idempotency-Key header required" },
  "amount-out-of-range": { status: 422, title: "Amount out of range" },
  "cannot-receive-tips": { status: 409, title: "This creator cannot receive tips yet" },
  "payouts-not-ready": { status: 409, title: "Payouts are not set up yet" },
  // RFC 6585 §3, as for idempotency-key-required: the order must carry a precondition, here a queue pass.
  "queue-pass-required": { status: 428, title: "Queue pass required" },
  // The waitlist (API.md, Integrations): joining needs a sold-out event, once; an offer ends with its window.
  "not-sold-out": { status: 409, title: "Tickets are still available" },
  "already-waiting": { status: 409, title: "Already on the waitlist" },
  "offer-expired": { status: 410, title: "The offer has expired" },
  // Erasing an account (src/features/privacy) waits until the events it hosts are over or cancelled.
  "hosts-future-events": { status: 409, title: "You host events that are still to come" },
  // … and until a Pro subscription that would renew is cancelled (Stripe would go on charging).
  "subscription-active": { status: 409, title: "Your Pro subscription is still active" },
  internal: { status: 500, title: "Internal server error" },
};

export function problemStatus(code: ErrorCode): ContentfulStatusCode {
  return PROBLEMS[code].status;
}

/** The title a code's problems carry: the OpenAPI document lists it next to the code. */
/** Every code the table knows. */
export function problemCodes(): ErrorCode[] {
  return Object.keys(PROBLEMS) as ErrorCode[];
}

/** The trailing code of `code`'s problem type URI (usually the code itself; see PROBLEMS). */
export function problemType(code: ErrorCode): string {
  return PROBLEMS[code].type ?? code;
}

export function problemTitle(code: ErrorCode): string {
  return PROBLEMS[code].title;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  requestId: string | undefined;
  [extension: string]: unknown;
}

export function problemBody(
  code: ErrorCode,
  detail: string,
  requestId: string | undefined,
  extensions: Record<string, unknown> = {},
): ProblemBody {
  const { status, title, type } = PROBLEMS[code];
  return { ...extensions, type: PROBLEM_TYPE_BASE + (type ?? code), title, status, detail, requestId };
}

/** Builds the problem response for `code`, carrying the request id from the context. */
export function problem(
  c: Context,
  code: ErrorCode,
  detail: string,
  extensions: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  const body = problemBody(code, detail, c.get("requestId") as string | undefined, extensions);
  // Through the context, so headers middleware already set (RateLimit, CORS) stay on the error.
  return c.body(JSON.stringify(body), PROBLEMS[code].status, {
    ...headers,
    "Content-Type": "application/problem+json",
  });
}

/** The problem for a DomainError; a numeric `retryAfter` extension also becomes `Retry-After`. */
export function domainErrorResponse(c: Context, error: DomainError, headers: Record<string, string> = {}): Response {
  const retryAfter = error.extensions.retryAfter;
  const retry: Record<string, string> = typeof retryAfter === "number" ? { "Retry-After": String(retryAfter) } : {};
  return problem(c, error.code, error.detail, error.extensions, { ...headers, ...retry });
}

export { DomainError };
