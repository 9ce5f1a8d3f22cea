/**
 * The outgoing webhooks' test kit: a host with endpoints created through the API, a fake receiver at
 * the HTTP boundary that verifies every request with the reference `standardwebhooks` library as it
 * arrives (its tolerance is judged against the clock of that moment), webhook events written straight
 * into the outbox, and the queue simulator driving the consumer with wrangler.toml's settings.
 */
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { EMAIL_QUEUE_NAME } from "../../../queues/email";
import { OUTGOING_WEBHOOK_QUEUE_NAME } from "../../../queues/outgoing-webhooks";
import { getConfig } from "../../../src/config";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../../../src/db/schema-integrations";
import { WEBHOOK_SECRET_CONTEXT, webhookEventStatement } from "../../../src/features/webhooks";
import { call } from "../../helpers";
import { route } from "../../support/fetch-router";
import { QueueSimulator } from "../../support/queue";
import { bearer } from "../auth/helpers";

export function api(method: string, path: string, token: string, payload?: unknown): Promise<Response> {
  return call(path, {
    method,
    headers: { ...bearer(token), ...(payload === undefined ? {} : { "Content-Type": "application/json" }) },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
}

export interface CreatedEndpoint {
  id: string;
  url: string;
  events: string[];
  secret: string;
  enabled: boolean;
}

export async function createEndpoint(
  token: string,
  url: string,
  events: WebhookEventType[] = ["order.created"],
): Promise<CreatedEndpoint> {
  const res = await api("POST", "/api/v1/me/webhook-endpoints", token, { url, events });
  if (res.status !== 201) throw new Error(`create endpoint: ${res.status} ${await res.text()}`);
  return (await res.json()) as CreatedEndpoint;
}

/**
 * An enabled endpoint of `hostId` subscribed to `events` (all by default), written straight into D1: a
 * producer writes a webhook event only for a host somebody is subscribed with. Its URL is a
 * documentation address (TEST-NET-1) that delivery refuses to call, for tests that read the rows:
 * nothing goes out.
 */
const sealedSecret = (id: string) => getConfig(env).pii.seal(`whsec_${btoa(id)}`, WEBHOOK_SECRET_CONTEXT);

export async function subscribe(hostId: string, events: readonly WebhookEventType[] = WEBHOOK_EVENT_TYPES) {
  const id = `we_${crypto.randomUUID()}`;
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO webhook_endpoints (id, host_id, url, event_types, secret, enabled, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, 1, ?, ?)`,
  )
    // Sealed, as every endpoint's secret is stored: the PII job has nothing of it to seal later.
    .bind(id, hostId, "https://192.0.2.1/in", JSON.stringify(events), sealedSecret(id), now, now)
    .run();
  return id;
}

/** One request the receiver got, with what the reference library made of it. */
export interface Received {
  id: string | null;
  timestamp: string | null;
  signature: string | null;
  body: string;
  redirect: string;
  /** Which of the receiver's secrets verified it (by index), judged when it arrived. */
  verifiedBy: number[];
  at: number;
}

export type Answer = Response | "hang";

/**
 * A receiver at `origin` that records and verifies each request against `secrets()` (read at request
 * time, so a test can add one after a rotation), then answers with `answer(n)` for the n-th request
 * (1-based). "hang" never answers unless the request is aborted.
 */
export function receiver(origin: string, secrets: () => string[], answer: (n: number) => Answer = () => ok()) {
  const received: Received[] = [];
  let waiting: (() => void)[] = [];
  route(origin, async (request) => {
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    const verifiedBy = secrets().flatMap((secret, i) => {
      try {
        new Webhook(secret).verify(body, headers);
        return [i];
      } catch {
        return [];
      }
    });
    received.push({
      id: request.headers.get("webhook-id"),
      timestamp: request.headers.get("webhook-timestamp"),
      signature: request.headers.get("webhook-signature"),
      body,
      redirect: request.redirect,
      verifiedBy,
      at: Date.now(),
    });
    for (const wake of waiting) wake();
    waiting = [];
    const reply = answer(received.length);
    if (reply !== "hang") return reply;
    return new Promise<Response>((_, reject) => {
      request.signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  });
  return {
    received,
    /** Resolves at the next request's arrival. */
    next(): Promise<void> {
      return new Promise<void>((resolve) => waiting.push(resolve));
    },
  };
}

export const ok = (text = "ok") => new Response(text, { status: 200 });
export const fail = (status = 500, text = "boom") => new Response(text, { status });

/**
 * A webhook event written into the outbox as a producer would (no wake-up: the test enqueues it); null
 * when the writer wrote none (the host has no enabled endpoint subscribed to `type`).
 */
export async function tryWriteEvent(
  hostId: string,
  type: WebhookEventType,
  data: Record<string, unknown> = {},
  factId: string = crypto.randomUUID(),
): Promise<string | null> {
  const at = Date.now();
  const [result] = await env.DB.batch([webhookEventStatement(env.DB, { type, hostId, factId, data, at })]);
  return (result?.results?.[0] as { webhook_event_id?: string } | undefined)?.webhook_event_id ?? null;
}

/** tryWriteEvent for a host subscribed to `type`: the event's id. */
export async function writeEvent(
  hostId: string,
  type: WebhookEventType,
  data: Record<string, unknown> = {},
  factId: string = crypto.randomUUID(),
): Promise<string> {
  const id = await tryWriteEvent(hostId, type, data, factId);
  if (!id) throw new Error("webhook event not written");
  return id;
}

/** The consumer as wrangler.toml configures it, with its own queue bindings (email only recorded). */
export class WebhookHarness extends QueueSimulator {
  constructor(options: { batchSize?: number } = {}) {
    super({
      queues: { [OUTGOING_WEBHOOK_QUEUE_NAME]: { maxRetries: 10 } },
      batchSize: options.batchSize ?? 10,
      idPrefix: "owh",
    });
    this.env = {
      ...env,
      OUTGOING_WEBHOOK_QUEUE: this.binding(OUTGOING_WEBHOOK_QUEUE_NAME),
      EMAIL_QUEUE: this.binding(EMAIL_QUEUE_NAME, { deliver: false }),
    } as unknown as Env;
  }

  /** Wakes the consumer for a webhook event, as the producer's wake-up does. */
  wake(webhookEventId: string): void {
    this.enqueue(OUTGOING_WEBHOOK_QUEUE_NAME, { webhookEventId });
  }

  get emailMessages(): unknown[] {
    return this.sent.filter((s) => s.queue === EMAIL_QUEUE_NAME).map((s) => s.body);
  }
}
