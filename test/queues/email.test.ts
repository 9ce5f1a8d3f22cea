import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RateLimitRequest } from "../../durable-objects/rate-limiter";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { LIMITS } from "../../src/config/limits";
import { MAX_SEND_ATTEMPTS, retryDelayBounds } from "../../src/features/email/retry";
import { freezeClockForward } from "../support/clock";
import { type CapturedLogs, captureLogs } from "../support/logs";
import { FakeResend, seeded, useFakeResend } from "../support/resend";
import { deadLettersFor, insertOutbox, outboxIdOf, outboxRow, QueueHarness, RESEND_ENV } from "./email-harness";

let logs: CapturedLogs;
beforeEach(() => {
  freezeClockForward();
  // Failures are the point of these tests; their log lines are asserted where they matter.
  logs = captureLogs();
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** `count` queued rows with distinct recipients, each announced on the queue. */
async function queuedEmails(harness: QueueHarness, count: number, options: { to?: string; tag: string }) {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = await insertOutbox({ to: options.to, subject: `${options.tag} #${i}` });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    ids.push(id);
  }
  return ids;
}

describe("email consumer: delivery under failures", () => {
  it("a provider failing half the time (plus 429s and lost responses) ends with every email sent or dead-lettered with a reason, none lost, none created twice", async () => {
    const random = seeded(20261124);
    const resend = new FakeResend((call) => {
      // Four emails meet an outage that outlasts every retry; the rest a coin toss per call.
      if (/^chaos #[0-3]$/.test(call.body.subject)) return { status: 503, name: "application_error" };
      const roll = random();
      if (roll < 0.5) return "accept";
      if (roll < 0.6)
        return { status: 429, name: "rate_limit_exceeded", message: "Too many requests.", retryAfter: "2" };
      if (roll < 0.7) return "accept-then-drop";
      if (roll < 0.8) return "network-error";
      if (roll < 0.9) return { status: 500, name: "internal_server_error", message: "Unexpected error." };
      return { status: 503, name: "application_error", message: "Service unavailable." };
    }).install();
    const harness = new QueueHarness(RESEND_ENV);
    const ids = await queuedEmails(harness, 40, { tag: "chaos" });
    // Queues delivers at least once: some messages arrive twice from the start.
    for (const id of ids.slice(0, 5)) harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });

    await harness.drain();

    const rows = await Promise.all(ids.map(outboxRow));
    for (const row of rows) {
      expect(["sent", "dead_letter"]).toContain(row.status);
      if (row.status === "dead_letter") {
        expect(row.last_error).toMatch(/^gave up after 6 attempts; last error: resend/);
        expect(row.attempts).toBe(MAX_SEND_ATTEMPTS);
        expect(await deadLettersFor(row.id)).toHaveLength(1);
      }
    }
    const sent = rows.filter((r) => r.status === "sent");
    expect(sent.length).toBeGreaterThan(30);
    expect(rows.filter((r) => r.status === "dead_letter").length).toBeGreaterThanOrEqual(4);
    // Exactly one provider-side email per sent row, and none for a dead one; the stored provider id is it.
    for (const [i, row] of rows.entries()) {
      const created = resend.created.filter((c) => c.subject === `chaos #${i}`);
      expect(created).toHaveLength(row.status === "sent" ? 1 : 0);
      if (row.status === "sent") expect(row.provider_message_id).toBe(created[0]?.id);
    }
    // Every call for an email carried its outbox id as the Idempotency-Key.
    for (const call of resend.calls) expect(ids).toContain(call.key);
    // The lost responses were re-sent with the same key and answered from the provider's idempotency record.
    const replayed = resend.calls.filter((c, i) => resend.calls.findIndex((d) => d.key === c.key) !== i);
    expect(replayed.length).toBeGreaterThan(0);
  });

  it("retry delays follow 1 s, 5 s, 30 s, 5 min, 30 min (jitter upward only), then the email is dead-lettered", async () => {
    const resend = new FakeResend(() => ({ status: 500, name: "internal_server_error", message: "Unexpected error." }));
    resend.install();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "schedule" });

    await harness.drain();

    const delays = harness.retriesOf(id as string).map((s) => s.delaySeconds as number);
    expect(delays).toHaveLength(LIMITS.emailRetryDelaysSeconds.length);
    delays.forEach((delay, i) => {
      const { min, max } = retryDelayBounds(i + 1);
      expect(delay).toBeGreaterThanOrEqual(min);
      expect(delay).toBeLessThanOrEqual(max);
    });
    expect(retryDelayBounds(1)).toEqual({ min: 1, max: 1 });
    expect(retryDelayBounds(5).min).toBe(1800);
    expect(resend.callsFor(id as string)).toHaveLength(6);
    const row = await outboxRow(id as string);
    expect(row).toMatchObject({ status: "dead_letter", attempts: 6 });
    expect(row.last_error).toBe(
      "gave up after 6 attempts; last error: resend 500 internal_server_error: Unexpected error.",
    );
    const [dead] = await deadLettersFor(id as string);
    expect(dead).toMatchObject({ source: "email", reason: row.last_error });
    expect(JSON.parse(dead?.payload ?? "{}")).toEqual({ template: "otp-code", attempts: 6 });
  });

  it("a 429 waits at least the provider's Retry-After", async () => {
    let first = true;
    new FakeResend(() => {
      if (!first) return "accept";
      first = false;
      return {
        status: 429,
        name: "daily_quota_exceeded",
        message: "You have reached your daily email sending quota.",
        retryAfter: "120",
      };
    }).install();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "retry-after" });
    await harness.drain();
    expect(harness.retriesOf(id as string).map((s) => s.delaySeconds)).toEqual([120]);
    expect(await outboxRow(id as string)).toMatchObject({ status: "sent", attempts: 2, last_error: null });
  });

  it("a permanent 4xx dead-letters at once with the provider's reason and is not retried", async () => {
    const resend = new FakeResend(() => ({
      status: 422,
      name: "validation_error",
      message: "Invalid `to` field. The email address needs to follow the `email@example.com` format.",
    })).install();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "permanent" });

    await harness.drain();

    expect(resend.callsFor(id as string)).toHaveLength(1);
    expect(harness.retriesOf(id as string)).toHaveLength(0);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack"]);
    const row = await outboxRow(id as string);
    expect(row.status).toBe("dead_letter");
    expect(row.attempts).toBe(1);
    expect(logs.entries("email dead-lettered", "error")).not.toHaveLength(0);
    expect(row.last_error).toBe(
      "permanent: resend 422 validation_error: Invalid `to` field. The email address needs to follow the `email@example.com` format.",
    );
    expect((await deadLettersFor(id as string))[0]?.reason).toBe(row.last_error);
  });

  it("401 and 403 (our key or domain, not the message) are retried on the schedule, not dead-lettered", async () => {
    let call = 0;
    new FakeResend(() => {
      call += 1;
      if (call === 1)
        return { status: 401, name: "missing_api_key", message: "Missing API key in the authorization header." };
      if (call === 2) return { status: 403, name: "invalid_api_key", message: "API key is invalid." };
      return "accept";
    }).install();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "auth-errors" });
    await harness.drain();
    expect(harness.retriesOf(id as string)).toHaveLength(2);
    expect(await outboxRow(id as string)).toMatchObject({ status: "sent", attempts: 3 });
  });
});

