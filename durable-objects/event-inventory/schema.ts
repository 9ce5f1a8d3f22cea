/**
 * EventInventory's SQLite schema as an ordered list of steps, applied on start (inside
 * blockConcurrencyWhile) from the version the object stored. Each step is written so that it is safe
 * to re-run whatever ran before it: objects created by older code skipped some versions (there was
 * never a v2), and a test may replay any step. docs/storage.md describes the tables.
 */

/** Ticket statuses that hold a seat: sold (refunding until the money is back) or used. */
const SOLD = "('active', 'redeemed', 'refunding')";

/** v1: the event copy, counters, orders, tickets and the outbox. */
function createTables(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, version INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS counters (id INTEGER PRIMARY KEY CHECK (id = 1), next_serial INTEGER NOT NULL, projection_seq INTEGER NOT NULL);
    INSERT OR IGNORE INTO counters (id, next_serial, projection_seq) VALUES (1, 1, 0);
    CREATE TABLE IF NOT EXISTS orders (
      id TEXT PRIMARY KEY, user_id TEXT NOT NULL, status TEXT NOT NULL, quantity INTEGER NOT NULL,
      amount INTEGER NOT NULL, currency TEXT NOT NULL, hold_expires_at INTEGER, payment_ref TEXT,
      contact TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS orders_user ON orders (user_id, status);
    CREATE INDEX IF NOT EXISTS orders_held ON orders (status, hold_expires_at);
    CREATE TABLE IF NOT EXISTS tickets (
      id TEXT PRIMARY KEY, order_id TEXT NOT NULL, user_id TEXT NOT NULL, serial INTEGER NOT NULL UNIQUE,
      status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS tickets_order ON tickets (order_id);
    CREATE INDEX IF NOT EXISTS tickets_user ON tickets (user_id, status);
    CREATE INDEX IF NOT EXISTS tickets_status ON tickets (status);
    CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL);
  `);
}

/** v3 (the gate): the redemption column on tickets, the scan log and the redemptions. */
export function migrateGate(sql: SqlStorage): void {
  // Guarded so the step is safe to re-run, whichever migration steps ran before it.
  const columns = sql.exec<{ name: string }>("PRAGMA table_info(tickets)").toArray();
  if (!columns.some((c) => c.name === "redeemed_at")) sql.exec("ALTER TABLE tickets ADD COLUMN redeemed_at INTEGER");
  sql.exec(`
    CREATE TABLE IF NOT EXISTS gate_scans (
      id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id TEXT, device_id TEXT NOT NULL, device_name TEXT, nonce TEXT,
      scanned_at INTEGER NOT NULL, received_at INTEGER NOT NULL, mode TEXT NOT NULL, result TEXT NOT NULL,
      is_repeat INTEGER NOT NULL DEFAULT 0, conflict INTEGER NOT NULL DEFAULT 0, device_result TEXT);
    CREATE UNIQUE INDEX IF NOT EXISTS gate_scans_nonce ON gate_scans (device_id, nonce) WHERE nonce IS NOT NULL;
    CREATE INDEX IF NOT EXISTS gate_scans_ticket ON gate_scans (ticket_id);
    CREATE INDEX IF NOT EXISTS gate_scans_conflicts ON gate_scans (ticket_id) WHERE conflict = 1;
    CREATE TABLE IF NOT EXISTS gate_redemptions (
      ticket_id TEXT PRIMARY KEY, scan_id INTEGER NOT NULL, device_id TEXT NOT NULL, device_name TEXT,
      at INTEGER NOT NULL, mode TEXT NOT NULL);
  `);
}

/**
 * v4: devices revoked by the host. The object is where a revocation takes effect (the Worker may know
 * a device from its cache): every device call checks this table first.
 */
export function migrateRevokedDevices(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS gate_revoked_devices (device_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL)");
}

/**
 * v5: sold (active, redeemed or refunding) and checked-in (redeemed) tickets counted in one row, kept
 * by triggers on every insert, status change and delete of a ticket, so no code path can forget them
 * and availability costs one row read instead of a scan of the tickets. Starts from the tickets
 * already there; safe to re-run.
 */
export function migrateTicketCounts(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS ticket_counts (
      id INTEGER PRIMARY KEY CHECK (id = 1), sold INTEGER NOT NULL, checked_in INTEGER NOT NULL);
    INSERT OR IGNORE INTO ticket_counts (id, sold, checked_in)
      SELECT 1, COUNT(*), COALESCE(SUM(status = 'redeemed'), 0) FROM tickets WHERE status IN ${SOLD};
    CREATE TRIGGER IF NOT EXISTS ticket_counts_insert AFTER INSERT ON tickets BEGIN
      UPDATE ticket_counts SET sold = sold + (NEW.status IN ${SOLD}),
        checked_in = checked_in + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS ticket_counts_update AFTER UPDATE OF status ON tickets BEGIN
      UPDATE ticket_counts
        SET sold = sold - (OLD.status IN ${SOLD}) + (NEW.status IN ${SOLD}),
          checked_in = checked_in - (OLD.status = 'redeemed') + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS ticket_counts_delete AFTER DELETE ON tickets BEGIN
      UPDATE ticket_counts SET sold = sold - (OLD.status IN ${SOLD}),
        checked_in = checked_in - (OLD.status = 'redeemed') WHERE id = 1;
    END;
  `);
}

