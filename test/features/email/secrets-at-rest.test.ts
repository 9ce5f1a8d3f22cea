/**
 * Secrets at rest: a sign-in code or a verification/reset link lives in D1 only as a hash
 * (email_tokens, otp_codes), so the outbox must not keep the rendered email that carries it once the
 * email is sent or dead-lettered. Each test replays the flow through the real routes and consumers
 * (Resend faked at fetch) and then searches every D1 table for the secret: only dev_mailbox, which
 * exists outside production only, may still show it.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { projectionStatements } from "../../../durable-objects/event-inventory/projection";
import { EMAIL_DLQ_NAME } from "../../../queues/email-dlq";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { handOverQueued, insertedOutboxIds } from "../../../src/features/email/enqueue";
import { hashPassword } from "../../../src/lib/password";
import { freshIp, postSettled } from "../../helpers";
import { QueueHarness, RESEND_ENV } from "../../queues/email-harness";
import { freezeClockForward } from "../../support/clock";
import { outboxEmails } from "../../support/outbox";
import { FakeResend, useFakeResend } from "../../support/resend";

beforeEach(() => {
  freezeClockForward();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const PASSWORD = "violet-otter-marmalade";
const uniqueEmail = (tag: string) => `${tag}-${crypto.randomUUID()}@example.com`;

const post = postSettled;

/** The text part of the newest `template` email to `to`, as GET /dev/mailbox would show it. */
async function mailboxText(to: string, template: string): Promise<string> {
  const row = await env.DB.prepare(
    'SELECT text FROM dev_mailbox WHERE "to" = ? AND template = ? ORDER BY created_at DESC LIMIT 1',
  )
    .bind(to, template)
    .first<{ text: string }>();
  if (!row) throw new Error(`no ${template} email to ${to} in the dev mailbox`);
  return row.text;
}

const tokenOf = (text: string) => {
  const link = text.match(/https?:\/\/\S+/)?.[0];
  const token = link ? new URL(link).searchParams.get("token") : null;
  if (!token) throw new Error(`no token link in: ${text}`);
  return token;
};

/** The secret as it would be found: a token anywhere; a 6-digit code not inside a longer number. */
const asToken = (token: string) => new RegExp(token.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
const asCode = (code: string) => new RegExp(`(?<!\\d)${code}(?!\\d)`);

/** Tables of the app (D1's and Cloudflare's own bookkeeping aside) with a row whose values match `secret`. */
async function tablesHolding(secret: RegExp): Promise<string[]> {
  const { results: tables } = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name <> 'd1_migrations' ORDER BY name",
  ).all<{ name: string }>();
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["email_outbox", "dev_mailbox", "audit_log"]));
  const holding: string[] = [];
  for (const { name } of tables) {
    const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all();
    if (results.some((row) => Object.values(row).some((v) => typeof v === "string" && secret.test(v)))) {
      holding.push(name);
    }
  }
  return holding;
}

interface OutboxRecord {
  id: string;
  to: string;
  template: string;
  subject: string | null;
  text: string | null;
  html: string | null;
  carries_secret: number;
  status: string;
  attempts: number;
  created_at: number;
  sent_at: number | null;
  updated_at: number | null;
  provider_message_id: string | null;
  last_error: string | null;
}

/** The row opened (its recipient and body are sealed at rest: test/support/outbox.ts). */
async function outboxOf(to: string, template: string): Promise<OutboxRecord> {
  const [row] = (await outboxEmails({ to, template })) as unknown as OutboxRecord[];
  if (!row) throw new Error(`no ${template} outbox row for ${to}`);
  return row;
}

/** What a finished secret email keeps: who, which template, how it ended, when, after how many tries. */
function expectMetadataOnly(row: OutboxRecord, expected: { to: string; template: string; status: string }) {
  expect(row).toMatchObject({
    ...expected,
    carries_secret: 1,
    subject: null,
    text: null,
    html: null,
    attempts: 1,
    created_at: expect.any(Number),
    updated_at: expect.any(Number),
  });
}

