/**
 * One attempt of one delivery (a webhook event to one endpoint), Standard Webhooks v1: the same
 * `webhook-id` (the event's id) and body on every attempt, a fresh `webhook-timestamp` and signature.
 *
 * 1. Claim: a conditional UPDATE counts the attempt and, for a scheduled one, moves `next_attempt_at`
 *    to the end of a lease, so two messages for one delivery never send at once; a consumer that died
 *    mid-attempt leaves the lease to run out and the cron sweep to hand the delivery over again.
 * 2. The URL is judged again by src/lib/safe-url (the host may have stored it under other rules, or
 *    development's loopback allowance may be gone); then POST with `redirect: "manual"` (a 3xx is a
 *    failure, never followed: the next hop would escape that check) and a 10 s deadline that covers
 *    the answer's body too. Only 2xx counts.
 * 3. Record, in one batch: the attempt in the log (status, latency, the first KB of the answer), the
 *    delivery (succeeded, the next attempt on LIMITS.outgoingWebhookRetryDelaysSeconds, or failed
 *    once the schedule is spent), the endpoint's failing run (set by the first failure, cleared by
 *    any success) and, once that run is LIMITS.webhookDisableAfterMs old, the endpoint disabled with
 *    its host's email, once (a deterministic email id).
 *
 * Manual attempts (replay, test ping) skip the schedule: they claim whatever the delivery's state, a
 * success settles it, a failure leaves its schedule (or its `failed`) as it was.
 */
import type { Config } from "../../config";
import { LIMITS } from "../../config/limits";
import { backoffDelay, type RetrySchedule } from "../../lib/backoff";
import { randomId } from "../../lib/crypto";
import { log } from "../../lib/log";
import type { PiiCipher } from "../../lib/pii";
import { checkSafeUrl } from "../../lib/safe-url";
import { openEmail, openName } from "../auth";
import { type EmailQueue, enqueueCommitted, outboxStatements } from "../email";
import { signingSecrets, WEBHOOK_SECRET_CONTEXT, webhookHeaders } from "./signing";

export const OUTGOING_RETRY: RetrySchedule = {
  delays: LIMITS.outgoingWebhookRetryDelaysSeconds,
  jitterRatio: LIMITS.outgoingWebhookRetryJitterRatio,
  afterLast: "give-up",
};

/** Attempts per delivery on the schedule: the first, then one after each wait. */
export const MAX_SCHEDULED_ATTEMPTS = LIMITS.outgoingWebhookRetryDelaysSeconds.length + 1;

/** The error recorded for deliveries that reach an endpoint after it was disabled. */
export const ENDPOINT_DISABLED_ERROR = "endpoint disabled: not attempted";

export interface DeliveryDeps {
  db: D1Database;
  config: Config;
  emailQueue: EmailQueue;
  /** Attempt deadline; LIMITS.outgoingWebhookTimeoutMs unless a caller needs another. */
  timeoutMs?: number;
}

/** What one attempt (or the decision not to make one) came to. */
export type AttemptOutcome =
  | { kind: "gone" }
  /** Nothing to do: settled already, not due (another message or a lease has it), or failed as disabled. */
  | { kind: "skipped"; reason: "settled" | "not-due" | "endpoint-disabled" }
  | {
      kind: "attempted";
      attempt: number;
      ok: boolean;
      statusCode: number | null;
      /** A scheduled failure with attempts left: the next one is due in this many seconds. */
      retryInSeconds: number | null;
      /** The endpoint was disabled by this attempt (its host is being emailed). */
      disabledEndpoint: boolean;
    };

interface DeliveryContext {
  id: string;
  event_id: string;
  endpoint_id: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  type: string;
  data: string;
  event_created_at: number;
  url: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_expires_at: number | null;
  enabled: number;
  failing_since: number | null;
  host_email: string;
  host_name: string;
}

async function readContext(db: D1Database, deliveryId: string): Promise<DeliveryContext | null> {
  return db
    .prepare(
      `SELECT d.id, d.event_id, d.endpoint_id, d.status, d.attempts, d.next_attempt_at,
         e.type, e.data, e.created_at AS event_created_at,
         ep.url, ep.secret, ep.previous_secret, ep.previous_secret_expires_at, ep.enabled, ep.failing_since,
         u.email AS host_email, u.name AS host_name
       FROM webhook_deliveries d
       JOIN webhook_events e ON e.id = d.event_id
       JOIN webhook_endpoints ep ON ep.id = d.endpoint_id
       JOIN users u ON u.id = ep.host_id
       WHERE d.id = ?`,
    )
    .bind(deliveryId)
    .first<DeliveryContext>();
}

/** The body every attempt of the event sends, byte for byte: `{ type, timestamp, data }`. */
export function webhookBody(event: { type: string; data: string; createdAt: number }): string {
  return JSON.stringify({
    type: event.type,
    timestamp: new Date(event.createdAt).toISOString(),
    data: JSON.parse(event.data) as unknown,
  });
}

