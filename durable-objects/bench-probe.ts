/**
 * BenchProbe: the bare Durable Object SQLite write, the yardstick the `inventory` benchmark holds the
 * EventInventory object's decision rate against (bench/README.md). One call inserts one row and
 * returns: no transaction of its own, no read, no outbox, no alarm. Whatever the inventory object does
 * per claim beyond this is its own cost; the RPC, the input and output gates and the commit are paid
 * by both alike.
 *
 * Only the development routes call it (src/features/dev/bench.ts): they are not mounted in production
 * (src/index.ts, src/features/dev/guard.ts), and nothing else names the binding. The class is bound in
 * every environment only because a Durable Object class is declared once for all of them.
 */
import { DurableObject } from "cloudflare:workers";

export class BenchProbe extends DurableObject<Env> {
  #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    // Before the first call: the write below is then the one statement a call runs.
    this.#sql.exec(
      "CREATE TABLE IF NOT EXISTS writes (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL)",
    );
  }

  /** Inserts one row; the answer leaves once the write is durable (the output gate holds it until then). */
  write(key: string): void {
    this.#sql.exec("INSERT INTO writes (key, at) VALUES (?, ?)", key, Date.now());
  }

  /** Rows written so far (the dev route's test reads it to see that each call wrote one). */
  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM writes").one().n;
  }
}