describe("emails that carry a secret keep it only until they are sent", () => {
  it("a sent verification email: the link reached the person, the outbox keeps metadata only, and the token is nowhere in D1 but dev_mailbox", async () => {
    const resend = useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("verify");
    expect((await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" })).status).toBe(
      201,
    );
    const token = tokenOf(await mailboxText(email, "verify-email"));
    // While it is owed a send the outbox needs the body (a retry must send the same email).
    const before = await outboxOf(email, "verify-email");
    expect(before).toMatchObject({ status: "queued", carries_secret: 1 });
    expect(before.text).toContain(token);
    // Sealed in the outbox (test/support/outbox.ts opens it): only the development mirror holds it readable.
    expect(await tablesHolding(asToken(token))).toEqual(["dev_mailbox"]);

    await harness.drain();

    expect(resend.created.filter((c) => c.to === email)).toHaveLength(1);
    expect(resend.calls.find((c) => c.body.to[0] === email)?.body.text).toContain(token);
    const row = await outboxOf(email, "verify-email");
    expectMetadataOnly(row, { to: email, template: "verify-email", status: "sent" });
    expect(row.sent_at).toEqual(expect.any(Number));
    expect(row.provider_message_id).toBe(resend.created.find((c) => c.to === email)?.id);
    expect(await tablesHolding(asToken(token))).toEqual(["dev_mailbox"]);
  });

  it("a sent password-reset email: the reset token is nowhere in D1 but dev_mailbox, and the link still works once", async () => {
    useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("reset");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    expect((await post(harness.env, "/api/v1/auth/forgot-password", { email })).status).toBe(202);
    const token = tokenOf(await mailboxText(email, "reset-password"));

    await harness.drain();

    expectMetadataOnly(await outboxOf(email, "reset-password"), {
      to: email,
      template: "reset-password",
      status: "sent",
    });
    expect(await tablesHolding(asToken(token))).toEqual(["dev_mailbox"]);
    // The hash in email_tokens is what the link is checked against; the outbox was never needed for it.
    const reset = await post(harness.env, "/api/v1/auth/reset-password", { token, password: `${PASSWORD}-2` });
    expect(reset.status).toBe(200);
  });

  it("a sent sign-in code: the code is nowhere in D1 but dev_mailbox (the otp_codes row holds its HMAC)", async () => {
    useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("otp");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    expect((await post(harness.env, "/api/v1/auth/otp/request", { email })).status).toBe(202);
    const code = (await mailboxText(email, "otp-code")).match(/\b(\d{6})\b/)?.[1] as string;
    expect(code).toMatch(/^\d{6}$/);
    expect(await tablesHolding(asCode(code))).toEqual(["dev_mailbox"]);

    await harness.drain();

    expectMetadataOnly(await outboxOf(email, "otp-code"), { to: email, template: "otp-code", status: "sent" });
    expect(await tablesHolding(asCode(code))).toEqual(["dev_mailbox"]);
  });
});

describe("dead-lettered emails that carry a secret keep none either", () => {
  it("a verification email the provider refuses for good is dead-lettered without its body; the token is in no table, dead_letters included", async () => {
    new FakeResend(() => ({ status: 422, name: "validation_error", message: "Invalid `to` field." })).install();
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("refused");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    const token = tokenOf(await mailboxText(email, "verify-email"));

    await harness.drain();

    const row = await outboxOf(email, "verify-email");
    expectMetadataOnly(row, { to: email, template: "verify-email", status: "dead_letter" });
    expect(row.last_error).toBe("permanent: resend 422 validation_error: Invalid `to` field.");
    const dead = await env.DB.prepare("SELECT reason, payload FROM dead_letters WHERE ref_id = ?")
      .bind(row.id)
      .all<{ reason: string; payload: string }>();
    expect(dead.results).toEqual([
      { reason: row.last_error, payload: JSON.stringify({ template: "verify-email", attempts: 1 }) },
    ]);
    expect(await tablesHolding(asToken(token))).toEqual(["dev_mailbox"]);
  });

  it("a reset email buried by the dead-letter queue (queue retries exhausted) loses its body in the same step", async () => {
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("buried");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    await post(harness.env, "/api/v1/auth/forgot-password", { email });
    const token = tokenOf(await mailboxText(email, "reset-password"));
    const queued = await outboxOf(email, "reset-password");
    expect(queued.status).toBe("queued");

    // Queues gave up on the email queue's message without a verdict and moved it to the DLQ.
    harness.pending.length = 0;
    harness.enqueue(EMAIL_DLQ_NAME, { outboxId: queued.id });
    await harness.drain();

    const row = await outboxOf(email, "reset-password");
    expect(row).toMatchObject({ status: "dead_letter", carries_secret: 1, subject: null, text: null, html: null });
    expect(row.last_error).toMatch(/^queue retries exhausted/);
    expect(await tablesHolding(asToken(token))).toEqual(["dev_mailbox"]);
  });
});

describe("no other table keeps a sign-in's tokens", () => {
  it("a password sign-in sent with an Idempotency-Key: its access and refresh tokens are in no table (no auth route stores its answer)", async () => {
    const email = uniqueEmail("login");
    const now = Date.now();
    await env.DB.prepare(
      "INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at) VALUES (?, ?, 'Ada', ?, ?, ?, ?)",
    )
      .bind(crypto.randomUUID(), email, await hashPassword(PASSWORD, { logN: 10, r: 8, p: 1 }), now, now, now)
      .run();
    const key = `login-${crypto.randomUUID()}`;
    const res = await createApp().request(
      "https://gatehouse.test/api/v1/auth/login",
      {
        method: "POST",
        headers: { "Content-Type": "application/json", "CF-Connecting-IP": freshIp(), "Idempotency-Key": key },
        body: JSON.stringify({ email, password: PASSWORD }),
      },
      env,
    );
    expect(res.status).toBe(200);
    const { accessToken, refreshToken } = (await res.json()) as { accessToken: string; refreshToken: string };
    expect(accessToken.length).toBeGreaterThan(40);
    expect(refreshToken.length).toBeGreaterThan(40);
    expect(await env.DB.prepare("SELECT 1 FROM idempotency_keys WHERE key = ?").bind(key).first()).toBeNull();
    expect(await tablesHolding(asToken(accessToken))).toEqual([]);
    expect(await tablesHolding(asToken(refreshToken))).toEqual([]);
  });
});

describe("emails without a secret keep their body until retention", () => {
  it("a ticket confirmation (written by EventInventory's projection) is sent and keeps its subject, text and html", async () => {
    useFakeResend();
    const harness = new QueueHarness(RESEND_ENV);
    const email = uniqueEmail("buyer");
    const payload = {
      id: `order-confirmed:${crypto.randomUUID()}`,
      to: email,
      template: "order-confirmed",
      data: { name: "Ada", eventTitle: "Night Market", startsAt: Date.UTC(2031, 5, 1, 18), serials: [7, 8] },
    };
    const now = Date.now();
    const results = await env.DB.batch(
      projectionStatements(env.DB, [{ seq: 1, kind: "email", payload: JSON.stringify(payload) }], {
        pii: getConfig(env).pii,
        mirrorDevMailbox: false,
        queuedAt: now,
      }),
    );
    await handOverQueued(env.DB, harness.env.EMAIL_QUEUE, insertedOutboxIds(results), now);

    await harness.drain();

    const row = await outboxOf(email, "order-confirmed");
    expect(row).toMatchObject({ status: "sent", carries_secret: 0, attempts: 1 });
    expect(row.subject).toBe("Your tickets for Night Market");
    expect(row.text).toContain("Tickets: #7, #8");
    expect(row.html).toContain("<strong>Night Market</strong>");
  });
});
