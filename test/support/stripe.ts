/**
 * A fake Stripe at the HTTP boundary: `fetch` to api.stripe.com is answered with the shapes Stripe's
 * API reference documents for the calls Gatehouse makes (Checkout Sessions create / retrieve / expire,
 * Refunds create, Connect accounts and account links create, PaymentIntents retrieve; errors `{ error: { type, code, message } }`), with Stripe's idempotency rule: the
 * same Idempotency-Key with the same parameters replays the first answer (`Idempotent-Replayed: true`),
 * with different parameters it is a 400 `idempotency_error`. It answers as a route of the test's
 * fetch router (test/support/fetch-router), so other fakes can answer their own origins in the same
 * test. Also builds the events Stripe would send, signed like Stripe signs them.
 */
import Stripe from "stripe";
import { route } from "./fetch-router";

export const STRIPE_API = "https://api.stripe.com";

export const WEBHOOK_SECRET = "whsec_test_gatehouse0123456789abcdef";

export interface StripeCall {
  method: string;
  path: string;
  params: Record<string, string>;
  idempotencyKey: string | null;
  replayed: boolean;
  status: number;
  at: number;
}

export type StripeAnswer =
  /** The request never reaches Stripe. */
  | "network-error"
  /** Stripe does the work, but the answer never arrives. */
  | "accept-then-drop"
  | { status: number; type: string; code?: string; message?: string };

export interface FakeSession {
  id: string;
  object: "checkout.session";
  amount_total: number;
  currency: string;
  client_reference_id: string | null;
  customer_email: string | null;
  created: number;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: "payment";
  payment_intent: string | null;
  payment_status: "unpaid" | "paid";
  status: "open" | "complete" | "expired";
  success_url: string;
  cancel_url: string;
  url: string | null;
  /** What `payment_intent_data` asked of the PaymentIntent (a destination charge, or nothing). */
  payment_intent_data: { application_fee_amount: number | null; transfer_data: { destination: string } | null };
}

/** A Connect account as `accounts.create` / `account.updated` carry it (the fields Gatehouse reads). */
export interface FakeAccount {
  id: string;
  object: "account";
  type: "express";
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  capabilities: Record<string, string>;
  metadata: Record<string, string>;
  requirements: {
    currently_due: string[];
    past_due: string[];
    eventually_due: string[];
    disabled_reason: string | null;
  };
  created: number;
}

let sequence = 0;
const randomPart = () => crypto.randomUUID().replace(/-/g, "").slice(0, 8);
const nextId = (prefix: string) => {
  sequence += 1;
  // A random part too: files that share a database (vitest.config.ts) each count from 0, often under
  // the same frozen clock.
  return `${prefix}_test_${Date.now().toString(36)}${sequence.toString().padStart(6, "0")}${randomPart()}`;
};

function errorResponse(status: number, type: string, message: string, code?: string): Response {
  return Response.json(
    { error: { type, message, ...(code ? { code } : {}) } },
    // The SDK would otherwise retry some of these on its own; tests decide retries themselves.
    { status, headers: { "Stripe-Should-Retry": "false", "Request-Id": nextId("req") } },
  );
}

export class FakeStripe {
  readonly calls: StripeCall[] = [];
  readonly sessions = new Map<string, FakeSession>();
  /** Captured amount and refunded amount per payment intent. */
  readonly charges = new Map<
    string,
    { id: string; amount: number; refunded: number; currency: string; metadata: Record<string, string> }
  >();
  readonly refunds: {
    id: string;
    payment_intent: string;
    amount: number;
    reverse_transfer: boolean;
    refund_application_fee: boolean;
  }[] = [];
  /** Connect accounts by id, in creation order. */
  readonly accounts = new Map<string, FakeAccount>();
  /** PaymentIntents of paid sessions: the destination charge's fee and transfer, as Stripe keeps them. */
  readonly paymentIntents = new Map<
    string,
    { application_fee_amount: number | null; transfer_data: { destination: string } | null }
  >();
  readonly #byKey = new Map<string, { fingerprint: string; status: number; body: string }>();
  /** Decides each first-time call; undefined = answer normally. */
  script: (call: StripeCall) => StripeAnswer | undefined = () => undefined;

  /** Answers api.stripe.com for the rest of the current test. */
  install(): this {
    route(STRIPE_API, (request) => this.answer(request));
    return this;
  }