/** Claims the delivery for one attempt; its attempt number, or null when it is not ours to make. */
async function claim(db: D1Database, deliveryId: string, manual: boolean, now: number): Promise<number | null> {
  const row = manual
    ? await db
        .prepare(
          "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = ? WHERE id = ? RETURNING attempts",
        )
        .bind(now, deliveryId)
        .first<{ attempts: number }>()
    : await db
        .prepare(
          // A second of slack: the queue's clock and ours may disagree by that much.
          `UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
           WHERE id = ? AND status = 'pending' AND next_attempt_at <= ? RETURNING attempts`,
        )
        .bind(now + LIMITS.outgoingWebhookLeaseMs, now, deliveryId, now + 1000)
        .first<{ attempts: number }>();
  return row?.attempts ?? null;
}

interface Answer {
  statusCode: number | null;
  snippet: string | null;
  error: string | null;
  latencyMs: number;
}

/** At most `maxChars` characters of the body, reading no more of it than that needs. */
async function readSnippet(response: Response, maxChars: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // UTF-8 needs at most 4 bytes a character.
  while (size < maxChars * 4) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes).slice(0, maxChars);
}

/**
 * POSTs the signed body; never throws: a network error or the deadline is an answer without a status.
 * The deadline covers the answer's body too, and wins even over a fetch that ignores its signal.
 */
async function send(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<Answer> {
  const started = Date.now();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error("deadline"));
    }, timeoutMs);
  });
  const exchange = (async () => {
    const response = await fetch(url, { method: "POST", headers, body, redirect: "manual", signal: controller.signal });
    return { status: response.status, snippet: await readSnippet(response, LIMITS.webhookResponseSnippetChars) };
  })();
  // Settled either way, so a late rejection after the deadline is not an unhandled one.
  exchange.catch(() => undefined);
  try {
    const { status, snippet } = await Promise.race([exchange, deadline]);
    const ok = status >= 200 && status < 300;
    const redirect = status >= 300 && status < 400;
    return {
      statusCode: status,
      snippet,
      error: ok ? null : redirect ? `redirect (${status}) not followed` : `HTTP ${status}`,
      latencyMs: Date.now() - started,
    };
  } catch (error) {
    return {
      statusCode: null,
      snippet: null,
      error: controller.signal.aborted
        ? `timeout after ${timeoutMs} ms`
        : `network error: ${String(error).slice(0, 200)}`,
      latencyMs: Date.now() - started,
    };
  } finally {
    clearTimeout(timer);
  }
}

function hostnameOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return "unknown host";
  }
}

/** Marks a pending delivery to a disabled endpoint failed, without an attempt. */
async function failDisabled(db: D1Database, deliveryId: string, now: number): Promise<void> {
  await db
    .prepare(
      `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, last_error = ?, updated_at = ?
       WHERE id = ? AND status = 'pending'`,
    )
    .bind(ENDPOINT_DISABLED_ERROR, now, deliveryId)
    .run();
}

/**
 * Makes one attempt of the delivery: scheduled (the consumer: only when due, on the schedule) or
 * manual (replay, test ping: now, whatever its state).
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  deliveryId: string,
  mode: "scheduled" | "manual",
): Promise<AttemptOutcome> {
  const { db } = deps;
  const context = await readContext(db, deliveryId);
  if (!context) return { kind: "gone" };
  const manual = mode === "manual";
  if (!manual) {
    if (context.status !== "pending") return { kind: "skipped", reason: "settled" };
    if (context.enabled !== 1) {
      await failDisabled(db, deliveryId, Date.now());
      return { kind: "skipped", reason: "endpoint-disabled" };
    }
  }
  const attempt = await claim(db, deliveryId, manual, Date.now());
  if (attempt === null) return { kind: "skipped", reason: manual ? "settled" : "not-due" };

  const now = Date.now();
  const checked = checkSafeUrl(context.url, { allowLoopback: deps.config.outgoingAllowLoopback });
  let answer: Answer;
  if (checked.ok) {
    const body = webhookBody({ type: context.type, data: context.data, createdAt: context.event_created_at });
    const headers = await webhookHeaders(
      signingSecrets(secretsOf(deps.config.pii, context), now),
      context.event_id,
      now,
      body,
    );
    answer = await send(checked.url.href, headers, body, deps.timeoutMs ?? LIMITS.outgoingWebhookTimeoutMs);
  } else {
    answer = { statusCode: null, snippet: null, error: `URL refused (${checked.reason}): not sent`, latencyMs: 0 };
  }
  const ok = answer.statusCode !== null && answer.statusCode >= 200 && answer.statusCode < 300;
  const done = Date.now();
  const retryIn = ok || manual ? null : backoffDelay(OUTGOING_RETRY, attempt);
  const disabled = await record(deps, context, attempt, answer, { ok, manual, retryIn, at: done });
  if (!ok) {
    log("warn", "webhook attempt failed", {
      deliveryId,
      endpointId: context.endpoint_id,
      attempt,
      statusCode: answer.statusCode,
      error: answer.error,
      retryInSeconds: retryIn,
    });
  }
  return {
    kind: "attempted",
    attempt,
    ok,
    statusCode: answer.statusCode,
    retryInSeconds: retryIn,
    disabledEndpoint: disabled,
  };
}

/** The endpoint's secrets, opened (stored sealed; a row from before sealing opens as it is). */
function secretsOf(pii: PiiCipher, context: DeliveryContext) {
  return {
    secret: pii.open(context.secret, WEBHOOK_SECRET_CONTEXT),
    previousSecret: context.previous_secret === null ? null : pii.open(context.previous_secret, WEBHOOK_SECRET_CONTEXT),
    previousSecretExpiresAt: context.previous_secret_expires_at,
  };
}

