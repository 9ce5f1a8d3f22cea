/**
 * The transactional outbox between EventInventory and the D1 read model. D1 is made to refuse the
 * event's ticket rows (a trigger scoped to this one event, so tests running in parallel on the same
 * database are unaffected): the claim still succeeds because the object committed it, the rows wait
 * in the object's outbox, and the alarm delivers them once D1 accepts writes again — exactly once,
 * and a replay of old rows changes nothing.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, onTestFinished } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { call } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { objectRows } from "../../support/db";
import { bearer } from "../auth/helpers";
import {
  buyers,
  checkedStats,
  configuredInventory,
  createEvent,
  DAY,
  d1Orders,
  d1Tickets,
  holdRequest,
  hostWithToken,
  inventory,
  objectTickets,
  order,
  publicAvailability,
} from "./helpers";

interface OutboxRow {
  seq: number;
  kind: string;
  payload: string;
  created_at: number;
}

let trigger: string | null = null;

async function failTicketWritesFor(eventId: string): Promise<void> {
  trigger = `outage_${crypto.randomUUID().replace(/-/g, "")}`;
  if (!/^[A-Za-z0-9_-]+$/.test(eventId)) throw new Error("unexpected event id");
  await env.DB.prepare(
    `CREATE TRIGGER ${trigger} BEFORE INSERT ON tickets WHEN NEW.event_id = '${eventId}'
     BEGIN SELECT RAISE(ABORT, 'injected D1 outage'); END`,
  ).run();
}

async function restoreTicketWrites(): Promise<void> {
  if (trigger) await env.DB.prepare(`DROP TRIGGER IF EXISTS ${trigger}`).run();
  trigger = null;
}

afterEach(async () => {
  await restoreTicketWrites();
});

/**
 * A free sale made while D1 refuses the event's ticket writes, a year ahead of the real clock (so the
 * object's retry alarm cannot fire by itself mid-test): the 201 answer, its body and the object.
 */
async function saleDuringOutage() {
  const t0 = Date.now() + 365 * DAY;
  freezeClock(t0);
  const host = await hostWithToken();
  const event = await createEvent(host.token, { capacity: 5 });
  const [buyer] = await buyers(1);
  if (!buyer) throw new Error("no buyer");
  const stub = inventory(event.id);
  await failTicketWritesFor(event.id);
  const res = await order(event.id, buyer.token);
  expect(res.status).toBe(201);
  const body = (await res.json()) as { order: { id: string; status: string }; tickets: { id: string }[] };
  return { t0, event, buyer, stub, body, ticketId: body.tickets[0]?.id as string };
}

