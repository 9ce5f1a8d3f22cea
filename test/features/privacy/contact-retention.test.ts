/**
 * Contacts leave event objects LIMITS.inventoryContactRetentionMs after the event's end, whether or not
 * the object's own alarm was ever armed for it: the five-minute cron's sweep
 * (src/features/privacy/contact-retention.ts) reaches every event past the retention that D1 has not
 * marked, has its object clear them, and marks it.
 */
import {
  createExecutionContext,
  createScheduledController,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../../src/config/limits";
import { sweepEndedEventContacts } from "../../../src/features/privacy";
import worker from "../../../src/index";
import { freezeClock } from "../../support/clock";
import { overloaded, replacingMethod } from "../../support/stubs";
import { createEvent, hostWithToken, inventory, order } from "../events/helpers";
import { someone } from "./helpers";

const RETENTION = LIMITS.inventoryContactRetentionMs;

/** A published free event with one buyer's order, its object's alarm gone (as in an object from before the purge). */
async function soldEvent(): Promise<{ eventId: string; email: string }> {
  const { token } = await hostWithToken();
  const event = await createEvent(token);
  const buyer = await someone();
  expect((await order(event.id, buyer.token)).status).toBe(201);
  await runInDurableObject(inventory(event.id), (_instance, state) => state.storage.deleteAlarm());
  return { eventId: event.id, email: buyer.email };
}

/** D1's end of the event (the object keeps the end it was configured with). */
async function endedAt(eventId: string, at: number): Promise<void> {
  await env.DB.prepare("UPDATE events SET ends_at = ? WHERE id = ?").bind(at, eventId).run();
}

const purgedAt = async (eventId: string) =>
  (
    await env.DB.prepare("SELECT contacts_purged_at AS at FROM events WHERE id = ?").bind(eventId).first<{
      at: number | null;
    }>()
  )?.at;

const contacts = (eventId: string) =>
  runInDurableObject(inventory(eventId), (_instance, state) =>
    state.storage.sql
      .exec<{ contact: string }>("SELECT contact FROM orders UNION ALL SELECT contact FROM waitlist")
      .toArray()
      .map((r) => r.contact),
  );

describe("the contacts' retention sweep", () => {
  it("clears the object of an event over for exactly the retention and marks it; one a millisecond short is left", async () => {
    const t0 = Date.now();
    const due = await soldEvent();
    const short = await soldEvent();
    const clock = freezeClock(t0 + 1_000);
    const now = Date.now();
    await endedAt(due.eventId, now - RETENTION);
    await endedAt(short.eventId, now - RETENTION + 1);
    expect((await contacts(due.eventId)).some((c) => c.includes(due.email))).toBe(true);

    const report = await sweepEndedEventContacts(env.DB, env.EVENT_INVENTORY, now);
    expect(report).toEqual({ purged: 1, cleared: 1, failed: 0 });
    expect(await contacts(due.eventId)).toEqual(["null"]);
    expect(await purgedAt(due.eventId)).toBe(now);
    // The order and its ticket stay: only who bought it goes.
    expect((await inventory(due.eventId).stats()).sold).toBe(1);
    expect((await contacts(short.eventId)).some((c) => c.includes(short.email))).toBe(true);
    expect(await purgedAt(short.eventId)).toBeNull();

    // A marked event is not visited again; the other is, once it is due.
    expect(await sweepEndedEventContacts(env.DB, env.EVENT_INVENTORY, now)).toEqual({
      purged: 0,
      cleared: 0,
      failed: 0,
    });
    expect(await sweepEndedEventContacts(env.DB, env.EVENT_INVENTORY, clock.advance(1))).toEqual({
      purged: 1,
      cleared: 1,
      failed: 0,
    });
    expect(await contacts(short.eventId)).toEqual(["null"]);
  });

  it("marks an event nobody ordered from without clearing anything, and leaves an object that fails for the next run", async () => {
    const { token } = await hostWithToken();
    const quiet = await createEvent(token);
    const failing = await soldEvent();
    const now = Date.now();
    await endedAt(quiet.id, now - RETENTION - 10);
    await endedAt(failing.eventId, now - RETENTION - 5);

    const broken = replacingMethod(env.EVENT_INVENTORY, "purgeEndedContacts", () => async () => {
      throw new Error("object unavailable");
    });
    expect(await sweepEndedEventContacts(env.DB, broken, now)).toEqual({ purged: 1, cleared: 0, failed: 1 });
    expect(await purgedAt(quiet.id)).toBe(now);
    expect(await purgedAt(failing.eventId)).toBeNull();
    expect((await contacts(failing.eventId)).some((c) => c.includes(failing.email))).toBe(true);

    // The next five-minute cron (queues/scheduled.ts) runs the sweep again: the object answers now.
    const ctx = createExecutionContext();
    const next = now + 300_000;
    await worker.scheduled(createScheduledController({ scheduledTime: next, cron: "*/5 * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await contacts(failing.eventId)).toEqual(["null"]);
    expect(await purgedAt(failing.eventId)).toBe(next);
  });

  it("passes over objects that keep failing, backing off, so the events ended after them are cleared meanwhile", async () => {
    const first = await soldEvent();
    const second = await soldEvent();
    const behind = await soldEvent();
    const now = Date.now();
    await endedAt(first.eventId, now - RETENTION - 30);
    await endedAt(second.eventId, now - RETENTION - 20);
    await endedAt(behind.eventId, now - RETENTION - 10);
    const failing = new Set([first.eventId, second.eventId]);
    const flaky = replacingMethod(env.EVENT_INVENTORY, "purgeEndedContacts", overloaded, (id) => failing.has(id));
    const retry = (eventId: string) =>
      env.DB.prepare("SELECT attempts, next_at AS nextAt FROM contact_purge_retries WHERE event_id = ?")
        .bind(eventId)
        .first<{ attempts: number; nextAt: number }>();
    const [firstWait, secondWait] = LIMITS.contactPurgeRetryMs;
    const max = LIMITS.contactPurgeSweepMax;
    (LIMITS as { contactPurgeSweepMax: number }).contactPurgeSweepMax = 2;
    try {
      // The two longest over fill the run and fail: they wait for their next try.
      expect(await sweepEndedEventContacts(env.DB, flaky, now)).toEqual({ purged: 0, cleared: 0, failed: 2 });
      expect(await retry(first.eventId)).toEqual({ attempts: 1, nextAt: now + firstWait });
      expect(await purgedAt(behind.eventId)).toBeNull();

      // Until then the run passes over them and reaches the event behind.
      expect(await sweepEndedEventContacts(env.DB, flaky, now + firstWait - 1)).toEqual({
        purged: 1,
        cleared: 1,
        failed: 0,
      });
      expect(await contacts(behind.eventId)).toEqual(["null"]);

      // Due again, they are tried again: one answers now, the other fails a second time and waits longer.
      failing.delete(first.eventId);
      const later = now + firstWait;
      expect(await sweepEndedEventContacts(env.DB, flaky, later)).toEqual({ purged: 1, cleared: 1, failed: 1 });
      expect(await purgedAt(first.eventId)).toBe(later);
      expect(await retry(first.eventId)).toBeNull();
      expect(await retry(second.eventId)).toEqual({ attempts: 2, nextAt: later + secondWait });
      expect((await contacts(second.eventId)).some((c) => c.includes(second.email))).toBe(true);
    } finally {
      (LIMITS as { contactPurgeSweepMax: number }).contactPurgeSweepMax = max;
    }
  });
});