/** Step 3, one batch; whether this attempt disabled the endpoint. */
async function record(
  deps: DeliveryDeps,
  context: DeliveryContext,
  attempt: number,
  answer: Answer,
  outcome: { ok: boolean; manual: boolean; retryIn: number | null; at: number },
): Promise<boolean> {
  const { db } = deps;
  const { ok, manual, retryIn, at } = outcome;
  const statements: D1PreparedStatement[] = [
    db
      .prepare(
        `INSERT INTO webhook_attempts (id, delivery_id, attempt, status_code, latency_ms, response_snippet, error, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(randomId(), context.id, attempt, answer.statusCode, answer.latencyMs, answer.snippet, answer.error, at),
  ];
  const last = [answer.statusCode, answer.latencyMs, answer.error, at] as const;
  if (ok) {
    statements.push(
      db
        .prepare(
          `UPDATE webhook_deliveries SET status = 'succeeded', next_attempt_at = NULL, last_status_code = ?,
             last_latency_ms = ?, last_error = ?, updated_at = ? WHERE id = ?`,
        )
        .bind(...last, context.id),
      db.prepare("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?").bind(context.endpoint_id),
    );
  } else {
    // A manual failure leaves the delivery's own course alone; a scheduled one sets it, unless a newer
    // claim (the lease ran out meanwhile) owns the delivery now.
    statements.push(
      manual
        ? db
            .prepare(
              "UPDATE webhook_deliveries SET last_status_code = ?, last_latency_ms = ?, last_error = ?, updated_at = ? WHERE id = ?",
            )
            .bind(...last, context.id)
        : db
            .prepare(
              `UPDATE webhook_deliveries SET status = ?, next_attempt_at = ?, last_status_code = ?, last_latency_ms = ?,
                 last_error = ?, updated_at = ? WHERE id = ? AND attempts = ? AND status = 'pending'`,
            )
            .bind(
              retryIn === null ? "failed" : "pending",
              retryIn === null ? null : at + retryIn * 1000,
              ...last,
              context.id,
              attempt,
            ),
      db
        .prepare("UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?")
        .bind(at, context.endpoint_id),
    );
    statements.push(...disableStatements(deps, context, at));
  }
  const results = await db.batch(statements);
  if (ok || context.failing_since === null) return false;
  const disabled = (results[3]?.meta.changes ?? 0) === 1;
  if (disabled) {
    log("warn", "webhook endpoint disabled after failing", {
      endpointId: context.endpoint_id,
      failingSince: context.failing_since,
    });
    await enqueueCommitted(db, deps.emailQueue, results);
  }
  return disabled;
}

/**
 * Once the run of failures is old enough: the endpoint disabled and its host's email, written only by
 * the batch that disabled it (and once per run: the email's id names the run's start).
 */
function disableStatements(deps: DeliveryDeps, context: DeliveryContext, at: number): D1PreparedStatement[] {
  const since = context.failing_since;
  if (since === null || at - since < LIMITS.webhookDisableAfterMs) return [];
  const { db } = deps;
  return [
    db
      .prepare(
        `UPDATE webhook_endpoints SET enabled = 0, disabled_reason = 'failing', updated_at = ?
         WHERE id = ? AND enabled = 1 AND failing_since = ?`,
      )
      .bind(at, context.endpoint_id, since),
    ...outboxStatements(
      db,
      {
        id: `webhook-endpoint-disabled:${context.endpoint_id}:${since}`,
        to: openEmail(deps.config.pii, context.host_email),
        message: {
          template: "webhook-endpoint-disabled",
          name: openName(deps.config.pii, context.host_name),
          endpointId: context.endpoint_id,
          endpointHost: hostnameOf(context.url),
          failingSince: new Date(since).toISOString(),
        },
      },
      at,
      {
        pii: deps.config.pii,
        mirrorDevMailbox: !deps.config.isProduction,
        onlyIf: {
          sql: "EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = ? AND enabled = 0 AND disabled_reason = 'failing' AND failing_since = ?)",
          bindings: [context.endpoint_id, since],
        },
        returnId: true,
      },
    ),
  ];
}
