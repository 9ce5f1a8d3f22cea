/**
 * The order path of a hot on-sale waits on no D1 query: an authenticated free order costs the
 * address's limiter object (api + orders-ip), the user's shard object (the session check with the
 * `orders-user` budget) and the event's inventory object, in that order, and nothing else before the
 * answer, nor after it: what D1 gets of the order comes from the object's push. Counted by wrapping
 * the bindings the Worker is given.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../../src/index";
import { freshIp } from "../../helpers";
import { recordingEnv } from "../../support/db";
import { forgetInBook, setBookLastUse } from "../../support/sessions";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "../events/helpers";
import { deviceAuth, gateEvent, issueTickets, qrToken, registerDevice, scan } from "../gate/helpers";

const jwtSid = (token: string) =>
  (JSON.parse(atob((token.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/"))) as { sid: string }).sid;

type Call = { binding: string; object: string; method: string };

/** A Durable Object namespace whose stubs record every RPC method called on them. */
function countingNamespace<T extends Rpc.DurableObjectBranded | undefined>(
  binding: string,
  ns: DurableObjectNamespace<T>,
  calls: Call[],
  log: string[],
): DurableObjectNamespace<T> {
  const wrapStub = (object: string, stub: DurableObjectStub<T>) =>
    new Proxy(stub, {
      get(target, method) {
        if (typeof method !== "string" || method === "then") return Reflect.get(target, method);
        return (...args: unknown[]) => {
          calls.push({ binding, object, method });
          log.push(`DO ${binding}.${method}`);
          return (target as unknown as Record<string, (...a: unknown[]) => unknown>)[method]?.(...args);
        };
      },
    });
  return new Proxy(ns, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "getByName") {
        return (name: string, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
          wrapStub(name, target.getByName(name, options));
      }
      if (property === "get") {
        return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
          wrapStub(id.toString(), target.get(id, options));
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Sends one order with every D1 statement and object call logged in one sequence, so the test can
 * say what came before the inventory's decision. Deferred work (src/http/after-response) is started
 * as the answer is built, inside fetch, so "before the answer" is judged by position in the log.
 */
function orderCounted(eventId: string, token: string) {
  return sendCounted(
    new Request(`https://gatehouse.test/api/v1/events/${eventId}/orders`, {
      method: "POST",
      headers: { ...bearer(token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
      body: JSON.stringify({ quantity: 1 }),
    }),
    "DO EVENT_INVENTORY.claim",
  );
}

async function sendCounted(request: Request, decision: string) {
  const { env: recorded, queries } = recordingEnv();
  const calls: Call[] = [];
  const log: string[] = [];
  const logged = <T extends object>(binding: T, kind: "D1" | "DO") =>
    new Proxy(binding, {
      get(target, property) {
        const value = Reflect.get(target, property, target);
        if (kind !== "D1" || typeof value !== "function") return value;
        return (...args: unknown[]) => {
          log.push(`D1 ${String(args[0]).slice(0, 40)}`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  const limiter = countingNamespace("RATE_LIMITER", env.RATE_LIMITER, calls, log);
  const inventory = countingNamespace("EVENT_INVENTORY", env.EVENT_INVENTORY, calls, log);
  const target = {
    ...recorded,
    DB: logged(recorded.DB, "D1"),
    RATE_LIMITER: limiter,
    EVENT_INVENTORY: inventory,
  } as Env;
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, target, ctx);
  await waitOnExecutionContext(ctx);
  const decided = log.indexOf(decision);
  expect(decided, `${decision} in ${log.join(", ")}`).toBeGreaterThanOrEqual(0);
  return { res, log, queries, calls, beforeDecision: log.slice(0, decided), afterDecision: log.slice(decided + 1) };
}

describe("the authenticated order path", () => {
  it("reads no D1 and calls two objects before the inventory decides", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    const [warm, buyer] = await buyers(2);
    if (!warm || !buyer) throw new Error("buyers");
    // The isolate's copy of the event (the buyers' sessions are in their books, as a sign-in leaves them).
    expect((await order(event.id, warm.token)).status).toBe(201);

    const { res, calls, beforeDecision, afterDecision } = await orderCounted(event.id, buyer.token);
    expect(res.status).toBe(201);
    expect(beforeDecision).toEqual([
      "DO RATE_LIMITER.consumeAll", // the address: api + orders-ip
      "DO RATE_LIMITER.authorize", // the user's shard: the session and orders-user
    ]);
    expect(calls[0]?.object).toMatch(/^ip:/);
    expect(calls[1]?.object).toMatch(/^shard:user:/);
    expect(calls[2]?.object).toBe(event.id);
    // After the decision: nothing from the Worker (the order, its tickets, email and in-app notice go
    // to D1 with the object's push).
    expect(afterDecision).toEqual([]);
    expect(res.headers.get("RateLimit-Policy")).toContain('"orders-user"');
  });

  it("a buyer who waited more than a minute writes nothing to D1 for it: the idle clock moves in the book alone", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10 });
    const [warm, buyer] = await buyers(2);
    if (!warm || !buyer) throw new Error("buyers");
    expect((await order(event.id, warm.token)).status).toBe(201);
    // Signed in, then waiting for the sale: the last use is past the touch interval.
    await setBookLastUse(buyer.id, jwtSid(buyer.token), Date.now() - 2 * 60_000);

    const { res, log } = await orderCounted(event.id, buyer.token);
    expect(res.status).toBe(201);
    expect(log.filter((entry) => entry.startsWith("D1 "))).toEqual([]);
  });

  it("an unknown session is read from D1 once, then never again", async () => {
    const host = await hostWithToken();
    const event = await createEvent(host.token, { capacity: 10, perUserLimit: 2 });
    const [warm, buyer] = await buyers(2);
    if (!warm || !buyer) throw new Error("buyers");
    expect((await order(event.id, warm.token)).status).toBe(201);
    // A session opened before the book existed (or whose shard moved): only D1 has it.
    await forgetInBook(buyer.id, jwtSid(buyer.token));

    const first = await orderCounted(event.id, buyer.token);
    expect(first.res.status).toBe(201);
    expect(first.beforeDecision).toEqual([
      "DO RATE_LIMITER.consumeAll",
      "DO RATE_LIMITER.authorize",
      expect.stringMatching(/^D1 SELECT s\.user_id/), // the session the book has not seen: read once
      "DO RATE_LIMITER.adoptSession",
    ]);

    const second = await orderCounted(event.id, buyer.token);
    expect(second.res.status).toBe(201);
    expect(second.beforeDecision).toEqual(["DO RATE_LIMITER.consumeAll", "DO RATE_LIMITER.authorize"]);
  });
});

describe("the scan path", () => {
  it("a known device's scan reads no D1: its limiter, then the event's object decides", async () => {
    const { host, event } = await gateEvent();
    const device = await registerDevice(event.id, host.token);
    const [first, second] = await issueTickets(event.id, 2);
    if (!first || !second) throw new Error("tickets");
    // The first scan teaches this isolate the device (one D1 lookup); the next one is the hot path.
    expect((await scan(device.token, await qrToken(first.id, first.holder.token))).status).toBe(200);
    const qr = await qrToken(second.id, second.holder.token);

    const { res, beforeDecision } = await sendCounted(
      new Request("https://gatehouse.test/api/v1/scan", {
        method: "POST",
        headers: { ...deviceAuth(device.token), "Content-Type": "application/json", "CF-Connecting-IP": freshIp() },
        body: JSON.stringify({ token: qr, nonce: crypto.randomUUID() }),
      }),
      "DO EVENT_INVENTORY.redeem",
    );
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: string }).result).toBe("admitted");
    expect(beforeDecision).toEqual(["DO RATE_LIMITER.consume"]);
  });
});
