/** Shared OpenAPI pieces: the problem document schema and response helpers for route definitions. */
import { z } from "@hono/zod-openapi";

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

export function problems(...entries: [status: number, description: string][]) {
  return Object.fromEntries(
    entries.map(([status, description]) => [
      status,
      { description, content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );
}

export function body<T extends z.ZodType>(schema: T) {
  return { body: { required: true, content: { "application/json": { schema } } } };
}