  callsTo(method: string, pathPrefix: string): StripeCall[] {
    return this.calls.filter((c) => c.method === method && c.path.startsWith(pathPrefix));
  }

  /** First-time (not replayed) calls that created something. */
  created(pathPrefix: string): StripeCall[] {
    return this.calls.filter((c) => c.method === "POST" && c.path === pathPrefix && !c.replayed && c.status === 200);
  }

  session(id: string): FakeSession {
    const session = this.sessions.get(id);
    if (!session) throw new Error(`no session ${id}`);
    return session;
  }

  sessionByUrl(url: string): FakeSession {
    for (const s of this.sessions.values()) if (s.url === url) return s;
    throw new Error(`no session for ${url}`);
  }

  /** The buyer pays: the session completes with a new PaymentIntent (as Stripe's page would do). */
  pay(sessionId: string): FakeSession {
    const session = this.session(sessionId);
    session.status = "complete";
    session.payment_status = "paid";
    session.payment_intent = nextId("pi");
    session.url = null;
    this.paymentIntents.set(session.payment_intent, session.payment_intent_data);
    this.charges.set(session.payment_intent, {
      id: nextId("ch"),
      amount: session.amount_total,
      refunded: 0,
      currency: session.currency,
      metadata: session.metadata,
    });
    return session;
  }

  /** Stripe expires the session on its own (expires_at passed). */
  expire(sessionId: string): FakeSession {
    const session = this.session(sessionId);
    session.status = "expired";
    session.url = null;
    return session;
  }

  /** A charge object as `charge.refunded` carries it, after `amount` more was refunded in the dashboard. */
  refundInDashboard(paymentIntent: string, amount: number) {
    const charge = this.charges.get(paymentIntent);
    if (!charge) throw new Error(`no charge for ${paymentIntent}`);
    charge.refunded = Math.min(charge.amount, charge.refunded + amount);
    return this.chargeObject(paymentIntent);
  }

  chargeObject(paymentIntent: string) {
    const charge = this.charges.get(paymentIntent);
    if (!charge) throw new Error(`no charge for ${paymentIntent}`);
    return {
      id: charge.id,
      object: "charge",
      amount: charge.amount,
      amount_refunded: charge.refunded,
      currency: charge.currency,
      metadata: charge.metadata,
      paid: true,
      payment_intent: paymentIntent,
      refunded: charge.refunded >= charge.amount,
      status: "succeeded",
    };
  }

