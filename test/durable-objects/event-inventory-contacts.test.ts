/**
 * An event's object keeps its buyers' and waitlist's emails and names only while something may still
 * be sent to them: LIMITS.inventoryContactRetentionMs after the event's end, its alarm clears them.
 * The sales stay. Time is a frozen clock, which also drives Date.now() inside the object; it starts a
 * month ahead of the real clock so no real alarm fires on its own during a test.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/config/limits";
import { checkedStats, configuredInventory, DAY, holdRequest, inventory } from "../features/events/helpers";
import { freezeClock, setClock } from "../support/clock";
import { objectRows } from "../support/db";

const alarmOf = (eventId: string) => runInDurableObject(inventory(eventId), (_i, state) => state.storage.getAlarm());

/** The contacts the object holds, orders' and waitlist's. */
async function contacts(eventId: string): Promise<string[]> {
  const rows = await objectRows<{ contact: string }>(
    eventId,
    "SELECT contact FROM orders WHERE contact <> 'null' UNION ALL SELECT contact FROM waitlist WHERE contact <> 'null'",
  );
  return rows.map((row) => row.contact).sort();
}

describe("EventInventory: contacts after the event", () => {
  it("are cleared by the alarm LIMITS.inventoryContactRetentionMs after the event's end, not a moment before; the sales stay", async () => {
    freezeClock(Date.now() + 30 * DAY);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 1 });
    const sold = await stub.claim(holdRequest(snapshot, "buyer-a"));
    if (!sold.ok) throw new Error(sold.code);
    const joined = await stub.joinWaitlist({
      userId: "waiting-b",
      contact: { email: "waiting-b@example.com", name: "B" },
      snapshot,
    });
    expect(joined.ok).toBe(true);
    await stub.settled();
    expect(await contacts(eventId)).toHaveLength(2);
    // Nothing else is due: the alarm waits for the purge.
    const purgeAt = snapshot.endsAt + LIMITS.inventoryContactRetentionMs;
    expect(await alarmOf(eventId)).toBe(purgeAt);

    setClock(purgeAt - 1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await contacts(eventId)).toHaveLength(2);
    expect(await alarmOf(eventId)).toBe(purgeAt);

    setClock(purgeAt);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await contacts(eventId)).toEqual([]);
    expect(await checkedStats(eventId)).toMatchObject({ sold: 1 });
    expect(await objectRows(eventId, "SELECT status FROM tickets")).toEqual([{ status: "active" }]);
    expect(await alarmOf(eventId)).toBeNull();
  });

  it("an object loaded again still knows it holds contacts, and clears them when due", async () => {
    freezeClock(Date.now() + 30 * DAY);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5 });
    const sold = await stub.claim(holdRequest(snapshot, "buyer-c"));
    if (!sold.ok) throw new Error(sold.code);
    await stub.settled();
    await evictDurableObject(stub);

    const purgeAt = snapshot.endsAt + LIMITS.inventoryContactRetentionMs;
    setClock(purgeAt);
    expect(await runDurableObjectAlarm(inventory(eventId))).toBe(true);
    expect(await contacts(eventId)).toEqual([]);
  });

  it("an object without contacts (bench holders) sets no alarm for them", async () => {
    freezeClock(Date.now() + 30 * DAY);
    const { snapshot, stub, eventId } = await configuredInventory({ capacity: 5 });
    const sold = await stub.claim({ ...holdRequest(snapshot, "no-mailbox"), contact: null });
    if (!sold.ok) throw new Error(sold.code);
    await stub.settled();
    expect(await alarmOf(eventId)).toBeNull();
  });
});
