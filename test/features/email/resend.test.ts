import { afterEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { classifyResendResponse, parseRetryAfter, resendTransport } from "../../../src/features/email/resend";
import { route } from "../../support/fetch-router";
import { RESEND_API } from "../../support/resend";

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

const body = (status: number, name: string, message = "…") => JSON.stringify({ statusCode: status, name, message });
const none = new Headers();

describe("Resend response classification (resend.com/docs/api-reference/errors)", () => {
  it("2xx is sent, with Resend's id when the body carries one", () => {
    expect(classifyResendResponse(200, none, '{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}')).toEqual({
      kind: "sent",
      providerMessageId: "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794",
    });
    // Accepted is accepted: an unreadable success body must not cause a second email.
    expect(classifyResendResponse(200, none, "<html>")).toEqual({ kind: "sent", providerMessageId: null });
  });

  it.each([
    [429, "rate_limit_exceeded"],
    [429, "daily_quota_exceeded"],
    [429, "monthly_quota_exceeded"],
    [500, "application_error"],
    [500, "internal_server_error"],
    [502, "unknown"],
    [409, "concurrent_idempotent_requests"],
    [401, "missing_api_key"],
    [401, "restricted_api_key"],
    [403, "invalid_api_key"],
  ])("%i %s is transient (retried on the schedule)", (status, name) => {
    expect(classifyResendResponse(status, none, body(status, name)).kind).toBe("transient");
  });

  it.each([
    [400, "validation_error"],
    [400, "invalid_idempotency_key"],
    [404, "not_found"],
    [405, "method_not_allowed"],
    [409, "invalid_idempotent_request"],
    [422, "missing_required_field"],
    [422, "invalid_from_address"],
    [422, "invalid_parameter"],
    [451, "security_error"],
  ])("%i %s is permanent (dead-lettered at once)", (status, name) => {
    expect(classifyResendResponse(status, none, body(status, name)).kind).toBe("permanent");
  });

  it("keeps the provider's name and message as the reason, bounded in length", () => {
    const outcome = classifyResendResponse(422, none, body(422, "validation_error", "x".repeat(2000)));
    expect(outcome).toMatchObject({ kind: "permanent" });
    const reason = (outcome as { reason: string }).reason;
    expect(reason.startsWith("resend 422 validation_error: xxx")).toBe(true);
    expect(reason.length).toBe(500);
  });

  it("honours Retry-After in seconds or as an HTTP date", () => {
    const now = Date.UTC(2030, 0, 1);
    expect(parseRetryAfter("7", now)).toBe(7);
    expect(parseRetryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
    const limited = classifyResendResponse(429, new Headers({ "Retry-After": "42" }), body(429, "rate_limit_exceeded"));
    expect(limited).toMatchObject({ kind: "transient", retryAfterSeconds: 42 });
  });
});

describe("Resend transport", () => {
  const email = {
    id: "outbox-1",
    to: "ada@example.com",
    template: "otp-code",
    subject: "S",
    text: "T",
    html: "<p>H</p>",
  };

  it("a provider that does not answer within the timeout is a transient failure, and the request is aborted", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let aborted = false;
    route(
      RESEND_API,
      (request) =>
        new Promise((_resolve, reject) => {
          request.signal.addEventListener("abort", () => {
            aborted = true;
            reject(request.signal.reason);
          });
        }),
    );
    const pending = resendTransport("re_test_key_123", "Gatehouse <no-reply@gatehouse.events>").send(email);
    await vi.advanceTimersByTimeAsync(LIMITS.emailProviderTimeoutMs);
    expect(await pending).toEqual({
      kind: "transient",
      reason: `resend timed out after ${LIMITS.emailProviderTimeoutMs} ms`,
      retryAfterSeconds: null,
    });
    expect(aborted).toBe(true);
  });

  it("a network error is a transient failure carrying the error's message", async () => {
    route(RESEND_API, () => {
      throw new TypeError("Network connection lost.");
    });
    expect(await resendTransport("re_test_key_123", "a@b.example").send(email)).toEqual({
      kind: "transient",
      reason: "resend unreachable: Network connection lost.",
      retryAfterSeconds: null,
    });
  });
});