/**
 * v6: the `refunding` ticket status (see reserveRefund in ./refunds.ts) holds its seat. v5's triggers
 * counted only active and redeemed tickets, so a ticket moving to refunding would have freed its seat
 * before the money was back (and a refund Stripe refused would have sold it twice): they are replaced,
 * and the counts taken again from the tickets. Safe to re-run.
 */
export function migrateRefunding(sql: SqlStorage): void {
  sql.exec(`
    DROP TRIGGER IF EXISTS ticket_counts_insert;
    DROP TRIGGER IF EXISTS ticket_counts_update;
    DROP TRIGGER IF EXISTS ticket_counts_delete;
  `);
  migrateTicketCounts(sql);
  sql.exec(`
    UPDATE ticket_counts SET
      sold = (SELECT COUNT(*) FROM tickets WHERE status IN ${SOLD}),
      checked_in = (SELECT COUNT(*) FROM tickets WHERE status = 'redeemed') WHERE id = 1;
  `);
}

/**
 * v7: the waiting room's clock (./queue.ts): one row, written only when the queue turns on or off or
 * its rate changes. Safe to re-run.
 */
export function migrateQueueClock(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS queue_clock (
      id INTEGER PRIMARY KEY CHECK (id = 1), mode TEXT NOT NULL, active INTEGER NOT NULL,
      anchor_at INTEGER NOT NULL, anchor_cursor INTEGER NOT NULL, rate INTEGER NOT NULL);
  `);
}

/**
 * v8: the waiting room's numbering (./queue.ts): how many numbers were handed out, and each shard's
 * last batch (so a retried report gets the same numbers). Safe to re-run.
 */
export function migrateQueueNumbering(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS queue_numbering (id INTEGER PRIMARY KEY CHECK (id = 1), total INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS queue_batches (
      shard INTEGER PRIMARY KEY, batch INTEGER NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL);
  `);
}

/**
 * v9: the waitlist (./waitlist.ts): one entry per user in the event's line (`number` orders it; an
 * offer is a hold in `orders` whose id is `offer_id`), and the line's settings. Safe to re-run.
 */
