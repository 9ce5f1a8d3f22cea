/**
 * Account enumeration by timing: otp/request, forgot-password and register answer the same body for
 * known and unknown emails, and must also do the same work before answering. A known email's extra
 * work (writing and queueing its email, the "someone tried to register" notice) runs after the answer
 * (waitUntil). Measured by counting the D1 calls and queue sends made before the response resolves,
 * then again once the deferred work has finished.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { freshIp } from "../../helpers";
import { createUser, PASSWORD, uniqueEmail } from "./helpers";

interface Work {
  d1: number;
  queue: number;
}

/** Env whose D1 and email queue count every call (statements run, batches, sends) into `work`. */
function countingEnv(work: Work): Env {
  // Each wrapped statement remembers the real one: D1's batch() takes only its own statements.
  const real = new WeakMap<object, D1PreparedStatement>();
  const statement = (inner: D1PreparedStatement): D1PreparedStatement => {
    const wrapped = new Proxy(inner, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name === "bind") return (...args: unknown[]) => statement(value.apply(target, args));
        if (name === "first" || name === "run" || name === "all" || name === "raw") {
          return (...args: unknown[]) => {
            work.d1 += 1;
            return value.apply(target, args);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    real.set(wrapped, inner);
    return wrapped;
  };
  const db = new Proxy(env.DB, {
    get(target, name) {
      if (name === "prepare") return (sql: string) => statement(target.prepare(sql));
      if (name === "batch") {
        return (statements: D1PreparedStatement[]) => {
          work.d1 += 1;
          return target.batch(statements.map((s) => real.get(s) ?? s));
        };
      }
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const queue = {
    send: async (...args: Parameters<Queue["send"]>) => {
      work.queue += 1;
      return env.EMAIL_QUEUE.send(...args);
    },
    sendBatch: async (...args: Parameters<Queue["sendBatch"]>) => {
      work.queue += 1;
      return env.EMAIL_QUEUE.sendBatch(...args);
    },
  };
  return { ...env, DB: db, EMAIL_QUEUE: queue } as unknown as Env;
}

/** The work done before the answer, and after the deferred work finished. */
async function measure(path: string, body: unknown) {
  const work: Work = { d1: 0, queue: 0 };
  const deferred: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => deferred.push(p), passThroughOnException: () => {}, props: {} };
  const res = await worker.fetch(
    new Request(`https://gatehouse.test${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify(body),
    }),
    countingEnv(work),
    ctx as unknown as ExecutionContext,
  );
  // Snapshot at the answer, before anything else is awaited.
  const atAnswer = { ...work };
  const before = { ...atAnswer, status: res.status, body: await res.text() };
  await Promise.all(deferred);
  return { before, after: { ...work } };
}

describe("known and unknown emails do the same work before the answer", () => {
  it("otp/request: same answer, same D1 calls and queue sends; the known email's code is written afterwards", async () => {
    const known = await createUser();
    const a = await measure("/api/v1/auth/otp/request", { email: known.email });
    const b = await measure("/api/v1/auth/otp/request", { email: uniqueEmail("nobody") });
    expect(a.before.status).toBe(202);
    expect(a.before).toEqual(b.before);
    expect(a.after.d1).toBeGreaterThan(a.before.d1);
    expect(a.after.queue).toBe(1);
    expect(b.after).toEqual({ d1: b.before.d1, queue: b.before.queue });
  });

  it("forgot-password: same answer, same work before it; only the known email's link is written afterwards", async () => {
    const known = await createUser();
    const a = await measure("/api/v1/auth/forgot-password", { email: known.email });
    const b = await measure("/api/v1/auth/forgot-password", { email: uniqueEmail("nobody") });
    expect(a.before.status).toBe(202);
    expect(a.before).toEqual(b.before);
    expect(a.after.queue).toBe(1);
    expect(b.after).toEqual({ d1: b.before.d1, queue: b.before.queue });
  });

  it("register: a taken and a new address do the same work before the 201; the queue hand-off and the notice come after", async () => {
    const taken = await createUser();
    const a = await measure("/api/v1/auth/register", { email: taken.email, password: PASSWORD, name: "Eve" });
    const b = await measure("/api/v1/auth/register", { email: uniqueEmail("new"), password: PASSWORD, name: "Eve" });
    expect(a.before.status).toBe(201);
    expect(b.before.status).toBe(201);
    expect({ d1: a.before.d1, queue: a.before.queue }).toEqual({ d1: b.before.d1, queue: b.before.queue });
    expect(a.before.queue).toBe(0);
    // Afterwards: the new address's verification email was queued; the taken one got its notice.
    expect(b.after.queue).toBe(1);
    expect(a.after.queue).toBe(1);
    expect(a.after.d1).toBeGreaterThan(a.before.d1);
  });
});
