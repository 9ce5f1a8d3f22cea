/**
 * A buyer's erasure (src/features/privacy/erasure.ts) as this object sees it: their email and name
 * leave its storage. Their orders and tickets stay (the host's sales, by user id), with no contact, so
 * no later email (an event's cancellation) goes to them; their place in the waitlist is given up, an
 * open offer's seat going to the next in line; and the emails to them not yet pushed to D1 are
 * dropped, so none is written there after the erasure's batch deleted their unsent ones. Idempotent.
 *
 * The object also remembers that it forgot them, for LIMITS.erasureTombstoneMs: an order or a
 * waitlist join of theirs that reaches it afterwards (sent before their sessions stopped, while the
 * erasure ran) is taken without a contact (`withoutForgotten`), so nothing of them is stored again and
 * no confirmation goes out.
 *
 * And once the event is well over (LIMITS.inventoryContactRetentionMs after its end), every contact
 * leaves: nothing sends them anything any more (`purgeContacts`, from the alarm).
 */
import { LIMITS } from "../../src/config/limits";
import type { Contact, EventSnapshot, ForgottenContact } from "./contract";
import type { SalesContext } from "./rows";
import { leaveWaitlist } from "./waitlist";

/** The addresses a stored contact (JSON, or JSON null) names, as the outbox's emails hold them. */
function addressOf(json: string): string | null {
  try {
    const contact = JSON.parse(json) as Contact | null;
    return typeof contact?.email === "string" ? contact.email : null;
  } catch {
    return null;
  }
}

export function forgetContact(tx: SalesContext, request: { userId: string }): ForgottenContact {
  const { sql } = tx;
  const addresses = new Set<string>();
  const stored = sql
    .exec<{ contact: string }>(
      `SELECT contact FROM orders WHERE user_id = ?1 AND contact <> 'null'
       UNION SELECT contact FROM waitlist WHERE user_id = ?1 AND contact <> 'null'`,
      request.userId,
    )
    .toArray();
  for (const { contact } of stored) {
    const address = addressOf(contact);
    if (address) addresses.add(address);
  }
  sql.exec(
    `INSERT INTO forgotten_contacts (user_id, until) VALUES (?1, ?2)
     ON CONFLICT (user_id) DO UPDATE SET until = MAX(until, ?2)`,
    request.userId,
    tx.now + LIMITS.erasureTombstoneMs,
  );
  // Out of the line first: leaving reads nothing of the contact, and an open offer's seat moves on.
  leaveWaitlist(tx, request);
  const orders = sql
    .exec("UPDATE orders SET contact = 'null' WHERE user_id = ? AND contact <> 'null' RETURNING id", request.userId)
    .toArray().length;
  const waitlist =
    sql
      .exec(
        "UPDATE waitlist SET contact = 'null' WHERE user_id = ? AND contact <> 'null' RETURNING user_id",
        request.userId,
      )
      .toArray().length > 0;
  const emails =
    addresses.size === 0
      ? 0
      : sql
          .exec(
            `DELETE FROM outbox WHERE kind = 'email' AND json_extract(payload, '$.to') IN (SELECT value FROM json_each(?))
             RETURNING seq`,
            JSON.stringify([...addresses]),
          )
          .toArray().length;
  return { orders, waitlist, emails };
}

/**
 * Who this object forgot and until when, as the table holds them (read when the object starts and
 * after each forgetting; the claim path then asks memory, not SQLite).
 */
export function forgottenUntil(sql: SqlStorage, now: number): Map<string, number> {
  sql.exec("DELETE FROM forgotten_contacts WHERE until <= ?", now);
  const rows = sql.exec<{ user_id: string; until: number }>("SELECT user_id, until FROM forgotten_contacts").toArray();
  return new Map(rows.map((row) => [row.user_id, row.until]));
}

/** The request as this object takes it: without a contact when its person was forgotten here lately. */
export function withoutForgotten<R extends { userId: string; contact: Contact | null }>(
  forgotten: ReadonlyMap<string, number>,
  request: R,
  now: number,
): R {
  if (forgotten.size === 0 || request.contact === null) return request;
  const until = forgotten.get(request.userId);
  return until !== undefined && until > now ? { ...request, contact: null } : request;
}

/** Whether any order or waitlist entry here still holds a contact. */
export function holdsContacts(sql: SqlStorage): boolean {
  return (
    sql
      .exec<{ any: number }>(
        `SELECT EXISTS (SELECT 1 FROM orders WHERE contact <> 'null')
           OR EXISTS (SELECT 1 FROM waitlist WHERE contact <> 'null') AS any`,
      )
      .one().any === 1
  );
}

/** When the contacts leave: LIMITS.inventoryContactRetentionMs after the event's end. */
export function contactsPurgeAt(event: EventSnapshot | null): number | null {
  return event ? event.endsAt + LIMITS.inventoryContactRetentionMs : null;
}

/**
 * Every order's and waitlist entry's contact cleared, the event being well over: answers how many.
 * Unsent emails stay (already due to go; the outbox pushes them within seconds).
 */
export function purgeContacts(sql: SqlStorage): number {
  const orders = sql.exec("UPDATE orders SET contact = 'null' WHERE contact <> 'null' RETURNING id").toArray().length;
  const waitlist = sql
    .exec("UPDATE waitlist SET contact = 'null' WHERE contact <> 'null' RETURNING user_id")
    .toArray().length;
  return orders + waitlist;
}