describe("email consumer: rate limits", () => {
  it("30 emails to one recipient in a burst: 10 go out in the first minute, the rest later, all sent, no retry burned", async () => {
    const start = Date.now();
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const to = `burst-${crypto.randomUUID()}@example.com`;
    const ids = await queuedEmails(harness, 30, { to, tag: "burst" });

    await harness.drain();

    const firstMinute = resend.created.filter((c) => c.at < start + 60_000);
    expect(firstMinute).toHaveLength(10);
    expect(resend.created).toHaveLength(30);
    // 10 per minute per recipient at most, in every minute.
    const minutes = new Map<number, number>();
    for (const c of resend.created) {
      const m = Math.floor((c.at - start) / 60_000);
      minutes.set(m, (minutes.get(m) ?? 0) + 1);
    }
    for (const count of minutes.values()) expect(count).toBeLessThanOrEqual(10);
    for (const id of ids) expect(await outboxRow(id)).toMatchObject({ status: "sent", attempts: 1 });
    // Delays were new messages plus an ack, never retry(): Queues' retry budget is untouched.
    expect(harness.settled.filter((s) => s.outcome === "retry")).toHaveLength(0);
    const delays = harness.produced.map((p) => p.delaySeconds);
    expect(delays.length).toBeGreaterThanOrEqual(20);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(1);
  });

  it("the global budget (100 a minute) delays the 101st email of a burst across recipients", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const start = Date.now();
    const ids = await queuedEmails(harness, 105, { tag: "global" });
    await harness.drain();
    expect(resend.created.filter((c) => c.at === start)).toHaveLength(100);
    expect(resend.created).toHaveLength(105);
    for (const id of ids) expect((await outboxRow(id)).status).toBe("sent");
  });

  it("an unreachable RateLimiter delays the email (fail mode `delay`) instead of sending unmetered", async () => {
    const resend = useFakeResend();
    const broken = {
      getByName: () => ({
        consume: () => Promise.reject(new Error("object unreachable")),
      }),
    };
    const harness = new QueueHarness({ ...RESEND_ENV, RATE_LIMITER: broken });
    const [id] = await queuedEmails(harness, 1, { tag: "limiter-down" });
    await harness.deliver(harness.takeDue());
    expect(resend.calls).toHaveLength(0);
    expect(harness.produced).toEqual([
      expect.objectContaining({ body: { outboxId: id }, delaySeconds: expect.any(Number) }),
    ]);
    const delay = harness.produced[0]?.delaySeconds ?? 0;
    expect(delay).toBeGreaterThanOrEqual(LIMITS.emailLimiterUnavailableDelaySeconds);
    const row = await outboxRow(id as string);
    expect(row).toMatchObject({ status: "queued", attempts: 0 });
    expect(row.next_attempt_at).toBe(Date.now() + delay * 1000);
  });
});

