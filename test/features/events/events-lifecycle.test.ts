/**
 * Event lifecycle over HTTP: draft → published → cancelled, optimistic versions, capacity edits
 * agreed with the inventory, ownership (403 for someone else's public event, 404 for their draft),
 * and cancellation voiding every ticket and notifying every attendee.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cancelEvent, findEvent, toSnapshot } from "../../../src/features/events/service";
import { call, problemOf } from "../../helpers";
import { codeOfResponse, objectRows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { bearer, mailbox } from "../auth/helpers";
import {
  buyers,
  checkedStats,
  createEvent,
  d1Event,
  d1Tickets,
  holdRequest,
  hostWithToken,
  inventory,
  objectTickets,
  order,
  publicAvailability,
} from "./helpers";

function patch(token: string, id: string, body: Record<string, unknown>) {
  return call(`/api/v1/events/${id}`, {
    method: "PATCH",
    headers: { ...bearer(token), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function transition(token: string, id: string, action: "publish" | "cancel") {
  return call(`/api/v1/events/${id}/${action}`, { method: "POST", headers: bearer(token) });
}

async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(await codeOfResponse(res)).toBe(code);
}

/** The capacity the object has adopted (its stored snapshot). */
async function objectCapacity(eventId: string): Promise<number> {
  const [row] = await objectRows<{ json: string }>(eventId, "SELECT json FROM snapshot WHERE id = 1");
  return (JSON.parse(row?.json ?? "{}") as { capacity: number }).capacity;
}

describe("event lifecycle", () => {
  it("draft → published → cancelled; publishing twice, publishing a cancelled event or cancelling twice is invalid-transition", async () => {
    const host = await hostWithToken();
    const draft = await createEvent(host.token, {}, false);
    expect(draft).toMatchObject({ status: "draft", version: 1 });

    const published = await transition(host.token, draft.id, "publish");
    expect(published.status).toBe(200);
    expect(await published.json()).toMatchObject({ status: "published", version: 2 });
    await expectProblem(await transition(host.token, draft.id, "publish"), 409, "invalid-transition");
    expect(await d1Event(draft.id)).toMatchObject({ status: "published", version: 2 });

    const cancelled = await transition(host.token, draft.id, "cancel");
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: "cancelled", version: 3 });
    await expectProblem(await transition(host.token, draft.id, "publish"), 409, "invalid-transition");
    await expectProblem(await transition(host.token, draft.id, "cancel"), 409, "invalid-transition");
    expect(await d1Event(draft.id)).toMatchObject({ status: "cancelled", version: 3 });
  });

  it("an edit carrying a stale version is refused with version-conflict and changes nothing", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token); // version 2 after publishing
    const stale = await patch(host.token, event.id, { title: "Stale", version: 1 });
    await expectProblem(stale, 409, "version-conflict");
    expect(await d1Event(event.id)).toMatchObject({ title: "Rooftop Jazz", version: 2 });

    const fresh = await patch(host.token, event.id, { title: "Fresh", version: 2 });
    expect(fresh.status).toBe(200);
    expect(await fresh.json()).toMatchObject({ title: "Fresh", version: 3 });
    await expectProblem(await patch(host.token, event.id, { title: "Late", version: 2 }), 409, "version-conflict");
    expect(await d1Event(event.id)).toMatchObject({ title: "Fresh", version: 3 });
  });

  it("two edits racing on the same version: exactly one wins, the other gets version-conflict", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    const [a, b] = await Promise.all([
      patch(host.token, event.id, { title: "Edit A", version: 2 }),
      patch(host.token, event.id, { title: "Edit B", version: 2 }),
    ]);
    const statuses = [a?.status, b?.status].sort();
    expect(statuses).toEqual([200, 409]);
    const loser = a?.status === 409 ? a : b;
    expect(await codeOfResponse(loser as Response)).toBe("version-conflict");
    const row = await d1Event(event.id);
    expect(row?.version).toBe(3);
    expect(["Edit A", "Edit B"]).toContain(row?.title);
  });

  it("a cancelled event cannot be edited (409) and stays as it was", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token);
    expect((await transition(host.token, event.id, "cancel")).status).toBe(200);
    await expectProblem(await patch(host.token, event.id, { title: "Revived", version: 3 }), 409, "invalid-transition");
    expect(await d1Event(event.id)).toMatchObject({ title: "Rooftop Jazz", status: "cancelled", version: 3 });
  });
});