  /** Stripe's answer to `request` (what the route gives; a test wrapping the route calls it). */
  async answer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const raw = request.method === "GET" ? url.search.slice(1) : new TextDecoder().decode(await request.arrayBuffer());
    const params = Object.fromEntries(new URLSearchParams(raw));
    const key = request.headers.get("Idempotency-Key");
    const call: StripeCall = {
      method: request.method,
      path: url.pathname,
      params,
      idempotencyKey: key,
      replayed: false,
      status: 0,
      at: Date.now(),
    };
    this.calls.push(call);
    const scripted = this.script(call);
    // Never reached Stripe: no idempotent result is stored or replayed.
    if (scripted === "network-error") throw new TypeError("Network connection lost.");
    // Stripe's idempotency: a key is bound to its first request's parameters for 24 h.
    const fingerprint = `${request.method} ${url.pathname}?${[...new URLSearchParams(raw)].sort().join("&")}`;
    const seen = key && request.method === "POST" ? this.#byKey.get(key) : undefined;
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        call.status = 400;
        return errorResponse(
          400,
          "idempotency_error",
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      }
      call.replayed = true;
      call.status = seen.status;
      return new Response(seen.body, {
        status: seen.status,
        headers: { "Content-Type": "application/json", "Idempotent-Replayed": "true", "Request-Id": nextId("req") },
      });
    }
    if (scripted !== undefined && scripted !== "accept-then-drop") {
      call.status = scripted.status;
      return errorResponse(scripted.status, scripted.type, scripted.message ?? scripted.type, scripted.code);
    }
    const { status, body } = this.#route(request.method, url.pathname, params);
    call.status = status;
    if (key && request.method === "POST" && status < 500 && status !== 409) {
      this.#byKey.set(key, { fingerprint, status, body: JSON.stringify(body) });
    }
    if (scripted === "accept-then-drop") throw new TypeError("Network connection lost.");
    return Response.json(body, {
      status,
      headers: status >= 400 ? { "Stripe-Should-Retry": "false" } : { "Request-Id": nextId("req") },
    });
  }

  #route(method: string, path: string, p: Record<string, string>): { status: number; body: unknown } {
    const invalid = (message: string, code?: string) => ({
      status: 400,
      body: { error: { type: "invalid_request_error", message, ...(code ? { code } : {}) } },
    });
    if (method === "POST" && path === "/v1/checkout/sessions") {
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = Number(p.expires_at);
      if (!(expiresAt >= now + 30 * 60 && expiresAt <= now + 24 * 60 * 60)) {
        return invalid(
          "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
          "parameter_invalid_integer",
        );
      }
      const quantity = Number(p["line_items[0][quantity]"]);
      const unit = Number(p["line_items[0][price_data][unit_amount]"]);
      const id = nextId("cs");
      const session: FakeSession = {
        id,
        object: "checkout.session",
        amount_total: quantity * unit,
        currency: p["line_items[0][price_data][currency]"] ?? "eur",
        client_reference_id: p.client_reference_id ?? null,
        customer_email: p.customer_email ?? null,
        created: now,
        expires_at: expiresAt,
        livemode: false,
        metadata: {
          orderId: p["metadata[orderId]"] ?? "",
          eventId: p["metadata[eventId]"] ?? "",
          // Every other key as sent (a tip's kind and tipId), as Stripe keeps them.
          ...Object.fromEntries(
            Object.entries(p)
              .filter(([k]) => k.startsWith("metadata["))
              .map(([k, v]) => [k.slice(9, -1), v]),
          ),
        },
        mode: "payment",
        payment_intent: null,
        payment_status: "unpaid",
        status: "open",
        success_url: p.success_url ?? "",
        cancel_url: p.cancel_url ?? "",
        url: `https://checkout.stripe.com/c/pay/${id}`,
        payment_intent_data: {
          application_fee_amount: p["payment_intent_data[application_fee_amount]"]
            ? Number(p["payment_intent_data[application_fee_amount]"])
            : null,
          transfer_data: p["payment_intent_data[transfer_data][destination]"]
            ? { destination: p["payment_intent_data[transfer_data][destination]"] }
            : null,
        },
      };
      this.sessions.set(id, session);
      return { status: 200, body: { ...session } };
    }
    const expire = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (method === "POST" && expire) {
      const session = this.sessions.get(expire[1] as string);
      if (!session)
        return {
          status: 404,
          body: {
            error: { type: "invalid_request_error", code: "resource_missing", message: "No such checkout.session" },
          },
        };
      if (session.status !== "open") {
        return invalid(
          `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
        );
      }
      this.expire(session.id);
      return { status: 200, body: { ...session } };
    }
    const retrieve = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (method === "GET" && retrieve) {
      const session = this.sessions.get(retrieve[1] as string);
      if (!session)
        return {
          status: 404,
          body: {
            error: { type: "invalid_request_error", code: "resource_missing", message: "No such checkout.session" },
          },
        };
      return { status: 200, body: { ...session } };
    }
    if (method === "POST" && path === "/v1/refunds") {
      const pi = p.payment_intent ?? "";
      const charge = this.charges.get(pi);
      if (!charge) return invalid(`No such payment_intent: '${pi}'`, "resource_missing");
      if (charge.refunded >= charge.amount) {
        return invalid(`Charge ${charge.id} has already been refunded.`, "charge_already_refunded");
      }
      const amount = p.amount ? Number(p.amount) : charge.amount - charge.refunded;
      charge.refunded += amount;
      const refund = {
        id: nextId("re"),
        object: "refund",
        amount,
        charge: charge.id,
        currency: charge.currency,
        created: Math.floor(Date.now() / 1000),
        metadata: Object.fromEntries(
          Object.entries(p)
            .filter(([k]) => k.startsWith("metadata["))
            .map(([k, v]) => [k.slice(9, -1), v]),
        ),
        payment_intent: pi,
        reason: p.reason ?? null,
        status: "succeeded",
      };
      this.refunds.push({
        id: refund.id,
        payment_intent: pi,
        amount,
        reverse_transfer: p.reverse_transfer === "true",
        refund_application_fee: p.refund_application_fee === "true",
      });
      return { status: 200, body: refund };
    }
    if (method === "POST" && path === "/v1/accounts") {
      const id = nextId("acct");
      const account: FakeAccount = {
        id,
        object: "account",
        type: "express",
        charges_enabled: false,
        payouts_enabled: false,
        details_submitted: false,
        capabilities: Object.fromEntries(
          Object.keys(p)
            .filter((k) => k.startsWith("capabilities[") && k.endsWith("[requested]"))
            .map((k) => [k.slice(13, k.indexOf("]")), "inactive"]),
        ),
        metadata: Object.fromEntries(
          Object.entries(p)
            .filter(([k]) => k.startsWith("metadata["))
            .map(([k, v]) => [k.slice(9, -1), v]),
        ),
        requirements: {
          currently_due: ["business_type", "external_account", "tos_acceptance.date"],
          past_due: [],
          eventually_due: [],
          disabled_reason: "requirements.past_due",
        },
        created: Math.floor(Date.now() / 1000),
      };
      this.accounts.set(id, account);
      return { status: 200, body: structuredClone(account) };
    }
    if (method === "POST" && path === "/v1/account_links") {
      const account = this.accounts.get(p.account ?? "");
      if (!account) return invalid(`No such account: '${p.account}'`, "resource_missing");
      if (p.type !== "account_onboarding" && p.type !== "account_update") return invalid("Invalid type");
      const now = Math.floor(Date.now() / 1000);
      return {
        status: 200,
        body: {
          object: "account_link",
          created: now,
          expires_at: now + 300,
          url: `https://connect.stripe.com/setup/e/${account.id}/${nextId("link")}`,
        },
      };
    }
    const intent = /^\/v1\/payment_intents\/([^/]+)$/.exec(path);
    if (method === "GET" && intent) {
      const charge = this.charges.get(intent[1] as string);
      if (!charge) return invalid(`No such payment_intent: '${intent[1]}'`, "resource_missing");
      const terms = this.paymentIntents.get(intent[1] as string);
      return {
        status: 200,
        body: {
          id: intent[1],
          object: "payment_intent",
          amount: charge.amount,
          amount_received: charge.amount,
          currency: charge.currency,
          latest_charge: charge.id,
          metadata: charge.metadata,
          status: "succeeded",
          application_fee_amount: terms?.application_fee_amount ?? null,
          transfer_data: terms?.transfer_data ?? null,
        },
      };
    }
    return {
      status: 404,
      body: { error: { type: "invalid_request_error", message: `Unrecognized request URL (${method}: ${path})` } },
    };
  }

  /** The account as Stripe now sees it after onboarding (or a later change): for `account.updated` events. */
  updateAccount(id: string, changes: Partial<Omit<FakeAccount, "id" | "object">>): FakeAccount {
    const account = this.accounts.get(id);
    if (!account) throw new Error(`no account ${id}`);
    Object.assign(account, changes);
    return structuredClone(account);
  }
}

/** A fake Stripe answering api.stripe.com for the rest of the current test (call it in the test or its beforeEach). */
export function useFakeStripe(): FakeStripe {
  return new FakeStripe().install();
}

// ---------------------------------------------------------------- events, as Stripe sends them

export interface StripeEventJson {
  id: string;
  object: "event";
  api_version: string;
  created: number;
  data: { object: unknown };
  livemode: false;
  pending_webhooks: number;
  request: { id: null; idempotency_key: null };
  type: string;
  /** Connect events: the connected account the event happened on (spread it in: `{ ...event, account }`). */
  account?: string;
}

export function stripeEvent(
  type: string,
  object: unknown,
  created = Math.floor(Date.now() / 1000),
  id = nextId("evt"),
): StripeEventJson {
  return {
    id,
    object: "event",
    api_version: Stripe.API_VERSION,
    created,
    data: { object: structuredClone(object) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

const cryptoProvider = Stripe.createSubtleCryptoProvider();

/** The Stripe-Signature header Stripe would send for `payload` (the SDK's own test helper). */
export function signature(payload: string, options: { timestamp?: number; secret?: string } = {}): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: options.secret ?? WEBHOOK_SECRET,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    cryptoProvider,
  });
}
