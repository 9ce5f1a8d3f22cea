/**
 * Validation failures from the route schemas become one 400 `validation-failed` problem listing
 * every field: `errors: [{ path, message }]`, with `path` as a dotted JSON path ("venue.lat").
 */
import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "../../context";
import type { FieldError } from "../../lib/errors";
import { problem } from "../problem";

export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldError[] {
  return issues.map((issue) => ({
    path: issue.path.map(String).join("."),
    message: issue.message,
  }));
}

// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by every route, whatever its schema.
export const validationHook: Hook<any, AppEnv, any, any> = (result, c) => {
  if (result.success) return;
  const errors = fieldErrors(result.error.issues);
  return problem(c, "validation-failed", `${errors.length} field(s) are not valid.`, {
    errors,
    in: result.target,
  });
};