describe("capacity edits", () => {
  it("capacity cannot drop below sold + held (409 capacity-below-sold, D1 and the object unchanged); equal to sold + held or to sold is fine", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const people = await buyers(3);
    for (const p of people) expect((await order(event.id, p.token)).status).toBe(201);
    const row = await findEvent(env.DB, event.id);
    if (!row) throw new Error("no event");
    const hold = await inventory(event.id).hold(holdRequest(toSnapshot(row), "someone-paying", 1));
    if (!hold.ok) throw new Error(hold.code);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 5, sold: 3, held: 1, remaining: 1 });

    await expectProblem(await patch(host.token, event.id, { capacity: 3, version: 2 }), 409, "capacity-below-sold");
    expect(await d1Event(event.id)).toMatchObject({ capacity: 5, version: 2 });
    expect(await objectCapacity(event.id)).toBe(5);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 5, sold: 3, held: 1, remaining: 1 });
    expect(await publicAvailability(event.id)).toEqual({ capacity: 5, sold: 3, held: 1, remaining: 1 });

    const equal = await patch(host.token, event.id, { capacity: 4, version: 2 });
    expect(equal.status).toBe(200);
    expect(await d1Event(event.id)).toMatchObject({ capacity: 4, version: 3 });
    expect(await objectCapacity(event.id)).toBe(4);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 4, sold: 3, held: 1, remaining: 0 });

    expect((await inventory(event.id).release({ orderId: hold.value.order.id, reason: "test" })).ok).toBe(true);
    const toSold = await patch(host.token, event.id, { capacity: 3, version: 3 });
    expect(toSold.status).toBe(200);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 3, sold: 3, held: 0, remaining: 0 });
    expect(await publicAvailability(event.id)).toEqual({ capacity: 3, sold: 3, held: 0, remaining: 0 });
    const [late] = await buyers(1);
    await expectProblem(await order(event.id, late?.token as string), 409, "sold-out");

    const grown = await patch(host.token, event.id, { capacity: 10, version: 4 });
    expect(grown.status).toBe(200);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 10, sold: 3, held: 0, remaining: 7 });
  });
});

describe("ownership", () => {
  it("another host gets 403 on someone's published event and 404 on someone's draft, and changes nothing", async () => {
    const owner = await hostWithToken();
    const other = await hostWithToken();
    const published = await createEvent(owner.token);
    const draft = await createEvent(owner.token, {}, false);

    await expectProblem(await patch(other.token, published.id, { title: "Mine now", version: 2 }), 403, "forbidden");
    await expectProblem(await transition(other.token, published.id, "cancel"), 403, "forbidden");
    await expectProblem(await patch(other.token, draft.id, { title: "Mine now", version: 1 }), 404, "not-found");
    await expectProblem(await transition(other.token, draft.id, "publish"), 404, "not-found");
    await expectProblem(await transition(other.token, draft.id, "cancel"), 404, "not-found");

    expect(await d1Event(published.id)).toMatchObject({ title: "Rooftop Jazz", status: "published", version: 2 });
    expect(await d1Event(draft.id)).toMatchObject({ title: "Rooftop Jazz", status: "draft", version: 1 });
  });

  it("a draft is invisible to everyone but its host: GET answers 404 exactly like a missing event", async () => {
    const owner = await hostWithToken();
    const other = await hostWithToken();
    const draft = await createEvent(owner.token, {}, false);

    const missing = await problemOf(await call("/api/v1/events/no-such-event-id"));
    for (const res of [
      await call(`/api/v1/events/${draft.id}`),
      await call(`/api/v1/events/${draft.id}`, { headers: bearer(other.token) }),
    ]) {
      expect(res.status).toBe(404);
      const problem = await problemOf(res);
      expect({ type: problem.type, title: problem.title, detail: problem.detail }).toEqual({
        type: missing.type,
        title: missing.title,
        detail: missing.detail,
      });
    }
    const own = await call(`/api/v1/events/${draft.id}`, { headers: bearer(owner.token) });
    expect(own.status).toBe(200);
    expect(await own.json()).toMatchObject({ id: draft.id, status: "draft" });
  });
});

