/**
 * One writer for email_outbox and dev_mailbox rows (src/features/email/outbox.ts): the Worker's
 * features and EventInventory's push store the same message the same way, and the push's
 * deterministic ids make a replay write nothing twice.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LOCAL_ORIGIN, projectionStatements } from "../../../durable-objects/event-inventory/projection";
import { getConfig } from "../../../src/config";
import { insertedOutboxIds } from "../../../src/features/email/enqueue";
import { emailStatements } from "../../../src/features/email/outbox";
import { outboxEmails } from "../../support/outbox";

const uniqueEmail = (tag: string) => `${tag}-${crypto.randomUUID()}@example.com`;

type StoredEmail = {
  id: string;
  template: string;
  subject: string;
  text: string;
  html: string;
  carries_secret: number;
  status: string;
  attempts: number;
};
type MirroredEmail = { id: string; template: string; subject: string; text: string; html: string };

async function storedFor(to: string) {
  const outbox = {
    results: (await outboxEmails({ to })).map(
      ({ id, template, subject, text, html, carries_secret, status, attempts }) =>
        ({ id, template, subject, text, html, carries_secret, status, attempts }) as StoredEmail,
    ),
  };
  const mailbox = await env.DB.prepare('SELECT id, template, subject, text, html FROM dev_mailbox WHERE "to" = ?')
    .bind(to)
    .all<MirroredEmail>();
  return { outbox: outbox.results, mailbox: mailbox.results };
}

const startsAt = Date.UTC(2031, 5, 1, 18);
const orderEmail = (to: string, id: string) => ({
  seq: 7,
  kind: "email" as const,
  payload: JSON.stringify({
    id,
    to,
    template: "order-confirmed",
    data: { name: "Ada", eventId: "evt", eventTitle: "Night <Market>", startsAt, orderId: "ord", serials: [3, 4] },
  }),
});

describe("the email outbox has one writer", () => {
  it("an order confirmation from EventInventory's push is stored as the Worker's writer stores the same message", async () => {
    const fromWorker = uniqueEmail("worker");
    const fromObject = uniqueEmail("object");
    const config = getConfig({ ...env, ENVIRONMENT: "development" });
    const message = {
      template: "order-confirmed" as const,
      name: "Ada",
      eventTitle: "Night <Market>",
      startsAt: new Date(startsAt).toISOString(),
      serials: [3, 4],
      // The object's links are absolute: PUBLIC_URL, here unset, so the local development origin.
      ticketsLink: `${LOCAL_ORIGIN}/me/tickets`,
    };
    const written = await env.DB.batch(emailStatements(env.DB, config, fromWorker, message, Date.now()));
    const id = `order-confirmed:${crypto.randomUUID()}`;
    const pushed = await env.DB.batch(
      projectionStatements(env.DB, [orderEmail(fromObject, id)], { pii: getConfig(env).pii, mirrorDevMailbox: true }),
    );

    const worker = await storedFor(fromWorker);
    const object = await storedFor(fromObject);
    expect(worker.outbox).toHaveLength(1);
    expect(object.outbox).toEqual([{ ...worker.outbox[0], id }]);
    expect(object.outbox[0]).toMatchObject({ status: "pending", attempts: 0, carries_secret: 0 });
    expect(object.outbox[0]?.html).toContain("Night &lt;Market&gt;");
    expect(worker.mailbox).toHaveLength(1);
    expect(object.mailbox).toEqual([{ ...worker.mailbox[0], id: `${id}:7` }]);
    // The Worker's insert returns its id for enqueueCommitted; the push's returns none (it marks
    // queued rows itself, when asked), so no id is handed to the queue twice.
    expect(insertedOutboxIds(written)).toEqual([worker.outbox[0]?.id]);
    expect(insertedOutboxIds(pushed)).toEqual([]);
  });

  it("a replayed push writes its outbox row and dev_mailbox copy once, and marks it queued once", async () => {
    const to = uniqueEmail("replay");
    const id = `order-confirmed:${crypto.randomUUID()}`;
    const row = orderEmail(to, id);
    const queuedAt = Date.now();
    const first = await env.DB.batch(
      projectionStatements(env.DB, [row], { pii: getConfig(env).pii, mirrorDevMailbox: true, queuedAt }),
    );
    const again = await env.DB.batch(
      projectionStatements(env.DB, [row], {
        pii: getConfig(env).pii,
        mirrorDevMailbox: true,
        queuedAt: queuedAt + 1_000,
      }),
    );

    expect(insertedOutboxIds(first)).toEqual([id]);
    expect(insertedOutboxIds(again)).toEqual([]);
    const stored = await storedFor(to);
    expect(stored.outbox).toEqual([expect.objectContaining({ id, status: "queued", template: "order-confirmed" })]);
    expect(stored.mailbox).toEqual([expect.objectContaining({ id: `${id}:7`, template: "order-confirmed" })]);
    const queued = await env.DB.prepare("SELECT queued_at FROM email_outbox WHERE id = ?")
      .bind(id)
      .first<{ queued_at: number }>();
    expect(queued?.queued_at).toBe(queuedAt);
  });
});
