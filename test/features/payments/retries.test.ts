/**
 * When applying a webhook event keeps failing: retried on the schedule 1 min, 5 min, 30 min, 2 h,
 * 24 h (the 24 h wait chained in hops of at most 12 h, Cloudflare Queues' limit), then dead-lettered
 * with the error and a log line, listed for admins, and replayed once — successfully.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WEBHOOK_DLQ_NAME } from "../../../queues/webhooks-dlq";
import { retryDelayBounds } from "../../../src/features/payments/retry";
import { freezeClock } from "../../support/clock";
import { rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { type FakeStripe, useFakeStripe } from "../../support/stripe";
import { PaymentsHarness } from "./harness";
import { adminToken, buyer, checkout, orderStatus, paid, paidEvent, paymentsOf } from "./helpers";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const HOUR = 3600;

describe("a webhook whose processing keeps failing", () => {
  it("is retried after 1 min, 5 min, 30 min, 2 h and 24 h (chained ≤ 12 h hops), then dead-lettered, then replayed", async () => {
    const h = new PaymentsHarness();
    const admin = await adminToken();
    const { event } = await paidEvent();
    const who = await buyer();
    const { order, session } = await checkout(h, stripe, event.id, who.token);
    const completed = paid(stripe, session.id);
    expect((await h.webhook(completed)).status).toBe(200);

    // The inventory is unreachable for the whole schedule: every attempt throws.
    const working = h.env;
    h.env = {
      ...working,
      EVENT_INVENTORY: {
        getByName: () => {
          throw new Error("EventInventory unreachable");
        },
      },
    } as unknown as Env;
    const logs = captureLogs();
    const start = Date.now();
    freezeClock(start);
    await h.drain({ advanceClock: true });

    const delays = h.settled.filter((s) => s.outcome === "retry").map((s) => s.delaySeconds ?? 0);
    for (const [i, failure] of [1, 2, 3, 4].entries()) {
      const { min, max } = retryDelayBounds(failure);
      expect(delays[i]).toBeGreaterThanOrEqual(min);
      expect(delays[i]).toBeLessThanOrEqual(max);
    }
    expect(retryDelayBounds(1).min).toBe(60);
    expect(retryDelayBounds(2).min).toBe(5 * 60);
    expect(retryDelayBounds(3).min).toBe(30 * 60);
    expect(retryDelayBounds(4).min).toBe(2 * HOUR);
    // The fifth wait is 24 h, longer than a queue delay may be: hops of at most 12 h that add up to it.
    const hops = delays.slice(4);
    expect(hops.length).toBeGreaterThanOrEqual(2);
    for (const hop of hops) expect(hop).toBeLessThanOrEqual(12 * HOUR);
    const total = hops.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(retryDelayBounds(5).min);
    expect(total).toBeLessThanOrEqual(retryDelayBounds(5).max + 1);
    expect(retryDelayBounds(5).min).toBe(24 * HOUR);

    // Six attempts, then the dead-letter list: the row, the entry with the error, one error log line.
    const [row] = await rows<{ status: string; attempts: number; last_error: string }>(
      "SELECT status, attempts, last_error FROM stripe_events WHERE id = ?",
      completed.id,
    );
    expect(row).toMatchObject({ status: "dead_letter" });
    const [letter] = await rows<{ id: string; source: string; reason: string; replayed_at: number | null }>(
      "SELECT * FROM dead_letters WHERE ref_id = ?",
      completed.id,
    );
    expect(letter).toMatchObject({ source: "stripe-webhook", replayed_at: null });
    expect(letter?.reason).toMatch(/gave up after 6 attempts; last error: EventInventory unreachable/);
    const logged = logs.entries("payments work dead-lettered", "error");
    expect(logged).toHaveLength(1);
    expect(Date.now() - start).toBeGreaterThanOrEqual((60 + 300 + 1800 + 7200 + 86400) * 1000);
    expect(await orderStatus(order.id)).toBe("held");

    // An operator lists it and replays it once the inventory is back.
    vi.useRealTimers();
    h.env = working;
    const listed = await h.fetch("/api/v1/admin/dead-letters?source=stripe-webhook&state=open", { token: admin });
    expect(listed.status).toBe(200);
    const items = ((await listed.json()) as { items: { id: string; refId: string; payload: { type: string } }[] })
      .items;
    expect(items.find((i) => i.refId === completed.id)?.payload.type).toBe("checkout.session.completed");

    const replay = await h.fetch(`/api/v1/admin/dead-letters/${letter?.id}/replay`, { method: "POST", token: admin });
    expect(replay.status).toBe(202);
    const again = await h.fetch(`/api/v1/admin/dead-letters/${letter?.id}/replay`, { method: "POST", token: admin });
    expect(again.status).toBe(409);
    await h.drain();

    expect(await orderStatus(order.id)).toBe("confirmed");
    expect(await paymentsOf(order.id)).toHaveLength(1);
    expect(await rows("SELECT status, attempts FROM stripe_events WHERE id = ?", completed.id)).toEqual([
      { status: "processed", attempts: 0 },
    ]);
  });

  it("a message Queues gives up on (the consumer failed before recording anything) is dead-lettered by the DLQ consumer", async () => {
    const h = new PaymentsHarness();
    const { event } = await paidEvent();
    const who = await buyer();
    const { session } = await checkout(h, stripe, event.id, who.token);
    const completed = paid(stripe, session.id);
    await h.webhook(completed);
    h.pending.splice(0);

    h.enqueue(WEBHOOK_DLQ_NAME, { eventId: completed.id });
    h.enqueue(WEBHOOK_DLQ_NAME, { eventId: completed.id });
    await h.drain();
    const letters = await rows<{ reason: string }>("SELECT reason FROM dead_letters WHERE ref_id = ?", completed.id);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.reason).toMatch(/queue retries exhausted/);
    expect(await rows("SELECT status FROM stripe_events WHERE id = ?", completed.id)).toEqual([
      { status: "dead_letter" },
    ]);
  });
});