export function migrateWaitlist(sql: SqlStorage): void {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS waitlist (
      user_id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, status TEXT NOT NULL, contact TEXT NOT NULL,
      offer_id TEXT, offer_expires_at INTEGER, order_id TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE UNIQUE INDEX IF NOT EXISTS waitlist_offer ON waitlist (offer_id) WHERE offer_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS waitlist_line ON waitlist (status, number);
    CREATE TABLE IF NOT EXISTS waitlist_settings (
      id INTEGER PRIMARY KEY CHECK (id = 1), paused INTEGER NOT NULL, offer_window_ms INTEGER NOT NULL,
      next_number INTEGER NOT NULL);
  `);
}

/**
 * v10: people this object forgot at their erasure (./contacts.ts), for LIMITS.erasureTombstoneMs: an
 * order or waitlist join of theirs that arrives after (one in flight while the erasure ran) stores no
 * contact.
 */
export function migrateForgotten(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS forgotten_contacts (user_id TEXT PRIMARY KEY, until INTEGER NOT NULL)");
}

/**
 * v11: fewer indexes for a sale to write. Nothing reads tickets by status alone (the counts are kept
 * by triggers), and a buyer's tickets are found through their orders (ownedBy in ./sales.ts), so
 * `tickets_status` and `tickets_user` go; the open holds get a partial index instead of one over every
 * order's status, so a free claim's order (stored confirmed at once) enters no hold index at all.
 * Safe to re-run.
 */
export function migrateLeanIndexes(sql: SqlStorage): void {
  sql.exec(`
    DROP INDEX IF EXISTS tickets_status;
    DROP INDEX IF EXISTS tickets_user;
    DROP INDEX IF EXISTS orders_held;
    CREATE INDEX IF NOT EXISTS orders_open_holds ON orders (hold_expires_at) WHERE status = 'held';
  `);
}

/**
 * v12: seats counted without a write per ticket sold. Serials are minted 1, 2, 3, … with no gap (the
 * next is the highest plus one: nextSerial in ./sales.ts), and tickets are never deleted (a trigger
 * refuses it), so the highest serial is the number of tickets ever minted; `seat_counts.unsold` counts
 * those that hold no seat (voided, refunded), kept by a trigger on status changes, and
 * sold = highest serial − unsold. A sale inserts its tickets `active`: no count to update. Replaces
 * v5/v6's `ticket_counts`, whose insert trigger wrote its row on every ticket. Counted from the tickets
 * already there (`unsold` absorbs any gap an older object has, so its sold count is unchanged). Safe to
 * re-run.
 */
export function migrateSeatCounts(sql: SqlStorage): void {
  sql.exec(`
    DROP TRIGGER IF EXISTS ticket_counts_insert;
    DROP TRIGGER IF EXISTS ticket_counts_update;
    DROP TRIGGER IF EXISTS ticket_counts_delete;
    DROP TABLE IF EXISTS ticket_counts;
    CREATE TABLE IF NOT EXISTS seat_counts (
      id INTEGER PRIMARY KEY CHECK (id = 1), unsold INTEGER NOT NULL, checked_in INTEGER NOT NULL);
    DELETE FROM seat_counts;
    INSERT INTO seat_counts (id, unsold, checked_in)
      SELECT 1, COALESCE(MAX(serial), 0) - COALESCE(SUM(status IN ${SOLD}), 0), COALESCE(SUM(status = 'redeemed'), 0)
      FROM tickets;
    CREATE TRIGGER IF NOT EXISTS seat_counts_insert AFTER INSERT ON tickets WHEN NEW.status <> 'active' BEGIN
      UPDATE seat_counts SET unsold = unsold + (NEW.status NOT IN ${SOLD}),
        checked_in = checked_in + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS seat_counts_update AFTER UPDATE OF status ON tickets WHEN OLD.status <> NEW.status BEGIN
      UPDATE seat_counts
        SET unsold = unsold + (OLD.status IN ${SOLD}) - (NEW.status IN ${SOLD}),
          checked_in = checked_in - (OLD.status = 'redeemed') + (NEW.status = 'redeemed') WHERE id = 1;
    END;
    CREATE TRIGGER IF NOT EXISTS tickets_kept BEFORE DELETE ON tickets BEGIN
      SELECT RAISE(ABORT, 'tickets are never deleted: the seat counts rest on it');
    END;
  `);
}

/** In version order; a new step goes at the end with the next number. */
const STEPS: readonly { version: number; apply(sql: SqlStorage): void }[] = [
  { version: 1, apply: createTables },
  { version: 3, apply: migrateGate },
  { version: 4, apply: migrateRevokedDevices },
  { version: 5, apply: migrateTicketCounts },
  { version: 6, apply: migrateRefunding },
  { version: 7, apply: migrateQueueClock },
  { version: 8, apply: migrateQueueNumbering },
  { version: 9, apply: migrateWaitlist },
  { version: 10, apply: migrateForgotten },
  { version: 11, apply: migrateLeanIndexes },
  { version: 12, apply: migrateSeatCounts },
];

/** The version a new or migrated object ends at. */
export const LATEST_SCHEMA_VERSION = STEPS[STEPS.length - 1]?.version ?? 0;

/** Brings the object's tables to the latest version, recording each step as it completes. */
export function migrate(sql: SqlStorage): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  // v1's tables are created on every start, as they always were: cheap (IF NOT EXISTS) and it keeps
  // an object whose version row is ahead of its tables working.
  createTables(sql);
  const version = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0]?.version ?? 0;
  for (const step of STEPS) {
    if (step.version <= version) continue;
    step.apply(sql);
    sql.exec("DELETE FROM schema_version");
    sql.exec("INSERT INTO schema_version (version) VALUES (?)", step.version);
  }
}
