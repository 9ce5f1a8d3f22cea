/**
 * Every producer writes its webhook event in the same D1 batch as its fact, for the host the fact
 * belongs to: event.published and event.cancelled (the events service), order.created,
 * order.cancelled, order.refunded and ticket.checked_in (the event's inventory object, through its
 * projection to D1), tip.received (a tip's capture). The rows are what these tests read; their
 * delivery is delivery.test.ts's.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EventRow } from "../../../src/features/events/service";
import { toSnapshot } from "../../../src/features/events/service";
import { call } from "../../helpers";
import { countRows, rows } from "../../support/db";
import { givePayoutAccount } from "../../support/payouts";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, d1Event, hostWithToken, inventory, order } from "../events/helpers";
import { gateEvent, issueTickets } from "../gate/helpers";
import { PaymentsHarness } from "../payments/harness";
import { api, subscribe, tryWriteEvent } from "./harness";

interface EventRowOut {
  id: string;
  host_id: string;
  type: string;
  data: string;
  fanned_out_at: number | null;
}

/** The webhook event of `type` for `factId`, once the producer (or the object's push) wrote it. */
async function webhookEvent(type: string, factId: string): Promise<{ hostId: string; data: Record<string, unknown> }> {
  const id = `msg_${type}_${factId}`;
  let row: EventRowOut | undefined;
  await vi.waitFor(
    async () => {
      row = (await rows<EventRowOut>("SELECT * FROM webhook_events WHERE id = ?", id))[0];
      if (!row) throw new Error(`no ${id} yet`);
    },
    { timeout: 5_000, interval: 50 },
  );
  return { hostId: (row as EventRowOut).host_id, data: JSON.parse((row as EventRowOut).data) };
}

const countOf = (type: string, factId: string) => countRows("webhook_events", "id = ?", `msg_${type}_${factId}`);

describe("webhook producers", () => {
  it("write a fact only for a host with an enabled endpoint subscribed to its type", async () => {
    const host = await hostWithToken();
    expect(await tryWriteEvent(host.id, "order.created")).toBeNull();
    await subscribe(host.id, ["tip.received"]);
    expect(await tryWriteEvent(host.id, "order.created")).toBeNull();
    const endpoint = await subscribe(host.id, ["order.created"]);
    await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 0 WHERE id = ?").bind(endpoint).run();
    expect(await tryWriteEvent(host.id, "order.created")).toBeNull();
    // The inventory object's writer (the host read from the events row) asks the same.
    const event = await createEvent(host.token);
    const [buyer] = await buyers(1);
    const res = await order(event.id, buyer?.token ?? "", 1, { "Idempotency-Key": crypto.randomUUID() });
    expect(res.status).toBe(201);
    const { order: placed } = (await res.json()) as { order: { id: string } };
    expect(await countRows("orders", "id = ?", placed.id)).toBe(1);
    expect(await countRows("webhook_events", "host_id = ?", host.id)).toBe(0);

    await env.DB.prepare("UPDATE webhook_endpoints SET enabled = 1 WHERE id = ?").bind(endpoint).run();
    expect(await tryWriteEvent(host.id, "order.created")).toMatch(/^msg_order\.created_/);
    const second = await order(event.id, (await buyers(1))[0]?.token ?? "", 1, {
      "Idempotency-Key": crypto.randomUUID(),
    });
    const { order: subscribedOrder } = (await second.json()) as { order: { id: string } };
    expect(await countOf("order.created", subscribedOrder.id)).toBe(1);
  });

  it("publishing and cancelling an event write event.published and event.cancelled for its host, once each", async () => {
    const host = await hostWithToken();
    await subscribe(host.id);
    const event = await createEvent(host.token, { title: "Night Market" }, false);
    expect(await countOf("event.published", event.id)).toBe(0);
    const published = await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(host.token) });
    expect(published.status).toBe(200);
    const { version } = (await published.json()) as { version: number };
    expect(await webhookEvent("event.published", event.id)).toMatchObject({
      hostId: host.id,
      data: { eventId: event.id, title: "Night Market", status: "published", price: 0 },
    });
    // A refused second publish writes nothing more.
    expect(
      (await call(`/api/v1/events/${event.id}/publish`, { method: "POST", headers: bearer(host.token) })).status,
    ).toBe(409);
    expect(await countOf("event.published", event.id)).toBe(1);
    // An edit is no webhook.
    const edit = await api("PATCH", `/api/v1/events/${event.id}`, host.token, { title: "Night Market II", version });
    expect(edit.status).toBe(200);
    expect(await countRows("webhook_events", "host_id = ?", host.id)).toBe(1);

    expect(
      (await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(host.token) })).status,
    ).toBe(200);
    expect(await webhookEvent("event.cancelled", event.id)).toMatchObject({
      hostId: host.id,
      data: { eventId: event.id, status: "cancelled", title: "Night Market II" },
    });
  });

  it("a claimed order writes order.created with its tickets; the event's cancellation voids it: order.cancelled", async () => {
    const host = await hostWithToken();
    await subscribe(host.id);
    const event = await createEvent(host.token, { perUserLimit: 4 });
    const [buyer] = await buyers(1);
    const res = await order(event.id, buyer?.token ?? "", 2, { "Idempotency-Key": crypto.randomUUID() });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { order: { id: string }; tickets: { id: string; serial: number }[] };
    const created = await webhookEvent("order.created", body.order.id);
    expect(created.hostId).toBe(host.id);
    expect(created.data).toMatchObject({
      orderId: body.order.id,
      eventId: event.id,
      quantity: 2,
      amount: 0,
      currency: "EUR",
    });
    const bySerial = [...body.tickets].sort((a, b) => a.serial - b.serial).map((t) => t.id);
    expect(created.data.ticketIds).toEqual(bySerial);
    // Nothing of the buyer's beyond ids.
    expect(JSON.stringify(created.data)).not.toContain(buyer?.email ?? "@");

    expect(
      (await call(`/api/v1/events/${event.id}/cancel`, { method: "POST", headers: bearer(host.token) })).status,
    ).toBe(200);
    expect(await webhookEvent("order.cancelled", body.order.id)).toMatchObject({
      hostId: host.id,
      data: { orderId: body.order.id, eventId: event.id, quantity: 2, ticketIds: bySerial },
    });
    expect(await countOf("order.created", body.order.id)).toBe(1);
  });

  it("a ticket admitted at the gate writes ticket.checked_in with when", async () => {
    const { host, event } = await gateEvent();
    await subscribe(host.id);
    const [ticket] = await issueTickets(event.id, 1);
    const answer = await inventory(event.id).redeem({
      ticketId: ticket?.id ?? "",
      nonce: crypto.randomUUID(),
      deviceId: "device-1",
      deviceName: "North gate",
    });
    expect(answer).toMatchObject({ result: "admitted" });
    const checkedIn = await webhookEvent("ticket.checked_in", ticket?.id ?? "");
    expect(checkedIn.hostId).toBe(host.id);
    expect(checkedIn.data).toMatchObject({ ticketId: ticket?.id, eventId: event.id, serial: 1 });
    expect(typeof checkedIn.data.checkedInAt).toBe("string");
    // A second scan is already_redeemed: no second webhook.
    await inventory(event.id).redeem({
      ticketId: ticket?.id ?? "",
      nonce: crypto.randomUUID(),
      deviceId: "device-2",
      deviceName: "South gate",
    });
    expect(await countOf("ticket.checked_in", ticket?.id ?? "")).toBe(1);
  });

  it("a paid order's refund writes order.refunded with the amount", async () => {
    const host = await hostWithToken();
    await subscribe(host.id);
    const event = await createEvent(host.token, { price: 1500, currency: "EUR" });
    const [buyer] = await buyers(1);
    const orderId = crypto.randomUUID();
    const stub = inventory(event.id);
    const snapshot = toSnapshot((await d1Event(event.id)) as unknown as EventRow);
    expect(
      await stub.hold({ orderId, userId: buyer?.id ?? "", quantity: 1, ttlMs: 60_000, contact: null, snapshot }),
    ).toMatchObject({ ok: true });
    expect(await stub.confirm({ orderId, paymentRef: "pi_test_refund" })).toMatchObject({ ok: true });
    expect((await webhookEvent("order.created", orderId)).data).toMatchObject({ amount: 1500, quantity: 1 });
    expect(await stub.refund({ orderId, outcome: "refunded" })).toMatchObject({ ok: true });
    expect(await webhookEvent("order.refunded", orderId)).toMatchObject({
      hostId: host.id,
      data: { orderId, eventId: event.id, amount: 1500, currency: "EUR", quantity: 1 },
    });
  });
});

