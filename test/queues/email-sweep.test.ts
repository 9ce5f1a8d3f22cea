import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { projectionStatements } from "../../durable-objects/event-inventory/projection";
import { EMAIL_QUEUE_NAME } from "../../queues/email";
import { EMAIL_DLQ_NAME } from "../../queues/email-dlq";
import { getConfig } from "../../src/config";
import worker from "../../src/index";
import { freezeClockForward, setClock } from "../support/clock";
import { type CapturedLogs, captureLogs } from "../support/logs";
import { useFakeResend } from "../support/resend";
import { deadLettersFor, insertOutbox, outboxIdOf, outboxRow, QueueHarness, RESEND_ENV } from "./email-harness";

let logs: CapturedLogs;
beforeEach(async () => {
  // This file shares its storage with the files run before it in the same worker: their emails still
  // owed a send are theirs, not this file's to sweep and drain (a host's burst of notices would
  // wait out its recipient's budget here, batch after batch).
  await env.DB.prepare("DELETE FROM email_outbox WHERE status IN ('pending', 'queued', 'sending')").run();
  freezeClockForward();
  logs = captureLogs();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const MINUTE = 60_000;

async function runCron(harness: QueueHarness): Promise<void> {
  const ctx = createExecutionContext();
  worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }), harness.env, ctx);
  await waitOnExecutionContext(ctx);
}

/**
 * Ids the sweep handed to the queue, among `mine`. Rows of earlier tests in this file stay in D1
 * and, with the clock a day further on, are legitimately stuck now: each test looks at its own rows.
 */
const producedIds = (harness: QueueHarness, mine: string[]) =>
  harness.produced.map((p) => outboxIdOf(p.body) as string).filter((id) => mine.includes(id));

describe("cron sweep: stuck outbox rows", () => {
  it("re-enqueues a row stuck in queued for more than 10 minutes exactly once; a second sweep is a no-op", async () => {
    const now = Date.now();
    const stuck = await insertOutbox({
      status: "queued",
      queuedAt: now - 11 * MINUTE,
      nextAttemptAt: now - 11 * MINUTE,
    });
    const harness = new QueueHarness();

    await runCron(harness);
    expect(producedIds(harness, [stuck])).toEqual([stuck]);
    const row = await outboxRow(stuck);
    expect(row).toMatchObject({ status: "queued", next_attempt_at: now });

    await runCron(harness);
    setClock(now + 5 * MINUTE);
    await runCron(harness);
    expect(producedIds(harness, [stuck])).toEqual([stuck]);

    // The re-sent message delivers it.
    await harness.drain();
    expect((await outboxRow(stuck)).status).toBe("sent");
  });

  it("leaves alone what is not stuck: recently queued, delayed into the future, sending under a live lease, sent, dead", async () => {
    const now = Date.now();
    const harness = new QueueHarness();
    const mine = [
      await insertOutbox({ status: "queued", queuedAt: now - 9 * MINUTE, nextAttemptAt: now - 9 * MINUTE }),
      // A 30-minute retry is due later: its wait is not "stuck".
      await insertOutbox({ status: "queued", queuedAt: now - 25 * MINUTE, nextAttemptAt: now + 5 * MINUTE }),
      await insertOutbox({ status: "sending", leaseUntil: now + 30_000 }),
      await insertOutbox({ status: "sending", leaseUntil: now - 5 * MINUTE }),
      await insertOutbox({ status: "pending", createdAt: now - 30_000, queuedAt: null, nextAttemptAt: null }),
      await insertOutbox({ status: "sent", queuedAt: now - 60 * MINUTE }),
      await insertOutbox({ status: "dead_letter", queuedAt: now - 60 * MINUTE }),
    ];
    await runCron(harness);
    expect(producedIds(harness, mine)).toEqual([]);
  });

  it("picks up a sending row whose consumer died (lease ended 10 minutes ago) and a pending row nobody enqueued", async () => {
    const now = Date.now();
    const harness = new QueueHarness();
    const crashed = await insertOutbox({ status: "sending", attempts: 1, leaseUntil: now - 11 * MINUTE });
    const orphan = await insertOutbox({
      status: "pending",
      createdAt: now - 2 * MINUTE,
      queuedAt: null,
      nextAttemptAt: null,
    });
    await runCron(harness);
    expect(producedIds(harness, [crashed, orphan]).sort()).toEqual([crashed, orphan].sort());
    await harness.drain();
    expect(await outboxRow(crashed)).toMatchObject({ status: "sent", attempts: 2 });
    expect(await outboxRow(orphan)).toMatchObject({ status: "sent", attempts: 1 });
  });

  it("delivers the emails EventInventory projects into the outbox (pending, deterministic ids, no queue of its own)", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const id = `order-${crypto.randomUUID()}:confirmed`;
    const payload = {
      id,
      to: `buyer-${crypto.randomUUID()}@example.com`,
      template: "order-confirmed",
      data: { name: "Ada", eventTitle: "Rust & <Co>", startsAt: Date.UTC(2027, 2, 14, 19), serials: [7, 8] },
    };
    const rows = [{ seq: 1, kind: "email" as const, payload: JSON.stringify(payload) }];
    await env.DB.batch(projectionStatements(env.DB, rows, { pii: getConfig(env).pii, mirrorDevMailbox: false }));
    // The push is retried by the object's alarm: a replayed projection must not duplicate the email.
    await env.DB.batch(projectionStatements(env.DB, rows, { pii: getConfig(env).pii, mirrorDevMailbox: false }));

    setClock(Date.now() + 2 * MINUTE);
    await runCron(harness);
    await harness.drain();

    expect(await outboxRow(id)).toMatchObject({ status: "sent", attempts: 1 });
    const calls = resend.callsFor(id);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.body.subject).toBe("Your tickets for Rust & <Co>");
    expect(calls[0]?.body.html).toContain("Rust &amp; &lt;Co&gt;");
  });

  it("a queue that refuses the re-send leaves the row for the next sweep (nothing lost)", async () => {
    const now = Date.now();
    const stuck = await insertOutbox({
      status: "queued",
      queuedAt: now - 11 * MINUTE,
      nextAttemptAt: now - 11 * MINUTE,
    });
    const down = {
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    };
    const harness = new QueueHarness({ EMAIL_QUEUE: down });
    await runCron(harness);
    expect((await outboxRow(stuck)).status).toBe("queued");
    setClock(now + 11 * MINUTE);
    const healthy = new QueueHarness();
    await runCron(healthy);
    expect(producedIds(healthy, [stuck])).toEqual([stuck]);
  });
});

