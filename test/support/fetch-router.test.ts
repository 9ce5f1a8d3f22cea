/**
 * The test kit's outbound-fetch router: fakes for different origins answer in one test, a request to
 * an origin nobody routed fails loudly instead of reaching the network, and nothing outlives its test.
 */
import { describe, expect, it, vi } from "vitest";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { createUser, PASSWORD, postJson, uniqueEmail } from "../features/auth/helpers";
import { PaymentsHarness } from "../features/payments/harness";
import { buyer, checkout, paidEvent } from "../features/payments/helpers";
import { freshIp } from "../helpers";
import { insertOutbox, outboxRow, QueueHarness, RESEND_ENV } from "../queues/email-harness";
import { outboundRequests, route, UnroutedFetchError } from "./fetch-router";
import { RESEND_API, useFakeResend } from "./resend";
import { STRIPE_API, useFakeStripe } from "./stripe";
import { TURNSTILE_ORIGIN, useFakeTurnstile } from "./turnstile";

const GOOD = "XXXX.DUMMY.TOKEN.XXXX-accepted";

describe("the outbound-fetch router", () => {
  it("fake Stripe, fake Resend and fake Turnstile answer together in one test", async () => {
    const stripe = useFakeStripe();
    const resend = useFakeResend();
    const turnstile = useFakeTurnstile([GOOD]);

    // Turnstile: three failed sign-ins from one address bring the challenge on; siteverify passes it.
    const ip = freshIp();
    for (let i = 0; i < 3; i++) {
      const failed = await postJson("/api/v1/auth/login", { email: uniqueEmail(), password: "wrong-one" }, { ip });
      expect(failed.status).toBe(401);
    }
    const user = await createUser();
    const signIn = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD, turnstileToken: GOOD },
      { ip },
    );
    expect(signIn.status).toBe(200);
    expect(turnstile.calls.map((c) => c.response)).toEqual([GOOD]);

    // Stripe: a paid order gets its Checkout Session from the fake Stripe.
    const { event } = await paidEvent();
    const { session } = await checkout(new PaymentsHarness(), stripe, event.id, (await buyer()).token);
    expect(session.status).toBe("open");
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(1);

    // Resend: the email consumer delivers an outbox row through the fake Resend.
    const queue = new QueueHarness(RESEND_ENV);
    const id = await insertOutbox();
    queue.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    await queue.drain();
    expect(resend.created.map((c) => c.key)).toEqual([id]);
    expect(await outboxRow(id)).toMatchObject({ status: "sent", attempts: 1 });

    const origins = new Set(outboundRequests().map((r) => new URL(r.url).origin));
    expect(origins).toEqual(new Set([TURNSTILE_ORIGIN, STRIPE_API, RESEND_API]));
  });

  it("a request to an origin nothing routes throws, naming the request and the routed origins", async () => {
    useFakeStripe();
    const unrouted = fetch("https://example.com/anything?x=1", { method: "POST" });
    await expect(unrouted).rejects.toThrow(UnroutedFetchError);
    await expect(fetch("https://example.com/anything?x=1", { method: "POST" })).rejects.toThrow(
      "unrouted outbound fetch: POST https://example.com/anything?x=1 (routed: https://api.stripe.com)",
    );
    // Same host on another scheme or port is another origin.
    await expect(fetch("http://api.stripe.com/v1/refunds")).rejects.toThrow(UnroutedFetchError);
  });

  it("a route answers its origin only; routing it again replaces the handler", async () => {
    route("https://one.example", () => new Response("first"));
    route("https://one.example", (request) => new Response(`second ${new URL(request.url).pathname}`));
    expect(await (await fetch("https://one.example/a/b")).text()).toBe("second /a/b");
    await expect(fetch("https://two.example/")).rejects.toThrow(UnroutedFetchError);
    expect(outboundRequests()).toEqual([
      { method: "GET", url: "https://one.example/a/b" },
      { method: "GET", url: "https://two.example/" },
    ]);
  });

  it("route() takes an origin, not a URL with a path", () => {
    expect(() => route("https://api.stripe.com/v1", () => new Response())).toThrow(/origin without a path/);
    expect(() => route("api.stripe.com", () => new Response())).toThrow(/absolute origin/);
  });

  it("nothing outlives its test: the next test starts with the runtime's own fetch", () => {
    expect(vi.isMockFunction(globalThis.fetch)).toBe(false);
    expect(outboundRequests()).toEqual([]);
  });

  it("after vi.restoreAllMocks() the next route starts a fresh router without the old routes", async () => {
    route("https://one.example", () => new Response("one"));
    vi.restoreAllMocks();
    expect(vi.isMockFunction(globalThis.fetch)).toBe(false);
    route("https://two.example", () => new Response("two"));
    expect(await (await fetch("https://two.example/")).text()).toBe("two");
    await expect(fetch("https://one.example/")).rejects.toThrow(UnroutedFetchError);
  });
});
