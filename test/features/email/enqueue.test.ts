import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { projectionStatements } from "../../../durable-objects/event-inventory/projection";
import { createApp } from "../../../src/app";
import { getConfig } from "../../../src/config";
import { enqueueEmails, handOverQueued, insertedOutboxIds } from "../../../src/features/email/enqueue";
import { postSettled } from "../../helpers";
import { outboxIdOf, outboxRow, QueueHarness } from "../../queues/email-harness";
import { captureLogs } from "../../support/logs";
import { outboxEmails } from "../../support/outbox";

afterEach(() => vi.restoreAllMocks());

const PASSWORD = "violet-otter-marmalade";

const post = postSettled;

async function outboxFor(to: string) {
  return (await outboxEmails({ to }))
    .sort((a, b) => a.created_at - b.created_at || a.template.localeCompare(b.template))
    .map(({ id, template, status }) => ({ id, template, status }));
}

const uniqueEmail = (tag: string) => `${tag}-${crypto.randomUUID()}@example.com`;

describe("auth flows hand their emails to the queue once the batch commits", () => {
  it("register: the verification email is queued at once (row queued, one message naming it)", async () => {
    const harness = new QueueHarness();
    const email = uniqueEmail("register");
    const res = await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    expect(res.status).toBe(201);
    const rows = await outboxFor(email);
    expect(rows).toEqual([{ id: expect.any(String), template: "verify-email", status: "queued" }]);
    expect(harness.produced.map((p) => p.body)).toEqual([{ outboxId: rows[0]?.id }]);
  });

  it("register with a taken email queues only the notice to the owner (the suppressed insert enqueues nothing)", async () => {
    const harness = new QueueHarness();
    const email = uniqueEmail("taken");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Eve" });
    const rows = (await outboxFor(email)).sort((a, b) => a.template.localeCompare(b.template));
    expect(rows.map((r) => [r.template, r.status])).toEqual([
      ["register-existing", "queued"],
      ["verify-email", "queued"],
    ]);
    expect(harness.produced).toHaveLength(2);
    expect(harness.produced.map((p) => outboxIdOf(p.body)).sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("forgot-password, reset-password and otp/request queue their emails too", async () => {
    const harness = new QueueHarness();
    const email = uniqueEmail("reset");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    expect((await post(harness.env, "/api/v1/auth/forgot-password", { email })).status).toBe(202);
    const mail = await createApp({ devRoutes: true }).request(
      `http://localhost/dev/mailbox?to=${encodeURIComponent(email)}`,
      {},
      harness.env,
    );
    const items = ((await mail.json()) as { items: { template: string; text: string }[] }).items;
    const link = items.find((m) => m.template === "reset-password")?.text.match(/https?:\/\/\S+/)?.[0] ?? "";
    const token = new URL(link).searchParams.get("token");
    expect((await post(harness.env, "/api/v1/auth/reset-password", { token, password: `${PASSWORD}-2` })).status).toBe(
      200,
    );
    expect((await post(harness.env, "/api/v1/auth/otp/request", { email })).status).toBe(202);

    const rows = await outboxFor(email);
    expect(rows.map((r) => r.template).sort()).toEqual([
      "otp-code",
      "password-changed",
      "reset-password",
      "verify-email",
    ]);
    expect(rows.every((r) => r.status === "queued")).toBe(true);
    expect(harness.produced.map((p) => outboxIdOf(p.body)).sort()).toEqual(rows.map((r) => r.id).sort());
  });

  it("a queue outage does not fail the request: the email stays pending for the cron sweep", async () => {
    const logs = captureLogs();
    const down = {
      send: () => Promise.reject(new Error("queue unavailable")),
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    };
    const email = uniqueEmail("outage");
    const res = await post({ ...env, EMAIL_QUEUE: down } as unknown as Env, "/api/v1/auth/register", {
      email,
      password: PASSWORD,
      name: "Ada",
    });
    expect(res.status).toBe(201);
    expect((await outboxFor(email)).map((r) => r.status)).toEqual(["pending"]);
    expect(logs.entries("email enqueue failed; the sweep will retry", "warn")).toHaveLength(1);
  });

  it("enqueueing is idempotent: a second call for the same rows sends nothing", async () => {
    const harness = new QueueHarness();
    const email = uniqueEmail("twice");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    const ids = (await outboxFor(email)).map((r) => r.id);
    expect(await enqueueEmails(env.DB, harness.env.EMAIL_QUEUE, ids)).toBe(0);
    expect(harness.produced).toHaveLength(1);
  });
});

describe("development: the log transport and the dev mailbox", () => {
  it("the mailbox shows the email as soon as the request returns; the consumer then marks it sent", async () => {
    const harness = new QueueHarness({ ENVIRONMENT: "development" });
    const email = uniqueEmail("dev");
    await post(harness.env, "/api/v1/auth/register", { email, password: PASSWORD, name: "Ada" });
    const mail = await createApp({ devRoutes: true }).request(
      `http://localhost/dev/mailbox?to=${encodeURIComponent(email)}`,
      {},
      harness.env,
    );
    expect(((await mail.json()) as { items: { template: string }[] }).items.map((m) => m.template)).toEqual([
      "verify-email",
    ]);
    const [row] = await outboxFor(email);
    expect(row?.status).toBe("queued");
    await harness.drain();
    expect(await outboxRow(row?.id as string)).toMatchObject({
      status: "sent",
      attempts: 1,
      provider_message_id: null,
    });
  });
});

describe("EventInventory's projection marks its emails queued in the same batch", () => {
  const orderEmail = () => ({
    seq: 1,
    kind: "email" as const,
    payload: JSON.stringify({
      id: `order-confirmed:${crypto.randomUUID()}`,
      to: uniqueEmail("buyer"),
      template: "order-confirmed",
      data: { name: "Ada", eventTitle: "Gate night", startsAt: Date.UTC(2027, 4, 1, 19), serials: [1] },
    }),
  });
  const idOf = (row: { payload: string }) => (JSON.parse(row.payload) as { id: string }).id;

  it("the batch returns the new email's id and leaves it queued; a replayed batch returns none and changes nothing", async () => {
    const row = orderEmail();
    const queuedAt = Date.now();
    const first = await env.DB.batch(
      projectionStatements(env.DB, [row], { pii: getConfig(env).pii, mirrorDevMailbox: false, queuedAt }),
    );
    expect(insertedOutboxIds(first)).toEqual([idOf(row)]);
    const stored = await outboxRow(idOf(row));
    expect(stored).toMatchObject({ status: "queued", next_attempt_at: queuedAt });

    const replay = await env.DB.batch(
      projectionStatements(env.DB, [row], {
        pii: getConfig(env).pii,
        mirrorDevMailbox: false,
        queuedAt: queuedAt + 5_000,
      }),
    );
    expect(insertedOutboxIds(replay)).toEqual([]);
    expect(await outboxRow(idOf(row))).toEqual(stored);
  });

  it("handOverQueued sends one message per id; a queue that refuses puts the rows back to pending for the sweep", async () => {
    const harness = new QueueHarness();
    const sent = orderEmail();
    const queuedAt = Date.now();
    const results = await env.DB.batch(
      projectionStatements(env.DB, [sent], { pii: getConfig(env).pii, mirrorDevMailbox: false, queuedAt }),
    );
    expect(await handOverQueued(env.DB, harness.env.EMAIL_QUEUE, insertedOutboxIds(results), queuedAt)).toBe(1);
    expect(harness.produced.map((p) => p.body)).toEqual([{ outboxId: idOf(sent) }]);
    const refused = orderEmail();
    const again = await env.DB.batch(
      projectionStatements(env.DB, [refused], { pii: getConfig(env).pii, mirrorDevMailbox: false, queuedAt }),
    );
    const refusing = {
      sendBatch: () => Promise.reject(new Error("queue unavailable")),
    } as unknown as Queue<{ outboxId: string }>;
    expect(await handOverQueued(env.DB, refusing, insertedOutboxIds(again), queuedAt)).toBe(0);
    expect(await outboxRow(idOf(refused))).toMatchObject({ status: "pending" });
    expect(await outboxRow(idOf(sent))).toMatchObject({ status: "queued" });
  });
});