/** Counts what the consumer asks of D1: batches (with their statements) and single queries. */
function countingDb() {
  const counts = { batches: 0, statements: 0, single: 0 };
  const instrument = (statement: D1PreparedStatement): D1PreparedStatement => {
    for (const method of ["first", "run", "all", "raw"] as const) {
      const real = (statement[method] as (...args: unknown[]) => unknown).bind(statement);
      Object.assign(statement, {
        [method]: (...args: unknown[]) => {
          counts.single += 1;
          return real(...args);
        },
      });
    }
    const bind = statement.bind.bind(statement);
    Object.assign(statement, { bind: (...values: unknown[]) => instrument(bind(...values)) });
    return statement;
  };
  const db = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => instrument(target.prepare(sql));
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => {
          counts.batches += 1;
          counts.statements += statements.length;
          return target.batch(statements);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, counts };
}

/** Records every RateLimiter call (object name, policy, cost) on the way to the real objects. */
function countingLimiter() {
  const calls: { object: string; policy: string; cost: number }[] = [];
  const ns = env.RATE_LIMITER;
  const limiter = {
    getByName(name: string) {
      const stub = ns.getByName(name);
      return {
        consume(request: RateLimitRequest) {
          calls.push({ object: name, policy: request.policy, cost: request.cost ?? 1 });
          return stub.consume(request);
        },
      };
    },
  };
  return { limiter, calls };
}

