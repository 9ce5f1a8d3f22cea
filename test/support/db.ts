/**
 * Reading what the code under test stored: D1 rows (the test sees the same database the Worker
 * writes), rows inside an event's object (its SQLite, read in place), and the machine code of a
 * problem answer.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { problemOf } from "../helpers";

/** Rows from D1 for `sql` with `bindings`. */
export async function rows<T = Record<string, unknown>>(sql: string, ...bindings: unknown[]): Promise<T[]> {
  return (
    await env.DB.prepare(sql)
      .bind(...bindings)
      .all<T>()
  ).results;
}

/** How many rows of `table` match `where` (a SQL condition with `?` for each binding). */
export async function countRows(table: string, where: string, ...bindings: unknown[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)
    .bind(...bindings)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Rows stored inside the event's inventory object (its SQLite), read in place. */
export function objectRows<T>(eventId: string, sql: string, ...bindings: unknown[]): Promise<T[]> {
  return runInDurableObject(env.EVENT_INVENTORY.getByName(eventId), (_instance, state) =>
    state.storage.sql.exec(sql, ...bindings).toArray(),
  ) as Promise<T[]>;
}

/** The problem document's machine code: the last segment of its `type` URI. */
export function codeOf(problem: { type: string }): string {
  return problem.type.split("/").pop() ?? "";
}

/** The machine code of a problem answer, after checking it is one (application/problem+json). */
export async function codeOfResponse(res: Response): Promise<string> {
  return codeOf(await problemOf(res));
}

/** The test env with a D1 binding that records every statement the Worker prepares or sends. */
export function recordingEnv(): { env: Env; queries: string[] } {
  const queries: string[] = [];
  const db = env.DB;
  const DB = {
    prepare(sql: string) {
      queries.push(sql);
      return db.prepare(sql);
    },
    batch(statements: D1PreparedStatement[]) {
      queries.push(`batch of ${statements.length}`);
      return db.batch(statements);
    },
    exec(sql: string) {
      queries.push(sql);
      return db.exec(sql);
    },
    withSession(constraint?: string) {
      queries.push("withSession");
      return db.withSession(constraint);
    },
    dump() {
      queries.push("dump");
      return db.dump();
    },
  } as D1Database;
  return { env: { ...env, DB } as Env, queries };
}
