import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "./helpers";

describe("free event end to end", () => {
  it("host creates and publishes; an attendee claims a ticket that shows up everywhere", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 3 });
    expect(event.status).toBe("published");
    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");

    const res = await order(event.id, buyer.token);
    expect(res.status).toBe(201);
    const body = (await res.json()) as {
      order: { id: string; status: string; amount: number };
      tickets: { id: string; serial: number }[];
    };
    expect(body.order).toMatchObject({ status: "confirmed", amount: 0, quantity: 1, currency: "EUR" });
    expect(body.tickets).toHaveLength(1);
    expect(body.tickets[0]?.serial).toBe(1);
    expect(body.tickets[0]?.id).toMatch(/^[A-Za-z0-9_-]{22}$/);

    const stored = await env.DB.prepare("SELECT status, user_id FROM tickets WHERE id = ?")
      .bind(body.tickets[0]?.id)
      .first();
    expect(stored).toEqual({ status: "active", user_id: buyer.id });

    const got = await call(`/api/v1/orders/${body.order.id}`, { headers: bearer(buyer.token) });
    expect(got.status).toBe(200);
    const mine = await call("/api/v1/me/tickets", { headers: bearer(buyer.token) });
    const tickets = (await mine.json()) as { items: { id: string; event: { title: string } }[] };
    expect(tickets.items.map((t) => t.id)).toEqual([body.tickets[0]?.id]);
    expect(tickets.items[0]?.event.title).toBe("Rooftop Jazz");

    const view = await call(`/api/v1/events/${event.id}`);
    expect(((await view.json()) as { availability: object }).availability).toEqual({
      capacity: 3,
      sold: 1,
      held: 0,
      remaining: 2,
    });

    const again = await order(event.id, buyer.token);
    expect(again.status).toBe(409);
    expect((await problemOf(again)).type).toMatch(/already-registered$/);

    const cancel = await call(`/api/v1/orders/${body.order.id}/cancel`, {
      method: "POST",
      headers: bearer(buyer.token),
    });
    expect(cancel.status).toBe(200);
    const after = await call(`/api/v1/events/${event.id}`);
    expect(((await after.json()) as { availability: object }).availability).toEqual({
      capacity: 3,
      sold: 0,
      held: 0,
      remaining: 3,
    });
    const voided = await env.DB.prepare("SELECT status FROM tickets WHERE id = ?").bind(body.tickets[0]?.id).first();
    expect(voided).toEqual({ status: "void" });
  });

  it("capacity 2 with 3 simultaneous buyers: 2 tickets and 1 sold-out", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 2 });
    const people = await buyers(3);
    const statuses = await Promise.all(people.map((p) => order(event.id, p.token).then((r) => r.status)));
    expect(statuses.sort()).toEqual([201, 201, 409]);
    const count = await env.DB.prepare("SELECT COUNT(*) AS n FROM tickets WHERE event_id = ?")
      .bind(event.id)
      .first<{ n: number }>();
    expect(count?.n).toBe(2);
  });
});
