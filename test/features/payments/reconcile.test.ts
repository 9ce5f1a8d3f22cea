/**
 * The hourly reconciliation: pending orders whose session expired a while ago are checked against
 * Stripe and fixed as their missing webhook would have fixed them; the 5-minute sweep re-sends queue
 * messages that got lost. Undelivered webhooks are therefore harmless.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { PAYMENTS_RECONCILE_CRON } from "../../../src/features/payments/cron";
import { rows } from "../../support/db";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { overloaded, replacingMethod } from "../../support/stubs";
import { inventory } from "../events/helpers";
import { PaymentsHarness } from "./harness";
import {
  buyer,
  checkout,
  email,
  emailsTo,
  expectStats,
  lapseHold,
  orderStatus,
  paid,
  paidEvent,
  paymentsOf,
  ticketsOf,
} from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * As if the session's expiry (and the grace after it) had passed: our row's, and the hold's in the
 * event's object, which a session's expiry is (they end together).
 */
async function expiredLocally(session: { session: { id: string }; order: { id: string; eventId: string } }) {
  const at = Date.now() - 11 * 60 * 1000;
  await rows("UPDATE checkout_sessions SET expires_at = ? WHERE id = ? RETURNING id", at, session.session.id);
  await runInDurableObject(inventory(session.order.eventId), (_instance, state) => {
    state.storage.sql.exec(
      "UPDATE orders SET hold_expires_at = ? WHERE id = ? AND status = 'held'",
      at,
      session.order.id,
    );
  });
}

describe("hourly reconciliation", () => {
  it("confirms an order whose completed webhook never came, releases one whose expired webhook never came", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 4 });
    const payer = await buyer();
    const paidOne = await checkout(h, stripe, event.id, payer.token, 2);
    stripe.pay(paidOne.session.id);
    const quitter = await buyer();
    const abandoned = await checkout(h, stripe, event.id, quitter.token);
    stripe.expire(abandoned.session.id);
    const stillOpen = await checkout(h, stripe, event.id, (await buyer()).token);
    await expectStats(event.id, { sold: 0, held: 4, remaining: 0 });

    // The 5-minute cron does not reconcile; nothing is due yet either.
    await h.cron("*/5 * * * *");
    expect(stripe.callsTo("GET", "/v1/checkout/sessions")).toHaveLength(0);

    await expiredLocally(paidOne);
    await expiredLocally(abandoned);
    await h.cron(PAYMENTS_RECONCILE_CRON);
    await h.drain();

    expect(
      stripe
        .callsTo("GET", "/v1/checkout/sessions")
        .map((c) => c.path.split("/").pop())
        .sort(),
    ).toEqual([paidOne.session.id, abandoned.session.id].sort());
    expect(await orderStatus(paidOne.order.id)).toBe("confirmed");
    expect(await ticketsOf(event.id, paidOne.order.id)).toHaveLength(2);
    expect(await paymentsOf(paidOne.order.id)).toHaveLength(1);
    expect(await emailsTo(await email(payer.id), "order-confirmed")).toHaveLength(1);
    expect(await orderStatus(abandoned.order.id)).toBe("released");
    expect(await orderStatus(stillOpen.order.id)).toBe("held");
    await expectStats(event.id, { sold: 2, held: 1, remaining: 1 });

    // A second run finds nothing left to do.
    await h.cron(PAYMENTS_RECONCILE_CRON);
    expect(stripe.callsTo("GET", "/v1/checkout/sessions")).toHaveLength(2);
  });

  it("refunds a missed payment whose seats were sold meanwhile", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent({ capacity: 1 });
    const late = await checkout(h, stripe, event.id, (await buyer()).token);
    stripe.pay(late.session.id);
    await lapseHold(event.id, late.order.id);
    const other = await checkout(h, stripe, event.id, (await buyer()).token);
    stripe.pay(other.session.id);
    await expiredLocally(late);
    await expiredLocally(other);
    await h.cron(PAYMENTS_RECONCILE_CRON);
    await h.drain();
    // Sessions are reconciled oldest expiry first, but whichever wins the seat, one is confirmed and one refunded.
    const statuses = [await orderStatus(late.order.id), await orderStatus(other.order.id)].sort();
    expect(statuses).toEqual(["confirmed", "refunded_sold_out"]);
    expect(stripe.created("/v1/refunds")).toHaveLength(1);
    await expectStats(event.id, { sold: 1, held: 0, remaining: 0 });
  });
});

