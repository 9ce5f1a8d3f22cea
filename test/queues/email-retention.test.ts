/**
 * Outbox retention: the cron deletes finished emails (sent, dead-lettered) once they are
 * the retention period of the email outbox (src/config/retention.ts) old, and never an email still owed a send. In a file of its own so
 * the purge's count covers only this file's rows (storage is per test file).
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../src/config";
import { DEFAULT_RETENTION_DAYS } from "../../src/config/retention";
import { OUTBOX_CONTEXT } from "../../src/features/email/outbox";
import worker from "../../src/index";
import { freezeClockForward } from "../support/clock";
import { type CapturedLogs, captureLogs } from "../support/logs";
import { insertOutbox, QueueHarness } from "./email-harness";

let logs: CapturedLogs;
beforeEach(() => {
  freezeClockForward();
  logs = captureLogs();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const DAY = 24 * 60 * 60 * 1000;
const RETENTION = DEFAULT_RETENTION_DAYS["email-outbox"] * DAY;

async function bodiesOf(ids: string[]) {
  const { results } = await env.DB.prepare(
    `SELECT id, status, text FROM email_outbox WHERE id IN (${ids.map(() => "?").join(", ")}) ORDER BY id`,
  )
    .bind(...ids)
    .all<{ id: string; status: string; text: string | null }>();
  // The same cron seals the rows these tests write in plain text (the PII job): read them opened.
  const { pii } = getConfig(env);
  return Object.fromEntries(results.map((r) => [r.id, { ...r, text: pii.openOptional(r.text, OUTBOX_CONTEXT.text) }]));
}

describe("cron: email outbox retention", () => {
  it("deletes sent and dead-lettered rows older than the retention period, keeps younger ones (bodies of non-secret emails included) and every row still owed a send", async () => {
    const now = Date.now();
    const old = now - RETENTION - 1;
    const rows = {
      secretSent: await insertOutbox({
        id: "a-secret-sent",
        template: "otp-code",
        carriesSecret: true,
        status: "sent",
        createdAt: old,
      }),
      ticketSent: await insertOutbox({
        id: "b-ticket-sent",
        template: "order-confirmed",
        status: "sent",
        createdAt: old,
      }),
      dead: await insertOutbox({
        id: "c-dead",
        template: "reset-password",
        carriesSecret: true,
        status: "dead_letter",
        createdAt: old,
      }),
      edge: await insertOutbox({
        id: "d-edge",
        template: "order-confirmed",
        status: "sent",
        createdAt: now - RETENTION,
      }),
      ticketYoung: await insertOutbox({
        id: "e-ticket-young",
        template: "order-confirmed",
        status: "sent",
        createdAt: now - RETENTION + DAY,
      }),
      oldQueued: await insertOutbox({
        id: "f-old-queued",
        template: "verify-email",
        carriesSecret: true,
        status: "queued",
        createdAt: old,
      }),
      oldPending: await insertOutbox({
        id: "g-old-pending",
        template: "order-confirmed",
        status: "pending",
        createdAt: old,
        queuedAt: null,
        nextAttemptAt: null,
      }),
    };
    const harness = new QueueHarness();
    const ctx = createExecutionContext();
    worker.scheduled(createScheduledController({ scheduledTime: now, cron: "*/5 * * * *" }), harness.env, ctx);
    await waitOnExecutionContext(ctx);

    const left = await bodiesOf(Object.values(rows));
    expect(Object.keys(left).sort()).toEqual([rows.ticketYoung, rows.oldQueued, rows.oldPending].sort());
    // A non-secret email keeps its body until retention; one still owed a send keeps it whatever its age.
    expect(left[rows.ticketYoung]).toMatchObject({ status: "sent", text: "text body" });
    expect(left[rows.oldQueued]?.text).toBe("text body");
    expect(left[rows.oldPending]?.text).toBe("text body");
    const [sweep] = logs.entries("sweep");
    expect(sweep).toMatchObject({ emailsPurged: 4 });

    // The next run finds nothing more to delete.
    const again = createExecutionContext();
    worker.scheduled(createScheduledController({ scheduledTime: now, cron: "*/5 * * * *" }), harness.env, again);
    await waitOnExecutionContext(again);
    expect(Object.keys(await bodiesOf(Object.values(rows))).sort()).toEqual(Object.keys(left).sort());
  });
});
