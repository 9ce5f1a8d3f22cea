/**
 * Payments dead-letter queue consumer (queue `gatehouse-webhooks-dlq`). Queues moves a message here
 * when the payments consumer kept failing it past max_retries without recording a verdict (a bug, D1
 * down): the item is marked dead_letter with its last recorded error, listed for admins to replay
 * (`/api/v1/admin/dead-letters`, source `stripe-webhook`) and logged. Finished items are left alone.
 */
import { deadLetter, readInbox } from "../src/features/payments/inbox";
import { parsePaymentsMessage } from "../src/features/payments/queue";
import { readRefund } from "../src/features/payments/refunds";
import { log } from "../src/lib/log";
import { dropProbes } from "../src/lib/queue-probe";

export const WEBHOOK_DLQ_NAME = "gatehouse-webhooks-dlq";

const reasonOf = (lastError: string | null) =>
  `queue retries exhausted; last error: ${lastError ?? "none recorded (the consumer failed before recording)"}`;

async function bury(db: D1Database, body: { eventId: string } | { refundId: string }): Promise<void> {
  const now = Date.now();
  if ("eventId" in body) {
    const row = await readInbox(db, body.eventId);
    if (row?.status !== "received") return;
    await deadLetter(
      db,
      "stripe_events",
      row,
      reasonOf(row.last_error),
      { kind: "event", type: row.type, objectId: row.object_id },
      now,
    );
    return;
  }
  const job = await readRefund(db, body.refundId);
  if (job?.status !== "pending") return;
  await deadLetter(
    db,
    "refunds",
    job,
    reasonOf(job.last_error),
    { kind: "refund", orderId: job.order_id, reason: job.reason },
    now,
  );
}

export async function consumeWebhookDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // A /health probe is acknowledged by the payments consumer and never lands here; should one, it is dropped.
  for (const message of dropProbes(batch.messages)) {
    const body = parsePaymentsMessage(message.body);
    if (!body) {
      log("error", "payments dead-letter queue: malformed message dropped", { messageId: message.id });
      message.ack();
      continue;
    }
    try {
      await bury(env.DB, body);
      message.ack();
    } catch (error) {
      log("error", "payments dead-letter queue: could not record; retrying", { body, error });
      message.retry({ delaySeconds: 60 });
    }
  }
}