describe("tip.received", () => {
  let stripe: FakeStripe;
  beforeEach(() => {
    stripe = useFakeStripe();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("a tip that goes through writes tip.received for its creator, without the fan's message, and wakes it", async () => {
    const woken: unknown[] = [];
    const h = new PaymentsHarness({
      OUTGOING_WEBHOOK_QUEUE: {
        sendBatch: async (messages: { body: unknown }[]) => woken.push(...messages.map((m) => m.body)),
      },
    });
    const [creator, fan] = await buyers(2);
    await subscribe(creator?.id ?? "");
    const handle = `w${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;
    await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
      .bind(handle, creator?.id, Date.now())
      .run();
    await givePayoutAccount(creator?.id ?? "", { chargesEnabled: true });
    const res = await h.fetch(`/api/v1/profiles/${handle}/tips`, {
      method: "POST",
      token: fan?.token,
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify({ amount: 700, currency: "USD", message: "for the set list" }),
    });
    expect(res.status).toBe(201);
    const { tipId, checkoutUrl } = (await res.json()) as { tipId: string; checkoutUrl: string };
    expect(await countOf("tip.received", tipId)).toBe(0);
    const session = stripe.sessionByUrl(checkoutUrl);
    expect((await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(session.id)))).status).toBe(200);
    await h.drain();
    const received = await webhookEvent("tip.received", tipId);
    expect(received).toMatchObject({ hostId: creator?.id, data: { tipId, amount: 700, currency: "USD" } });
    expect(JSON.stringify(received.data)).not.toContain("set list");
    expect(woken).toContainEqual({ webhookEventId: `msg_tip.received_${tipId}` });
    // The same capture again (another event id) writes nothing more.
    await h.webhook(stripeEvent("checkout.session.async_payment_succeeded", stripe.session(session.id)));
    await h.drain();
    expect(await countOf("tip.received", tipId)).toBe(1);
  });
});