describe("email consumer: a batch at a time", () => {
  it("a full batch of 10 costs two D1 batches (claim, record), no single query, and one global budget call for all ten", async () => {
    const resend = useFakeResend();
    const { db, counts } = countingDb();
    const { limiter, calls } = countingLimiter();
    const harness = new QueueHarness({ ...RESEND_ENV, DB: db, RATE_LIMITER: limiter });
    const ids = await queuedEmails(harness, 10, { tag: "full-batch" });
    const before = { ...counts };

    await harness.deliver(harness.takeDue());

    expect(resend.created).toHaveLength(10);
    for (const id of ids) expect(await outboxRow(id)).toMatchObject({ status: "sent", attempts: 1 });
    expect(harness.settled.map((s) => s.outcome)).toEqual(Array(10).fill("ack"));
    expect(counts.batches - before.batches).toBe(2);
    expect(counts.statements - before.statements).toBe(20);
    expect(counts.single - before.single).toBe(0);
    // Ten recipients, each asked once; the global budget once, for ten units.
    expect(calls.filter((c) => c.policy.startsWith("email-recipient|"))).toHaveLength(10);
    expect(calls.filter((c) => c.policy === "email-global")).toEqual([
      { object: "email:global", policy: "email-global", cost: 10 },
    ]);
  });

  it("a global budget smaller than the batch sends what it allows and hands the rest back, attempts untouched", async () => {
    const resend = useFakeResend();
    const limits = JSON.stringify({ "email-global": { limit: 4, windowSeconds: 60 } });
    const harness = new QueueHarness({ ...RESEND_ENV, RATE_LIMITS: limits });
    const start = Date.now();
    const ids = await queuedEmails(harness, 10, { tag: "small-global" });

    await harness.deliver(harness.takeDue());
    expect(resend.created).toHaveLength(4);
    const rows = await Promise.all(ids.map(outboxRow));
    expect(rows.filter((r) => r.status === "sent")).toHaveLength(4);
    const waiting = rows.filter((r) => r.status !== "sent");
    expect(waiting).toHaveLength(6);
    for (const row of waiting) {
      expect(row).toMatchObject({ status: "queued", attempts: 0, lease_until: null });
      expect(row.next_attempt_at).toBeGreaterThan(start);
    }
    // Each waiting email has a fresh delayed message; none burned a retry.
    expect(harness.produced).toHaveLength(6);
    expect(harness.settled.filter((s) => s.outcome === "retry")).toHaveLength(0);

    await harness.drain();
    expect(resend.created).toHaveLength(10);
    for (const id of ids) expect(await outboxRow(id)).toMatchObject({ status: "sent", attempts: 1 });
    // The budget's pace held: 4 at once, then one per 15 s (GCRA), so the tenth went out 90 s on at the earliest.
    const times = resend.created.map((c) => c.at).sort((x, y) => x - y);
    expect(times.filter((t) => t === start)).toHaveLength(4);
    expect((times[9] as number) - start).toBeGreaterThanOrEqual(90_000);
  });

  it("the same email twice in one batch is sent once; both messages are acknowledged", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "twice" });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    const due = harness.takeDue();
    expect(due).toHaveLength(2);
    await harness.deliver(due);
    expect(resend.calls).toHaveLength(1);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack", "ack"]);
    expect(harness.produced).toHaveLength(0);
    expect(await outboxRow(id as string)).toMatchObject({ status: "sent", attempts: 1 });
  });
});

describe("email consumer: duplicates and crashes", () => {
  it("a duplicate delivery of a sent email acks without calling the provider", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "dup" });
    await harness.drain();
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    await harness.drain();
    expect(resend.calls).toHaveLength(1);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack", "ack"]);
  });

  it("two deliveries of one email in flight at once send it once (the claim is one conditional UPDATE)", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const [id] = await queuedEmails(harness, 1, { tag: "race" });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    await Promise.all(harness.takeDue().map((d) => harness.deliver([d])));
    await harness.drain();
    expect(resend.calls).toHaveLength(1);
    expect((await outboxRow(id as string)).status).toBe("sent");
  });

  it("a consumer that dies mid-batch, after the provider accepted emails but before recording them, neither duplicates nor loses", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const [a, b, c] = await queuedEmails(harness, 3, { tag: "crash" });
    // From the moment the provider has accepted B, storage is gone for the rest of the invocation:
    // nothing of the batch is recorded sent, as if the isolate had died there.
    let dead = false;
    const realDb = env.DB;
    const dyingDb = new Proxy(realDb, {
      get(target, prop) {
        if (prop === "prepare" && dead)
          return () => {
            throw new Error("isolate died");
          };
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    resend.setScript((call) => {
      if (call.key === b) dead = true;
      return "accept";
    });
    const crashing = new QueueHarness({ ...RESEND_ENV, DB: dyingDb });
    await crashing.deliver(harness.takeDue());
    expect(crashing.settled.map((s) => [outboxIdOf(s.delivery.body), s.outcome])).toEqual([
      [a, "retry"],
      [b, "retry"],
      [c, "retry"],
    ]);
    for (const id of [a, b, c]) expect((await outboxRow(id as string)).status).toBe("sending");

    // Queues re-delivers them to a healthy consumer: they wait out the dead consumer's lease, then go
    // again under the same Idempotency-Keys.
    dead = false;
    for (const s of crashing.settled) {
      harness.enqueue(EMAIL_QUEUE_NAME, s.delivery.body, s.delaySeconds, s.delivery.attempts + 1);
    }
    await harness.drain();

    for (const id of [a, b, c]) expect((await outboxRow(id as string)).status).toBe("sent");
    // One email each at the provider: the second calls were answered from its idempotency record.
    expect(resend.created.map((x) => x.key).sort()).toEqual([a, b, c].sort());
    for (const id of [a, b, c]) expect(resend.callsFor(id as string)).toHaveLength(2);
    expect((await outboxRow(b as string)).provider_message_id).toBe(resend.created.find((x) => x.key === b)?.id);
  });

  it("a row whose sixth attempt was made but never recorded (consumer died) is dead-lettered, not sent a seventh time", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const id = await insertOutbox({
      status: "sending",
      attempts: MAX_SEND_ATTEMPTS,
      leaseUntil: Date.now() - 1,
      lastError: "resend 503 application_error: Service unavailable.",
    });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    await harness.drain();
    expect(resend.calls).toHaveLength(0);
    const row = await outboxRow(id);
    expect(row.status).toBe("dead_letter");
    expect(row.last_error).toBe(
      "gave up after 6 attempts; last error: resend 503 application_error: Service unavailable.",
    );
    expect(await deadLettersFor(id)).toHaveLength(1);
  });

  it("a send budget whose wait runs past Queues' longest delay hands the email back at that delay, not refused", async () => {
    const resend = useFakeResend();
    // One email a week for the whole platform: the second waits 7 days for the budget.
    const limits = JSON.stringify({ "email-global": { limit: 1, windowSeconds: 7 * 24 * 3600 } });
    const harness = new QueueHarness({ ...RESEND_ENV, RATE_LIMITS: limits });
    const [first, second] = await queuedEmails(harness, 2, { tag: "week-budget" });
    await harness.deliver(harness.takeDue());
    expect(resend.created).toHaveLength(1);
    const states = await Promise.all([first, second].map((id) => outboxRow(id as string)));
    const held = [first, second][states.findIndex((row) => row.status !== "sent")];
    expect(harness.produced).toEqual([
      { body: { outboxId: held }, delaySeconds: LIMITS.queueMaxDelaySeconds, at: expect.any(Number) },
    ]);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack", "ack"]);
  });

  it("a lease ending past Queues' longest delay (a clock gone wrong) is looked at again within that delay, not refused", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const id = await insertOutbox({ status: "sending", attempts: 1, leaseUntil: Date.now() + 3 * 24 * 3600 * 1000 });
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    await harness.deliver(harness.takeDue());
    expect(resend.calls).toHaveLength(0);
    expect(harness.produced).toEqual([
      { body: { outboxId: id }, delaySeconds: LIMITS.queueMaxDelaySeconds, at: expect.any(Number) },
    ]);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack"]);
  });

  it("an unknown outbox id or a malformed message is acknowledged, not retried forever", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    harness.enqueue(EMAIL_QUEUE_NAME, { outboxId: "no-such-row" });
    harness.enqueue(EMAIL_QUEUE_NAME, { something: "else" });
    await harness.drain();
    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack", "ack"]);
    expect(resend.calls).toHaveLength(0);
  });
});

