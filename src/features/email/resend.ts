/**
 * Resend transport (https://resend.com/docs/api-reference/emails/send-email): POST /emails with a
 * Bearer key and our outbox id as `Idempotency-Key` (Resend answers a repeat of the same key and
 * body with the original result for 24 hours, so a retry after a lost response is not a second
 * email). Errors are JSON `{ statusCode, name, message }` (https://resend.com/docs/api-reference/errors).
 *
 * Classification: 2xx sent. Transient (retried on the schedule): 429 (rate_limit_exceeded,
 * daily/monthly quota), 5xx, timeouts and network errors, 409 concurrent_idempotent_requests
 * ("try the request again later"), and 401/403 — those say our key, domain or account is wrong, not
 * this message, so every email would fail alike: retrying gives an operator the schedule (~36 min)
 * to fix the configuration before anything is dead-lettered. Every other 4xx (validation_error,
 * missing_required_field, invalid_from_address, invalid_idempotent_request, …) is permanent.
 */
import { LIMITS } from "../../config/limits";
import type { EmailTransport, OutgoingEmail, SendOutcome } from "./transport";

export const RESEND_EMAILS_URL = "https://api.resend.com/emails";

/** Reasons are stored and shown to operators; provider messages are bounded to keep rows small. */
const REASON_MAX = 500;

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unusable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

function errorDetail(body: string): { name: string; message: string } {
  try {
    const parsed = JSON.parse(body) as { name?: unknown; message?: unknown };
    return {
      name: typeof parsed.name === "string" ? parsed.name : "unknown",
      message: typeof parsed.message === "string" ? parsed.message : "",
    };
  } catch {
    return { name: "unknown", message: body.slice(0, 200) };
  }
}

/** Turns one Resend answer into an outcome. Pure, so every documented error is unit-tested. */
export function classifyResendResponse(status: number, headers: Headers, body: string): SendOutcome {
  if (status >= 200 && status < 300) {
    try {
      const id = (JSON.parse(body) as { id?: unknown }).id;
      return { kind: "sent", providerMessageId: typeof id === "string" ? id : null };
    } catch {
      // Accepted is accepted: a garbled success body must not cause a resend.
      return { kind: "sent", providerMessageId: null };
    }
  }
  const { name, message } = errorDetail(body);
  const reason = `resend ${status} ${name}${message ? `: ${message}` : ""}`.slice(0, REASON_MAX);
  const transient =
    status === 429 ||
    status >= 500 ||
    status === 401 ||
    status === 403 ||
    (status === 409 && name === "concurrent_idempotent_requests");
  if (transient) return { kind: "transient", reason, retryAfterSeconds: parseRetryAfter(headers.get("Retry-After")) };
  return { kind: "permanent", reason };
}

class ProviderTimeout extends Error {
  override readonly name = "ProviderTimeout";
}

export function resendTransport(apiKey: string, from: string): EmailTransport {
  return {
    name: "resend",
    async send(email: OutgoingEmail): Promise<SendOutcome> {
      const controller = new AbortController();
      // A timer we own (not AbortSignal.timeout), so the whole exchange — headers and body — is bounded.
      const timer = setTimeout(
        () => controller.abort(new ProviderTimeout("provider timed out")),
        LIMITS.emailProviderTimeoutMs,
      );
      try {
        const response = await fetch(RESEND_EMAILS_URL, {
          method: "POST",
          headers: {
            Authorization: `Bearer ${apiKey}`,
            "Content-Type": "application/json",
            "Idempotency-Key": email.id,
          },
          body: JSON.stringify({ from, to: [email.to], subject: email.subject, html: email.html, text: email.text }),
          signal: controller.signal,
        });
        return classifyResendResponse(response.status, response.headers, await response.text());
      } catch (error) {
        const timedOut = controller.signal.aborted;
        const reason = timedOut
          ? `resend timed out after ${LIMITS.emailProviderTimeoutMs} ms`
          : `resend unreachable: ${error instanceof Error ? error.message : String(error)}`;
        return { kind: "transient", reason: reason.slice(0, REASON_MAX), retryAfterSeconds: null };
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
