/**
 * BenchProbe: the bare Durable Object SQLite write, the yardstick the `inventory` benchmark holds the
 * EventInventory object's decision rate against (bench/README.md). One call inserts one row and
 * returns: no transaction of its own, no read, no outbox, no alarm. Whatever the inventory object does
 * per claim beyond this is its own cost; the RPC, the input and output gates and the commit are paid
 * by both alike. A second yardstick, `writeSale`, stores exactly the rows a sale stores and nothing
 * more, so a run also shows how much of a claim is the sale's writes and how much the deciding.
 *
 * Only the development routes call it (src/features/dev/bench.ts): they are not mounted in production
 * (src/index.ts, src/features/dev/guard.ts), and nothing else names the binding. The class is bound in
 * every environment only because a Durable Object class is declared once for all of them.
 */
import { DurableObject } from "cloudflare:workers";
import type { EventSnapshot } from "./event-inventory/contract";
import { emitAll } from "./event-inventory/outbox";
import { type OrderRow, type SalesContext, type TicketRow, toOrder, toTicket } from "./event-inventory/rows";
import { confirmationEmail, insertOrder, insertTicket, nextSerial, randomTicketId } from "./event-inventory/sales";
import { migrate } from "./event-inventory/schema";

/** The event writeSale's rows belong to: only its id, title and start go into them. */
const SALE_EVENT: EventSnapshot = {
  eventId: "bench-probe-event",
  version: 1,
  status: "published",
  title: "Bench probe event",
  capacity: 1_000_000,
  perUserLimit: 1,
  price: 0,
  currency: "usd",
  startsAt: Date.UTC(2030, 0, 1),
  endsAt: Date.UTC(2030, 0, 1, 4),
  salesStartAt: null,
  salesEndAt: null,
  checkInOpensAt: Date.UTC(2029, 11, 31, 22),
  checkInClosesAt: Date.UTC(2030, 0, 1, 4),
};

export class BenchProbe extends DurableObject<Env> {
  #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Before the first call: the write below is then the one statement a call runs.
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL)",
    );
    // EventInventory's own tables, indexes and triggers, for writeSale.
    migrate(this.#sql);
  }

  /** Inserts one row; the answer leaves once the write is durable (the output gate holds it until then). */
  write(key: string): void {
    this.#sql.exec("INSERT INTO writes (key, at) VALUES (?, ?)", key, Date.now());
  }

  /**
   * Stores what a free sale of one ticket stores in an EventInventory object, through that object's
   * own schema, triggers and writers, in one transaction: the order (confirmed), its ticket (numbered
   * after the highest serial), and the outbox records of both and of the buyer's confirmation email.
   * Nothing else: no lookup of the order, the buyer's tickets or the seats left, no push, no alarm.
   * The least a sale can cost the object, between the bare write and a claim (bench/README.md).
   * Every call is a new buyer (`key`).
   */
  writeSale(key: string): void {
    this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const tx: SalesContext = { sql: this.#sql, event: { current: SALE_EVENT }, now };
      const contact = { email: `${key}@bench.example`, name: "Bench buyer" };
      const order: OrderRow = {
        id: key,
        user_id: key,
        status: "confirmed",
        quantity: 1,
        amount: 0,
        currency: SALE_EVENT.currency,
        hold_expires_at: null,
        payment_ref: null,
        contact: JSON.stringify(contact),
        created_at: now,
        updated_at: now,
      };
      const ticket: TicketRow = {
        id: randomTicketId(),
        order_id: key,
        user_id: key,
        serial: nextSerial(tx),
        status: "active",
        redeemed_at: null,
        created_at: now,
      };
      insertOrder(tx, order);
      insertTicket(tx, ticket);
      emitAll(this.#sql, [
        { kind: "order", payload: toOrder(tx, order) },
        { kind: "ticket", payload: toTicket(tx, ticket) },
        confirmationEmail(SALE_EVENT, key, contact, [ticket]),
      ]);
    });
  }

  /** Sales writeSale stored so far, and their outbox records (never pushed: three per sale). */
  sales(): { orders: number; tickets: number; outbox: number; distinctSerials: number } {
    return this.#sql
      .exec<{ orders: number; tickets: number; outbox: number; distinctSerials: number }>(
        `SELECT (SELECT COUNT(*) FROM orders) AS orders, (SELECT COUNT(*) FROM tickets) AS tickets,
           (SELECT COUNT(*) FROM outbox) AS outbox, (SELECT COUNT(DISTINCT serial) FROM tickets) AS distinctSerials`,
      )
      .one();
  }

  /** Rows written so far (the dev route's test reads it to see that each call wrote one). */
  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM writes").one().n;
  }
}