describe("email consumer: transports and configuration", () => {
  it("the log transport in development marks the row sent without any provider call", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness({ ENVIRONMENT: "development" });
    const [id] = await queuedEmails(harness, 1, { tag: "dev" });
    await harness.drain();
    expect(resend.calls).toHaveLength(0);
    const row = await outboxRow(id as string);
    expect(row).toMatchObject({ status: "sent", attempts: 1, provider_message_id: null });
    expect(row.sent_at).toBe(Date.now());
  });

  it("sends Resend the documented request: Bearer key, JSON body, outbox id as Idempotency-Key", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const to = `shape-${crypto.randomUUID()}@example.com`;
    const [id] = await queuedEmails(harness, 1, { to, tag: "shape" });
    await harness.drain();
    expect(resend.calls).toEqual([
      {
        key: id,
        authorization: "Bearer re_test_0123456789abcdef",
        contentType: "application/json",
        body: {
          from: env.EMAIL_FROM,
          to: [to],
          subject: "shape #0",
          html: "<p>html body</p>",
          text: "text body",
        },
        at: Date.now(),
      },
    ]);
    expect((await outboxRow(id as string)).provider_message_id).toBe(resend.created[0]?.id);
  });

  it("with an invalid configuration nothing is sent and every message is kept for later", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness({ ENVIRONMENT: "production", RESEND_API_KEY: "" });
    const [id] = await queuedEmails(harness, 1, { tag: "bad-config" });
    await harness.deliver(harness.takeDue());
    expect(resend.calls).toHaveLength(0);
    expect(harness.settled.map((s) => s.outcome)).toEqual(["retry"]);
    expect((await outboxRow(id as string)).status).toBe("queued");
    expect(logs.lines.filter((l) => l.stream === "error").map((l) => l.entry)).toEqual([
      expect.objectContaining({
        msg: "configuration invalid: email delivery paused",
        keys: expect.arrayContaining(["RESEND_API_KEY"]),
      }),
    ]);
  });
});
