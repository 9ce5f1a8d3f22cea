/**
 * Row types derived from the drizzle schema, for queries written in SQL: `RowOf<typeof events>` is an
 * events row exactly as D1 returns it (the SQL column names, snake_case, with drizzle's inferred value
 * types and nullability). A column added, renamed or made nullable in the schema changes the type
 * every query uses, instead of a hand-written copy drifting from it.
 */
import type { Table } from "drizzle-orm";

type Columns<T extends Table> = T["_"]["columns"];

export type RowOf<T extends Table> = {
  [K in keyof Columns<T> & keyof T["$inferSelect"] as Columns<T>[K]["_"]["name"]]: T["$inferSelect"][K];
};