describe("inventory outbox", () => {
  it("a backlog past one push's batches goes on from an alarm set for at once, a bounded number of batches each", async () => {
    const t0 = Date.now() + 365 * DAY;
    freezeClock(t0);
    const perPush = LIMITS.inventoryDrainMaxBatches * LIMITS.inventoryOutboxBatch;
    const claims = perPush / 2 + 50;
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: claims });
    await failTicketWritesFor(eventId);
    for (let i = 0; i < claims; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, claims - i) }, async (_, j) => {
          // No contact: two outbox rows a claim, the order and its ticket.
          const claimed = await stub.claim({ ...holdRequest(snapshot, `u-${i + j}`), contact: null });
          if (!claimed.ok) throw new Error(claimed.code);
        }),
      );
    }
    await stub.settled();
    expect((await objectRows(eventId, "SELECT seq FROM outbox")).length).toBe(claims * 2);

    // D1 is back: one push sends its batches and leaves the rest to an alarm due now.
    await restoreTicketWrites();
    expect(await stub.sync()).toEqual({ pending: claims * 2 - perPush });
    expect(await d1Tickets(eventId)).toHaveLength(perPush / 2);
    expect(await runInDurableObject(stub, (_i, state) => state.storage.getAlarm())).toBe(t0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await objectRows(eventId, "SELECT seq FROM outbox")).toEqual([]);
    expect(await d1Tickets(eventId)).toHaveLength(claims);
    expect(await d1Orders(eventId)).toHaveLength(claims);
  });

  it("a lone claim is pushed at once; a burst after it goes to D1 in one push, a spacing after the first; then a claim after a quiet spell at once", async () => {
    const spacing = LIMITS.inventoryClaimPushSpacingMs;
    onTestFinished(() => {
      (LIMITS as { inventoryClaimPushSpacingMs: number }).inventoryClaimPushSpacingMs = spacing;
    });
    // Long enough that ten claims in a row all fall inside it, on any machine.
    (LIMITS as { inventoryClaimPushSpacingMs: number }).inventoryClaimPushSpacingMs = 1_000;
    const clock = freezeClock();
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 20 });
    const configured = (await stub.pushStats()).pushes;

    // The first claim's push starts at once (no claim was pushed before it).
    const first = await stub.claim(holdRequest(snapshot, "u-first"));
    if (!first.ok) throw new Error(first.code);
    expect((await stub.pushStats()).pushes).toBe(configured + 1);
    for (let i = 0; i < 10; i++) {
      const claimed = await stub.claim(holdRequest(snapshot, `u-burst-${i}`));
      if (!claimed.ok) throw new Error(claimed.code);
    }
    // Within the spacing of the first claim's push: the next has not started yet.
    expect((await stub.pushStats()).pushes).toBe(configured + 1);
    await stub.settled();
    expect((await stub.pushStats()).pushes).toBe(configured + 2);
    expect(await d1Tickets(eventId)).toHaveLength(11);

    // Past the spacing since that push started, a claim's push does not wait.
    clock.advance(1_001);
    const lone = await stub.claim(holdRequest(snapshot, "u-lone"));
    if (!lone.ok) throw new Error(lone.code);
    expect((await stub.pushStats()).pushes).toBe(configured + 3);
    await stub.settled();
    expect(await d1Tickets(eventId)).toHaveLength(12);
  });

  it("a scan while D1 refuses pushes leaves the backoff alarm where it is (no retry pulled forward)", async () => {
    const { t0, event, stub, ticketId } = await saleDuringOutage();

    // The first retry fails too: the alarm backs off.
    setClock(t0 + 1_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const alarm = () => runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    const backoff = (await alarm()) as number;
    expect(backoff).toBeGreaterThan(t0 + 1_000 + LIMITS.gateProjectionDelayMs);

    // A scan (its answer stored and logged, so a push would be due) does not move that alarm.
    const answer = await stub.redeem({
      ticketId,
      deviceId: "gate-1",
      deviceName: "Gate 1",
      nonce: crypto.randomUUID(),
    });
    expect(answer).toMatchObject({ result: expect.any(String) });
    expect((await objectRows(event.id, "SELECT id FROM gate_scans")).length).toBe(1);
    expect(await alarm()).toBe(backoff);

    // Once D1 is back, the backoff alarm carries the sale and the scan together.
    await restoreTicketWrites();
    setClock(backoff);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await objectRows(event.id, "SELECT * FROM outbox")).toEqual([]);
    expect((await d1Tickets(event.id)).map((t) => t.id)).toEqual([ticketId]);
  });

  it("claims refused after the sell-out store nothing, so they push nothing: rows a failed push left wait for its alarm", async () => {
    const t0 = Date.now() + 365 * DAY;
    freezeClock(t0);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 1 });
    await failTicketWritesFor(eventId);
    const sold = await stub.claim({ ...holdRequest(snapshot, "first"), contact: null });
    if (!sold.ok) throw new Error(sold.code);
    await stub.settled();
    const alarm = () => runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    // The push failed: its retry is armed with backoff, the sale's two rows wait for it.
    const backoff = (await alarm()) as number;
    expect(backoff).toBeGreaterThan(t0);
    await restoreTicketWrites();

    // D1 is back, but the crowd still knocking after the sell-out does not push for it (nor would it
    // while D1 still refused: the alarm's backoff owns the retries).
    setClock(t0 + 500);
    const refused = await Promise.all(
      Array.from({ length: 20 }, (_, i) => stub.claim({ ...holdRequest(snapshot, `late-${i}`), contact: null })),
    );
    expect(refused.every((r) => !r.ok && r.code === "sold-out")).toBe(true);
    await stub.settled();
    expect((await objectRows(eventId, "SELECT seq FROM outbox")).length).toBe(2);
    expect(await d1Tickets(eventId)).toEqual([]);
    expect(await alarm()).toBe(backoff);

    setClock(backoff);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await objectRows(eventId, "SELECT seq FROM outbox")).toEqual([]);
    expect(await d1Tickets(eventId)).toHaveLength(1);
  });

  it("a claim committed while D1 refuses the write still answers 201; the ticket reaches D1 later, from the alarm, exactly once", async () => {
    const { t0, event, buyer, stub, body, ticketId } = await saleDuringOutage();
    expect(body.order.status).toBe("confirmed");

    // The object has the sale; D1 does not, and the object kept what it owes D1.
    expect((await objectTickets(event.id)).map((t) => t.id)).toEqual([ticketId]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, remaining: 4 });
    expect(await publicAvailability(event.id)).toMatchObject({ sold: 1, remaining: 4 });
    expect(await d1Tickets(event.id)).toEqual([]);
    // The claim's sale goes out in one batch, which D1 refused whole: no order row either. (Its hold,
    // superseded by the sale in the same transaction, is not projected at all.)
    expect(await d1Orders(event.id)).toEqual([]);
    const pending = await objectRows<OutboxRow>(event.id, "SELECT * FROM outbox ORDER BY seq");
    expect(pending.map((r) => r.kind)).toEqual(["order", "ticket", "email"]);
    const retryAt = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(retryAt).not.toBeNull();
    expect(retryAt as number).toBeLessThanOrEqual(t0 + 1_000);
    // The read model does not have the order yet: its owner gets 404 until D1 catches up.
    const lagging = await call(`/api/v1/orders/${body.order.id}`, { headers: bearer(buyer.token) });
    expect(lagging.status).toBe(404);

    // While D1 still refuses, the alarm retries, keeps the rows and backs off.
    setClock(t0 + 1_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await d1Tickets(event.id)).toEqual([]);
    expect(await objectRows<OutboxRow>(event.id, "SELECT * FROM outbox ORDER BY seq")).toEqual(pending);
    const backoff = await runInDurableObject(stub, (_i, state) => state.storage.getAlarm());
    expect(backoff as number).toBeGreaterThan(t0 + 1_000);

    await restoreTicketWrites();
    setClock(backoff as number);
    expect(await runDurableObjectAlarm(stub)).toBe(true);

    expect(await objectRows(event.id, "SELECT * FROM outbox")).toEqual([]);
    expect(await d1Tickets(event.id)).toEqual([
      expect.objectContaining({
        id: ticketId,
        order_id: body.order.id,
        user_id: buyer.id,
        serial: 1,
        status: "active",
      }),
    ]);
    expect(await d1Orders(event.id)).toEqual([expect.objectContaining({ id: body.order.id, status: "confirmed" })]);
    const confirmMail = await env.DB.prepare("SELECT COUNT(*) AS n FROM email_outbox WHERE id = ?")
      .bind(`order-confirmed:${body.order.id}`)
      .first<{ n: number }>();
    expect(confirmMail?.n).toBe(1);

    // Replaying the same rows again is harmless: nothing is duplicated.
    const replay = (rows: OutboxRow[]) =>
      runInDurableObject(stub, (_i, state) => {
        for (const r of rows) {
          state.storage.sql.exec(
            "INSERT INTO outbox (seq, kind, payload, created_at) VALUES (?, ?, ?, ?)",
            r.seq,
            r.kind,
            r.payload,
            r.created_at,
          );
        }
      });
    await replay(pending);
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect(await d1Tickets(event.id)).toEqual([expect.objectContaining({ id: ticketId, status: "active" })]);
    expect(await d1Orders(event.id)).toEqual([expect.objectContaining({ id: body.order.id, status: "confirmed" })]);
    const mails = await env.DB.prepare("SELECT COUNT(*) AS n FROM email_outbox WHERE id = ?")
      .bind(`order-confirmed:${body.order.id}`)
      .first<{ n: number }>();
    expect(mails?.n).toBe(1);
    const devMails = await env.DB.prepare("SELECT COUNT(*) AS n FROM dev_mailbox WHERE id LIKE ?")
      .bind(`order-confirmed:${body.order.id}:%`)
      .first<{ n: number }>();
    expect(devMails?.n).toBe(1);

    // A late delivery of an older row (the order as "held", with its older sequence) does not regress the status.
    const orderRow = pending.find((r) => r.kind === "order") as OutboxRow;
    const stale = { ...orderRow, seq: orderRow.seq - 1, payload: orderRow.payload.replace('"confirmed"', '"held"') };
    expect(stale.payload).toContain('"held"');
    await replay([stale]);
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect(await d1Orders(event.id)).toEqual([expect.objectContaining({ id: body.order.id, status: "confirmed" })]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 1, held: 0, remaining: 4 });
  });

  it("a newer state is never overwritten by an older outbox row (void stays void)", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 5 });
    const [buyer] = await buyers(1);
    if (!buyer) throw new Error("no buyer");
    const stub = inventory(event.id);
    const res = await order(event.id, buyer.token);
    const body = (await res.json()) as { order: { id: string }; tickets: { id: string }[] };
    const cancel = await call(`/api/v1/orders/${body.order.id}/cancel`, {
      method: "POST",
      headers: bearer(buyer.token),
    });
    expect(cancel.status).toBe(200);
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["void"]);

    // Re-deliver the original "active" ticket row with its original (older) sequence number.
    const [seq] = await env.DB.prepare("SELECT projection_seq AS seq FROM tickets WHERE id = ?")
      .bind(body.tickets[0]?.id)
      .all<{ seq: number }>()
      .then((r) => r.results.map((x) => x.seq));
    const ticket = (await stub.getOrder(body.order.id))?.tickets[0];
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec(
        "INSERT INTO outbox (seq, kind, payload, created_at) VALUES (?, 'ticket', ?, ?)",
        (seq as number) - 1,
        JSON.stringify({ ...ticket, status: "active" }),
        Date.now(),
      );
    });
    expect(await stub.sync()).toEqual({ pending: 0 });
    expect((await d1Tickets(event.id)).map((t) => t.status)).toEqual(["void"]);
    expect(await checkedStats(event.id)).toMatchObject({ sold: 0, remaining: 5 });
  });
});