describe("dead-letter queue consumer", () => {
  it("marks the row dead_letter with its last error, lists it once, and logs it", async () => {
    const harness = new QueueHarness();
    const id = await insertOutbox({
      status: "queued",
      attempts: 2,
      lastError: "resend 500 internal_server_error: boom",
    });
    harness.enqueue(EMAIL_DLQ_NAME, { outboxId: id });
    harness.enqueue(EMAIL_DLQ_NAME, { outboxId: id });
    await harness.drain();

    expect(harness.settled.map((s) => s.outcome)).toEqual(["ack", "ack"]);
    const row = await outboxRow(id);
    expect(row.status).toBe("dead_letter");
    expect(row.last_error).toBe("queue retries exhausted; last error: resend 500 internal_server_error: boom");
    const dead = await deadLettersFor(id);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ source: "email", reason: row.last_error, replayed_at: null });
    expect(JSON.parse(dead[0]?.payload ?? "{}")).toEqual({ template: "otp-code", attempts: 2 });
    const logged = logs.entries(undefined, "error");
    expect(logged).toContainEqual(
      expect.objectContaining({ level: "error", msg: "email dead-lettered", outboxId: id, reason: row.last_error }),
    );
  });

  it("leaves a sent row alone, and waits out a live lease instead of overruling the sender", async () => {
    const harness = new QueueHarness();
    const sent = await insertOutbox({ status: "sent" });
    const sending = await insertOutbox({ status: "sending", leaseUntil: Date.now() + 30_000 });
    harness.enqueue(EMAIL_DLQ_NAME, { outboxId: sent });
    harness.enqueue(EMAIL_DLQ_NAME, { outboxId: sending });
    await harness.deliver(harness.takeDue());
    expect(harness.settled.map((s) => [outboxIdOf(s.delivery.body), s.outcome, s.delaySeconds])).toEqual([
      [sent, "ack", undefined],
      [sending, "retry", 30],
    ]);
    expect((await outboxRow(sent)).status).toBe("sent");
    expect((await outboxRow(sending)).status).toBe("sending");
    expect(await deadLettersFor(sent)).toEqual([]);
  });

  it("an email whose deliveries keep failing before the provider (D1 errors) reaches the DLQ after max_retries and is dead-lettered there", async () => {
    const resend = useFakeResend();
    const id = await insertOutbox({ status: "queued" });
    const brokenDb = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") {
          return (sql: string) => {
            // The consumer's first statement: the batch claim.
            if (sql.includes("UPDATE email_outbox SET status = 'sending'")) throw new Error("D1 unavailable");
            return target.prepare(sql);
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const failing = new QueueHarness({ ...RESEND_ENV, DB: brokenDb });
    failing.enqueue(EMAIL_QUEUE_NAME, { outboxId: id });
    // Deliveries on the email queue fail; the harness, like Queues, moves the message to the DLQ
    // after max_retries, and the DLQ consumer (which only needs D1 for its own statements) runs with
    // a healthy database.
    for (let i = 0; i < 20 && failing.pending.some((d) => d.queue === EMAIL_QUEUE_NAME); i++) {
      const due = failing.takeDue();
      if (due.length === 0) setClock(Math.min(...failing.pending.map((d) => d.dueAt)));
      else await failing.deliver(due);
    }
    expect(failing.settled.filter((s) => s.outcome === "retry")).toHaveLength(6);
    const toDlq = failing.pending.filter((d) => d.queue === EMAIL_DLQ_NAME);
    expect(toDlq).toHaveLength(1);
    const healthy = new QueueHarness();
    healthy.enqueue(EMAIL_DLQ_NAME, toDlq[0]?.body);
    await healthy.drain();
    expect(resend.callsFor(id)).toHaveLength(0);
    const row = await outboxRow(id);
    expect(row.status).toBe("dead_letter");
    expect(row.last_error).toBe(
      "queue retries exhausted; last error: none recorded (the consumer failed before sending)",
    );
  });
});
