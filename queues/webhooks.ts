/**
 * Payments queue consumer (queue `gatehouse-webhooks`, messages `{ eventId }` | `{ refundId }`, see
 * src/features/payments/queue.ts). Stripe events of a batch are applied oldest first (Stripe's
 * `created`), one at a time, so two events about the same object in one batch apply in order; refund
 * jobs follow. Each message is settled on its own: ack, or retry with the delay the payments schedule
 * chose (1 min, 5 min, 30 min, 2 h, 24 h — hops of at most 12 h), so a crash re-delivers only
 * unfinished work, and every item is idempotent.
 */
import { LIMITS } from "../src/config/limits";
import { paymentsDepsFromEnv } from "../src/features/payments/deps";
import { readInboxRows } from "../src/features/payments/inbox";
import { processEvent, processRefund, type Settle } from "../src/features/payments/process";
import { parsePaymentsMessage } from "../src/features/payments/queue";
import { log } from "../src/lib/log";
import { dropProbes } from "../src/lib/queue-probe";

export const WEBHOOK_QUEUE_NAME = "gatehouse-webhooks";

function settle(message: Message<unknown>, verdict: Settle): void {
  if (verdict.action === "ack") message.ack();
  else message.retry({ delaySeconds: verdict.delaySeconds });
}

export async function consumeWebhookBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  // /health's probes first: acknowledged and ignored, even while payments are not configured.
  const messages = dropProbes(batch.messages);
  if (messages.length === 0) return;
  const deps = paymentsDepsFromEnv(env);
  if (!deps) {
    // Only possible outside production: keep the work until Stripe keys are configured.
    log("error", "payments queue: payments are not configured; retrying later", { messages: messages.length });
    for (const message of messages) message.retry({ delaySeconds: LIMITS.unknownQueueRetrySeconds });
    return;
  }
  const events = new Map<string, Message<unknown>[]>();
  const refunds: [string, Message<unknown>][] = [];
  for (const message of messages) {
    const body = parsePaymentsMessage(message.body);
    if (!body) {
      log("error", "payments queue: malformed message dropped", { messageId: message.id });
      message.ack();
    } else if ("eventId" in body) {
      events.set(body.eventId, [...(events.get(body.eventId) ?? []), message]);
    } else {
      refunds.push([body.refundId, message]);
    }
  }

  let rows: Awaited<ReturnType<typeof readInboxRows>>;
  try {
    rows = await readInboxRows(deps.db, [...events.keys()]);
  } catch (error) {
    log("error", "payments queue: inbox unreadable; retrying", { error });
    for (const messages of events.values())
      for (const m of messages) m.retry({ delaySeconds: LIMITS.webhookUnrecordedRetrySeconds });
    rows = [];
    events.clear();
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  const ordered = [...events.keys()].sort((a, b) => {
    const x = byId.get(a);
    const y = byId.get(b);
    return (x?.created ?? 0) - (y?.created ?? 0) || a.localeCompare(b);
  });
  for (const id of ordered) {
    const messages = events.get(id) ?? [];
    let verdict: Settle;
    try {
      verdict = await processEvent(deps, byId.get(id) ?? null);
    } catch (error) {
      log("error", "payments queue: event not recorded; retrying", { eventId: id, error });
      verdict = { action: "retry", delaySeconds: LIMITS.webhookUnrecordedRetrySeconds };
    }
    // Duplicate messages for one event in a batch share the verdict of the one processing.
    for (const m of messages) settle(m, verdict);
  }
  for (const [id, message] of refunds) {
    try {
      settle(message, await processRefund(deps, id));
    } catch (error) {
      log("error", "payments queue: refund not recorded; retrying", { refundId: id, error });
      message.retry({ delaySeconds: LIMITS.webhookUnrecordedRetrySeconds });
    }
  }
}
