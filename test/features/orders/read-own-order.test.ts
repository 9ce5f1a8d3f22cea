/**
 * A free claim answers before its push reaches D1 (durable-objects/event-inventory); the buyer's own
 * reads right after still find the order: the session check names the event they just ordered at,
 * and the order, wallet and QR reads have its object finish the push first
 * (src/features/orders/settle.ts). Here D1 refuses the push until the read comes, so only that
 * settling can put the order in D1 in time: without it the reads answer 404 (the object's own retry
 * waits seconds).
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { call, freshIp } from "../../helpers";
import { rows } from "../../support/db";
import { bookNotes } from "../../support/sessions";
import { overloaded, replacingMethod } from "../../support/stubs";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, inventory } from "../events/helpers";

/** The order as the buyer's app sends it: no waiting for anything after the answer. */
function placeOrder(eventId: string, token: string, path = `/api/v1/events/${eventId}/orders`) {
  return call(path, {
    method: "POST",
    ip: freshIp(),
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify({ quantity: 1 }),
  });
}

/** D1 refuses every order row until `reopen` (the object's push fails and is retried later). */
async function refuseOrderRows(): Promise<{ reopen: () => Promise<void> }> {
  await env.DB.exec(
    "CREATE TRIGGER refuse_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'refused in this test'); END;",
  );
  return { reopen: async () => void (await env.DB.exec("DROP TRIGGER refuse_orders")) };
}

/** A free event, one buyer, and D1 refusing order rows; then the buyer's order, placed. */
async function orderDuringOutage() {
  const host = await hostWithToken();
  const event = await createEvent(host.token, { capacity: 10 });
  const [buyer] = (await buyers(1)) as [Awaited<ReturnType<typeof buyers>>[0]];
  const d1 = await refuseOrderRows();
  const placed = await placeOrder(event.id, buyer.token);
  expect(placed.status).toBe(201);
  const body = (await placed.json()) as { order: { id: string }; tickets: { id: string }[] };
  return { host, event, buyer, d1, ...body };
}

describe("reading one's own order right after it is placed", () => {
  it("the order, the wallet list and a ticket's QR find it, though D1 did not have it when the order answered", async () => {
    const { event, buyer, d1, order, tickets } = await orderDuringOutage();
    expect(tickets).toHaveLength(1);
    // Decided and stored in the event's object; D1 has nothing yet, and the object holds the rows.
    expect(await rows("SELECT id FROM orders WHERE id = ?", order.id)).toEqual([]);
    expect((await inventory(event.id).getOrder(order.id))?.order.status).toBe("confirmed");

    await d1.reopen();
    const read = await call(`/api/v1/orders/${order.id}`, { headers: bearer(buyer.token) });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { tickets: { id: string }[] }).tickets.map((t) => t.id).sort()).toEqual(
      tickets.map((t) => t.id).sort(),
    );
    const wallet = (await (await call("/api/v1/me/tickets", { headers: bearer(buyer.token) })).json()) as {
      items: { id: string }[];
    };
    expect(wallet.items.map((t) => t.id).sort()).toEqual(tickets.map((t) => t.id).sort());
    const qr = await call(`/api/v1/tickets/${tickets[0]?.id}/qr`, { headers: bearer(buyer.token) });
    expect(qr.status).toBe(200);
  });

  it("the QR read alone, first after the order, settles it too", async () => {
    const { buyer, d1, tickets } = await orderDuringOutage();
    await d1.reopen();
    expect((await call(`/api/v1/tickets/${tickets[0]?.id}/qr`, { headers: bearer(buyer.token) })).status).toBe(200);
  });

  it("someone else's reads do not wait: a host's order list is a read model, current once the push lands", async () => {
    const { host, event, d1 } = await orderDuringOutage();
    await d1.reopen();
    const list = async () =>
      (
        (await (await call(`/api/v1/events/${event.id}/orders`, { headers: bearer(host.token) })).json()) as {
          items: unknown[];
        }
      ).items;
    expect(await list()).toHaveLength(0);
    await inventory(event.id).sync();
    expect(await list()).toHaveLength(1);
  });
});

/** The env with the users' shard objects refusing to take a note back (overloaded or unreachable). */
function unnoteDown(): typeof env {
  const broken = replacingMethod(env.RATE_LIMITER, "unnoteOrdering", overloaded);
  return { ...env, RATE_LIMITER: broken } as typeof env;
}

/** An order through the API, returning once the work it left for after its answer is done too. */
async function orderAndAfter(eventId: string, token: string, headers: Record<string, string> = {}, target = env) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`https://gatehouse.test/api/v1/events/${eventId}/orders`, {
      method: "POST",
      headers: {
        ...bearer(token),
        "Content-Type": "application/json",
        "CF-Connecting-IP": freshIp(),
        ...headers,
      },
      body: JSON.stringify({ quantity: 1 }),
    }),
    target,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** An event of one ticket, sold to `lucky`; `late` has not ordered yet. */
async function lastTicketSold() {
  const host = await hostWithToken();
  const event = await createEvent(host.token, { capacity: 1 });
  const [lucky, late] = (await buyers(2)) as [
    Awaited<ReturnType<typeof buyers>>[0],
    Awaited<ReturnType<typeof buyers>>[0],
  ];
  expect((await orderAndAfter(event.id, lucky.token)).status).toBe(201);
  return { event, lucky, late };
}

describe("a refused order's note", () => {
  it("sold out, the buyer's note is taken back after the answer; the buyer who got the ticket keeps theirs", async () => {
    const { event, lucky, late } = await lastTicketSold();
    const refused = await orderAndAfter(event.id, late.token);
    expect(refused.status).toBe(409);
    expect(await bookNotes(late.id)).toEqual([]);
    expect(await bookNotes(lucky.id)).toEqual([{ event_id: event.id, refs: 1 }]);
  });

  it("refused before the object decides (the waiting room is on and there is no pass), the note goes too", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { queue: { mode: "on", admitPerSecond: 50 } });
    const [buyer] = (await buyers(1)) as [Awaited<ReturnType<typeof buyers>>[0]];
    expect((await orderAndAfter(event.id, buyer.token)).status).toBe(428);
    expect(await bookNotes(buyer.id)).toEqual([]);
  });

  it("a double click: the refused twin takes back only its own share, the placed order's note stays", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, perUserLimit: 1 });
    const [buyer] = (await buyers(1)) as [Awaited<ReturnType<typeof buyers>>[0]];
    const answers = await Promise.all([orderAndAfter(event.id, buyer.token), orderAndAfter(event.id, buyer.token)]);
    expect(answers.map((r) => r.status).sort()).toEqual([201, 409]);
    expect(await bookNotes(buyer.id)).toEqual([{ event_id: event.id, refs: 1 }]);
  });

  it("a note that cannot be taken back stays (reads then merely ask the object), and the answer is unchanged", async () => {
    const { event, late } = await lastTicketSold();
    expect((await orderAndAfter(event.id, late.token, {}, unnoteDown())).status).toBe(409);
    expect(await bookNotes(late.id)).toEqual([{ event_id: event.id, refs: 1 }]);
    const wallet = await call("/api/v1/me/tickets", { headers: bearer(late.token) });
    expect(wallet.status).toBe(200);
    expect(((await wallet.json()) as { items: unknown[] }).items).toEqual([]);
  });
});