describe("cancelling an event", () => {
  it("voids every ticket in the object and in D1, releases holds, shows sold 0, and emails each attendee", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, title: "Harbour Night" });
    const people = await buyers(3);
    const orderIds: string[] = [];
    for (const p of people) {
      const res = await order(event.id, p.token);
      expect(res.status).toBe(201);
      orderIds.push(((await res.json()) as { order: { id: string } }).order.id);
    }
    const row = await findEvent(env.DB, event.id);
    const hold = await inventory(event.id).hold(holdRequest(toSnapshot(row as NonNullable<typeof row>), "pending", 1));
    expect(hold.ok).toBe(true);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 3, held: 1, remaining: 6 });

    const res = await transition(host.token, event.id, "cancel");
    expect(res.status).toBe(200);

    expect((await objectTickets(event.id)).map((t) => t.status)).toEqual(["void", "void", "void"]);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["void", "void", "void"]);
    expect(await checkedStats(event.id)).toMatchObject({ capacity: 10, sold: 0, held: 0, remaining: 10 });
    expect(await publicAvailability(event.id)).toMatchObject({ sold: 0, held: 0 });
    expect(
      (await objectRows<{ status: string }>(event.id, "SELECT status FROM orders ORDER BY created_at")).map(
        (o) => o.status,
      ),
    ).toEqual(["cancelled", "cancelled", "cancelled", "released"]);
    const view = (await (await call(`/api/v1/events/${event.id}`)).json()) as { status: string };
    expect(view.status).toBe("cancelled");

    for (const [i, p] of people.entries()) {
      const mails = (await mailbox(p.email)).filter((m) => m.template === "event-cancelled");
      expect(mails).toHaveLength(1);
      expect(mails[0]?.subject + (mails[0]?.text ?? "")).toContain("Harbour Night");
      const [queued] = await outboxEmails({ id: `event-cancelled:${orderIds[i]}` });
      expect({ template: queued?.template, recipient: queued?.to }).toEqual({
        template: "event-cancelled",
        recipient: p.email,
      });
    }
  });
  it("a published event that has ended cannot be cancelled (409) and nothing changes; a moment before its end, or a draft, still can", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, title: "Over Already" });
    const people = await buyers(2);
    for (const p of people) expect((await order(event.id, p.token)).status).toBe(201);
    const endsAt = Date.now() - 60_000;
    const ended = (id: string) =>
      env.DB.prepare("UPDATE events SET starts_at = ?, ends_at = ? WHERE id = ?")
        .bind(endsAt - 3_600_000, endsAt, id)
        .run();
    await ended(event.id);
    const before = await d1Event(event.id);

    await expectProblem(await transition(host.token, event.id, "cancel"), 409, "invalid-transition");
    expect(await d1Event(event.id)).toEqual(before);
    expect((await objectTickets(event.id)).map((t) => t.status)).toEqual(["active", "active"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 2 });
    for (const p of people) expect(await outboxEmails({ to: p.email, template: "event-cancelled" })).toEqual([]);

    // The boundary: at its end it is over; one millisecond before, the host may still call it off.
    const deps = { db: env.DB, inventory: env.EVENT_INVENTORY };
    const caller = { id: host.id, roles: ["attendee", "host"] };
    await expect(cancelEvent({ ...deps, now: endsAt }, caller, event.id)).rejects.toMatchObject({
      code: "invalid-transition",
    });
    expect(await cancelEvent({ ...deps, now: endsAt - 1 }, caller, event.id)).toMatchObject({ status: "cancelled" });
    expect((await objectTickets(event.id)).map((t) => t.status)).toEqual(["void", "void"]);
    for (const p of people) expect(await outboxEmails({ to: p.email, template: "event-cancelled" })).toHaveLength(1);

    // A draft sold nothing: past its dates it can still be put away.
    const draft = await createEvent(host.token, {}, false);
    await ended(draft.id);
    expect((await transition(host.token, draft.id, "cancel")).status).toBe(200);
  });
});
