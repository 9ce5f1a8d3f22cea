/**
 * Work that must not delay or shape the answer: a route hands a task to `c.var.defer`, and this
 * outermost middleware starts the tasks only once the whole response is built, under waitUntil. For
 * work whose mere presence would show in timing (an email written only for a known address would
 * tell known from unknown ones). A task must be safe to lose (the outbox sweeps re-send what never
 * reached its queue); its failure is logged with the request id.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../context";
import { log } from "../../lib/log";

export type Defer = (task: () => Promise<unknown>) => void;

export function afterResponse(): MiddlewareHandler<AppEnv> {
  return async function afterResponse(c, next) {
    const tasks: (() => Promise<unknown>)[] = [];
    c.set("defer", (task) => {
      tasks.push(task);
    });
    await next();
    if (tasks.length === 0) return;
    const run = Promise.all(
      tasks.map((task) =>
        task().catch((error: unknown) =>
          log("error", "deferred work failed", { requestId: c.get("requestId"), error }),
        ),
      ),
    );
    try {
      c.executionCtx.waitUntil(run);
    } catch {
      // No execution context (app.request without one, in tests): the work finishes on its own.
    }
  };
}
