/**
 * The retention job deletes exactly the rows past their kind's period (src/config/retention.ts) —
 * one millisecond past goes, the boundary itself stays — in bounded chunks, and the cron reports
 * the counts. Rows a period does not govern (open dead letters, unsettled Stripe events, emails still
 * owed a send) stay whatever their age.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_RETENTION_DAYS, type RetentionKind, resolveRetentionDays } from "../../../src/config/retention";
import { runRetention } from "../../../src/features/retention";
import worker from "../../../src/index";
import { freezeClockForward } from "../../support/clock";
import { rows } from "../../support/db";
import { type CapturedLogs, captureLogs } from "../../support/logs";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2026, 11, 1);
const cutoff = (kind: RetentionKind) => NOW - DEFAULT_RETENTION_DAYS[kind] * DAY;

let logs: CapturedLogs;
beforeEach(() => {
  freezeClockForward();
  logs = captureLogs();
});

let seq = 0;
async function user(): Promise<string> {
  const id = `ret-user-${++seq}`;
  await env.DB.prepare("INSERT INTO users (id, email, name, created_at, updated_at) VALUES (?, ?, 'R', 0, 0)")
    .bind(id, `${id}@example.com`)
    .run();
  return id;
}

/** One row of each kind at `at` (the time the kind is judged by); returns the ids by table. */
async function rowsAt(tag: string, at: number, hostId: string) {
  const id = `${tag}-${++seq}`;
  await env.DB.batch([
    env.DB.prepare("INSERT INTO audit_log (id, at, action, outcome) VALUES (?, ?, 'test', 'success')").bind(id, at),
    env.DB.prepare(
      "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'password', 0, 0, ?)",
    ).bind(id, hostId, at),
    env.DB.prepare("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES (?, ?, 0)").bind(id, id),
    env.DB.prepare(
      "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES (?, ?, 'verify-email', 0, ?)",
    ).bind(id, hostId, at),
    env.DB.prepare(
      "INSERT INTO email_outbox (id, \"to\", subject, text, html, template, status, created_at, updated_at) VALUES (?, 'a@example.com', 's', 't', 'h', 'order-confirmed', 'sent', ?, ?)",
    ).bind(id, at, at),
    env.DB.prepare(
      "INSERT INTO dev_mailbox (id, \"to\", subject, text, html, template, created_at) VALUES (?, 'a@example.com', 's', 't', 'h', 'x', ?)",
    ).bind(id, at),
    env.DB.prepare(
      "INSERT INTO dead_letters (id, source, ref_id, reason, created_at, replayed_at) VALUES (?, 'email', ?, 'r', ?, ?)",
    ).bind(id, id, at, at),
    env.DB.prepare(
      "INSERT INTO stripe_events (id, type, object_id, created, livemode, payload, status, received_at) VALUES (?, 'x', 'o', 0, 0, '{}', 'processed', ?)",
    ).bind(id, at),
    env.DB.prepare(
      "INSERT INTO webhook_events (id, host_id, type, data, created_at) VALUES (?, ?, 'order.created', '{}', ?)",
    ).bind(id, hostId, at),
    env.DB.prepare(
      "INSERT INTO handles (handle_key, user_id, state, retired_until, created_at) VALUES (?, ?, 'retired', ?, 0)",
    ).bind(id, hostId, at),
  ]);
  return id;
}

const TABLES: Record<RetentionKind, [table: string, key: string]> = {
  "audit-log": ["audit_log", "id"],
  sessions: ["sessions", "id"],
  "email-tokens": ["email_tokens", "token_hash"],
  "email-outbox": ["email_outbox", "id"],
  "dev-mailbox": ["dev_mailbox", "id"],
  "dead-letters": ["dead_letters", "id"],
  "stripe-payloads": ["stripe_events", "id"],
  "outgoing-webhooks": ["webhook_events", "id"],
  "retired-handles": ["handles", "handle_key"],
};

async function present(kind: RetentionKind, id: string): Promise<boolean> {
  const [table, key] = TABLES[kind];
  return (await rows(`SELECT 1 FROM ${table} WHERE ${key} = ?`, id)).length === 1;
}