describe("hourly reconciliation of captures not seen through", () => {
  it("a payment whose webhook failed after marking its session complete is applied an hour after, once", async () => {
    // The event's object refuses to confirm: every delivery of the completed webhook fails past the mark.
    const failing = new PaymentsHarness({
      EVENT_INVENTORY: replacingMethod(env.EVENT_INVENTORY, "confirm", overloaded),
    });
    const { event } = await paidEvent({ capacity: 2 });
    const payer = await buyer();
    const paidOne = await checkout(failing, stripe, event.id, payer.token);
    await failing.webhook(paid(stripe, paidOne.session.id));
    await failing.drain();
    const session = async () =>
      (
        await rows<{ status: string; applied_at: number | null }>(
          "SELECT status, applied_at FROM checkout_sessions WHERE id = ?",
          paidOne.session.id,
        )
      )[0];
    expect(await session()).toEqual({ status: "complete", applied_at: null });
    expect(await orderStatus(paidOne.order.id)).toBe("held");
    expect(await paymentsOf(paidOne.order.id)).toHaveLength(0);

    // Its retries went to the dead letters. Within the hour the reconciliation leaves it to them.
    expect(
      await rows(
        "UPDATE stripe_events SET status = 'dead_letter', next_attempt_at = NULL WHERE object_id = ? RETURNING id",
        paidOne.session.id,
      ),
    ).toHaveLength(1);
    const h = new PaymentsHarness();
    const hour = LIMITS.reconcileUnappliedGraceSeconds * 1000;
    await h.cron(PAYMENTS_RECONCILE_CRON, Date.now() + hour - 60_000);
    expect(stripe.callsTo("GET", `/v1/checkout/sessions/${paidOne.session.id}`)).toHaveLength(0);

    const later = Date.now() + hour + 60_000;
    await h.cron(PAYMENTS_RECONCILE_CRON, later);
    await h.drain();
    expect(stripe.callsTo("GET", `/v1/checkout/sessions/${paidOne.session.id}`)).toHaveLength(1);
    expect(await orderStatus(paidOne.order.id)).toBe("confirmed");
    expect(await ticketsOf(event.id, paidOne.order.id)).toHaveLength(1);
    expect(await paymentsOf(paidOne.order.id)).toHaveLength(1);
    expect((await session())?.applied_at).toEqual(expect.any(Number));
    await expectStats(event.id, { sold: 1, held: 0, remaining: 1 });

    // Seen through now: the next run does not fetch it again.
    await h.cron(PAYMENTS_RECONCILE_CRON, later + hour);
    expect(stripe.callsTo("GET", `/v1/checkout/sessions/${paidOne.session.id}`)).toHaveLength(1);
  });
});

describe("the 5-minute sweep", () => {
  it("re-sends an inbox event whose queue message was lost", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const { order, session } = await checkout(h, stripe, event.id, (await buyer()).token);
    await h.webhook(paid(stripe, session.id));
    h.pending.splice(0);
    await h.cron("*/5 * * * *");
    expect(h.pending).toHaveLength(0);
    // Ten minutes later the message is presumed lost.
    await h.cron("*/5 * * * *", Date.now() + 11 * 60 * 1000);
    expect(h.pending).toHaveLength(1);
    await h.drain();
    expect(await orderStatus(order.id)).toBe("confirmed");
  });
});
