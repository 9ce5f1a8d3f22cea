/**
 * Payments this deployment never made: a completed Checkout Session naming an order we do not know,
 * or naming no order at all, is recorded as ignored: no payment row, no refund, no ticket.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { stripeEvent, useFakeStripe } from "../../support/stripe";
import { PaymentsHarness } from "./harness";

beforeEach(() => {
  useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const strangerSession = (metadata: Record<string, string>) => ({
  id: `cs_test_stranger_${crypto.randomUUID().slice(0, 8)}`,
  object: "checkout.session",
  mode: "payment",
  status: "complete",
  payment_status: "paid",
  payment_intent: `pi_test_stranger_${crypto.randomUUID().slice(0, 8)}`,
  amount_total: 1500,
  currency: "eur",
  livemode: false,
  client_reference_id: metadata.orderId ?? null,
  metadata,
});

async function deliverAndRead(h: PaymentsHarness, session: ReturnType<typeof strangerSession>) {
  const event = stripeEvent("checkout.session.completed", session);
  expect((await h.webhook(event)).status).toBe(200);
  await h.drain();
  return (await rows<{ status: string }>("SELECT status FROM stripe_events WHERE id = ?", event.id))[0]?.status;
}

describe("checkout.session.completed for a session that is not ours", () => {
  it("naming an order and event this deployment does not know: ignored, warned, nothing refunded or stored", async () => {
    const h = new PaymentsHarness();
    const logs = captureLogs();
    const session = strangerSession({ orderId: "ord_unknown", eventId: "evt_unknown" });
    expect(await deliverAndRead(h, session)).toBe("ignored");
    expect(logs.entries("payment for an order this deployment does not know: ignored", "warn")).toHaveLength(1);
    expect(await rows("SELECT 1 FROM payments WHERE payment_intent = ?", session.payment_intent)).toEqual([]);
    expect(h.produced.filter((m) => JSON.stringify(m).includes(session.payment_intent))).toEqual([]);
  });

  it("naming no order at all: ignored, nothing stored", async () => {
    const h = new PaymentsHarness();
    const session = strangerSession({});
    expect(await deliverAndRead(h, session)).toBe("ignored");
    expect(await rows("SELECT 1 FROM payments WHERE payment_intent = ?", session.payment_intent)).toEqual([]);
  });
});