describe("retention", () => {
  it("deletes, per kind, exactly the rows past their period and keeps the boundary and younger rows", async () => {
    const host = await user();
    const kinds = Object.keys(TABLES) as RetentionKind[];
    const past: Record<string, string> = {};
    const edge: Record<string, string> = {};
    for (const kind of kinds) {
      // Each kind has its own period, so each gets rows on its own boundary.
      past[kind] = await rowsAt(`past-${kind}`, cutoff(kind) - 1, host);
      edge[kind] = await rowsAt(`edge-${kind}`, cutoff(kind) + 1, host);
    }
    const report = await runRetention(env.DB, DEFAULT_RETENTION_DAYS, NOW);
    expect(report.errors).toEqual({});
    for (const kind of kinds) {
      expect(await present(kind, past[kind] as string), `${kind} past its period`).toBe(false);
      expect(await present(kind, edge[kind] as string), `${kind} inside its period`).toBe(true);
      // Every kind's rows are written to every table: a table also holds the rows placed on longer
      // periods' boundaries, which are past its own period (both of them) — and those of its own
      // boundary and of shorter periods, which are not.
      const days = DEFAULT_RETENTION_DAYS[kind];
      const expected =
        kinds.filter((k) => DEFAULT_RETENTION_DAYS[k] >= days).length +
        kinds.filter((k) => DEFAULT_RETENTION_DAYS[k] > days).length;
      expect(report[kind], kind).toBe(expected);
    }
    // A session's refresh tokens go with it; deliveries cascade with their webhook event.
    expect(await rows("SELECT 1 FROM refresh_tokens WHERE session_id = ?", past.sessions)).toHaveLength(0);
    expect(await rows("SELECT 1 FROM refresh_tokens WHERE session_id = ?", edge.sessions)).toHaveLength(1);

    // Nothing is left to delete on a second run.
    const again = await runRetention(env.DB, DEFAULT_RETENTION_DAYS, NOW);
    expect(kinds.map((k) => again[k])).toEqual(kinds.map(() => 0));
  });

  it("keeps what a period does not govern: open dead letters, unsettled Stripe events, emails owed a send", async () => {
    const ancient = NOW - 3000 * DAY;
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO dead_letters (id, source, ref_id, reason, created_at) VALUES ('open-dl', 'email', 'open-dl', 'r', ?)",
      ).bind(ancient),
      env.DB.prepare(
        "INSERT INTO stripe_events (id, type, object_id, created, livemode, payload, status, received_at) VALUES ('failing-evt', 'x', 'o', 0, 0, '{}', 'failed', ?)",
      ).bind(ancient),
      env.DB.prepare(
        "INSERT INTO email_outbox (id, \"to\", subject, text, html, template, status, created_at, updated_at) VALUES ('owed', 'a@example.com', 's', 't', 'h', 'order-confirmed', 'queued', ?, ?)",
      ).bind(ancient, ancient),
    ]);
    await runRetention(env.DB, DEFAULT_RETENTION_DAYS, NOW);
    expect(await rows("SELECT id FROM dead_letters WHERE id = 'open-dl'")).toHaveLength(1);
    expect(await rows("SELECT id FROM stripe_events WHERE id = 'failing-evt'")).toHaveLength(1);
    expect(await rows("SELECT id FROM email_outbox WHERE id = 'owed'")).toHaveLength(1);
  });

  it("deletes in bounded chunks: a run stops after its chunk budget and the next run takes the rest", async () => {
    const old = NOW - 400 * DAY;
    await env.DB.batch(
      Array.from({ length: 5 }, (_, i) =>
        env.DB.prepare("INSERT INTO audit_log (id, at, action, outcome) VALUES (?, ?, 'chunk', 'success')").bind(
          `chunk-${i}`,
          old + i,
        ),
      ),
    );
    const first = await runRetention(env.DB, DEFAULT_RETENTION_DAYS, NOW, { batchRows: 2, maxBatches: 2 });
    expect(first["audit-log"]).toBe(4);
    // Oldest first.
    expect(await rows("SELECT id FROM audit_log WHERE action = 'chunk'")).toEqual([{ id: "chunk-4" }]);
    const second = await runRetention(env.DB, DEFAULT_RETENTION_DAYS, NOW, { batchRows: 2, maxBatches: 2 });
    expect(second["audit-log"]).toBe(1);
  });

  it("runs from the five-minute cron with the configured periods and reports the counts per kind", async () => {
    const host = await user();
    // Storage is shared by this file's tests: clear what earlier tests left past any period first.
    await runRetention(env.DB, { ...DEFAULT_RETENTION_DAYS, "audit-log": 400 }, Date.now());
    const id = await rowsAt("cron", Date.now() - 366 * DAY, host);
    const bindings = { ...env, RETENTION_DAYS: JSON.stringify({ "audit-log": 400 }) } as Env;
    const ctx = createExecutionContext();
    await worker.scheduled(
      createScheduledController({ scheduledTime: Date.now(), cron: "*/5 * * * *" }),
      bindings,
      ctx,
    );
    await waitOnExecutionContext(ctx);
    // 366 days is past the default year but inside the configured 400 days.
    expect(await present("audit-log", id)).toBe(true);
    expect(await present("sessions", id)).toBe(false);
    const [sweep] = logs.entries("sweep");
    expect(sweep?.retention).toMatchObject({ "audit-log": 0, sessions: 1, "outgoing-webhooks": 1, errors: {} });
  });

  it("validates overrides: known kinds, whole days within 1–3650", () => {
    expect(resolveRetentionDays(undefined)).toEqual(DEFAULT_RETENTION_DAYS);
    expect(resolveRetentionDays('{"sessions": 1}').sessions).toBe(1);
    expect(resolveRetentionDays('{"audit-log": 3650}')["audit-log"]).toBe(3650);
    expect(() => resolveRetentionDays('{"sessions": 0}')).toThrow();
    expect(() => resolveRetentionDays('{"audit-log": 3651}')).toThrow();
    expect(() => resolveRetentionDays('{"sessions": 1.5}')).toThrow();
    expect(() => resolveRetentionDays('{"photos": 10}')).toThrow(/unknown kind/);
    expect(() => resolveRetentionDays("[1]")).toThrow();
  });
});
