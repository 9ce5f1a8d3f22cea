/**
 * POST /api/v1/orders/{id}/checkout refusals: someone else's order, a paid order, a lapsed hold, and
 * an earlier session paid at Stripe before its webhook arrived. None creates a new Checkout Session.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { PaymentsHarness } from "./harness";
import { buyer, checkout, lapseHold, orderStatus, paid, paidEvent } from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const retry = (h: PaymentsHarness, orderId: string, token: string) =>
  h.fetch(`/api/v1/orders/${orderId}/checkout`, { method: "POST", token });

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(((await res.json()) as { type: string }).type).toMatch(new RegExp(`${code}$`));
}

const sessionsCreated = () => stripe.created("/v1/checkout/sessions").length;

describe("POST /api/v1/orders/{id}/checkout", () => {
  it("someone else's order is 404, and no session is made", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const other = await buyer();
    const { order } = await checkout(h, stripe, event.id, who.token);
    const before = sessionsCreated();
    await expectProblem(await retry(h, order.id, other.token), 404, "not-found");
    expect(sessionsCreated()).toBe(before);
    expect(await orderStatus(order.id)).toBe("held");
  });

  it("a paid order is 409 already-paid", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    await h.webhook(paid(stripe, session.id));
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");
    const before = sessionsCreated();
    await expectProblem(await retry(h, order.id, who.token), 409, "already-paid");
    expect(sessionsCreated()).toBe(before);
  });

  it("a lapsed hold is 409 hold-expired, and the hold is not stretched", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order } = await checkout(h, stripe, event.id, who.token);
    await lapseHold(event.id, order.id);
    const before = sessionsCreated();
    await expectProblem(await retry(h, order.id, who.token), 409, "hold-expired");
    expect(sessionsCreated()).toBe(before);
  });

  it("the earlier session was paid at Stripe before its webhook: 409 already-paid, no second session", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    stripe.pay(session.id); // paid on Stripe's page; the webhook is still on its way
    const before = sessionsCreated();
    await expectProblem(await retry(h, order.id, who.token), 409, "already-paid");
    expect(sessionsCreated()).toBe(before);
    expect(await orderStatus(order.id)).toBe("held");
  });
});
