/** Shared OpenAPI pieces: the problem document schema and response helpers for route definitions. */
import { z } from "@hono/zod-openapi";
import type { ErrorCode } from "../../lib/errors";
import { problemStatus, problemTitle, problemType } from "../problem";

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ example: "https://gatehouse.events/problems/rate-limited" }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    requestId: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");

export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A code a route may answer, alone or with a note on when (e.g. `["forbidden", "not the host"]`). */
export type ProblemEntry = ErrorCode | readonly [code: ErrorCode, when: string];

/**
 * The problem responses of a route, from the codes it may answer: status and title come from the
 * one table in ../problem.ts, so the document cannot promise a status the code does not get. Codes
 * sharing a status share one response, whose description lists each code with its title.
 */
export function problems(...entries: ProblemEntry[]) {
  const byStatus = new Map<number, string[]>();
  for (const entry of entries) {
    const [code, when] = typeof entry === "string" ? [entry] : entry;
    const status = problemStatus(code);
    const line = `\`${problemType(code)}\`: ${problemTitle(code)}${when ? ` (${when})` : ""}`;
    byStatus.set(status, [...(byStatus.get(status) ?? []), line]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, lines]) => [
      status,
      { description: lines.join("; "), content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
}

export function body<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } };
}
