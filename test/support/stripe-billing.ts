/**
 * Fake Stripe Billing at the HTTP boundary, next to test/support/stripe.ts on the same fetch router:
 * customers (create, with Stripe's idempotency rule), Checkout Sessions in subscription mode (create,
 * retrieve, expire, list by customer),
 * subscriptions (retrieve, list by customer), invoices and billing portal sessions, in the shapes of
 * the `stripe` package's types (API 2025+: the billing period lives on the subscription item, an
 * invoice names its subscription under `parent.subscription_details`). Anything it does not know is
 * handed to the payments fake (tickets, refunds, Connect), so both answer api.stripe.com in one test.
 */
import type Stripe from "stripe";
import { route } from "./fetch-router";
import { type FakeStripe, STRIPE_API, stripeEvent, useFakeStripe } from "./stripe";

export const PRO_PRICE_ID = "price_test_gatehouse_pro";

let sequence = 0;
const randomPart = () => crypto.randomUUID().replace(/-/g, "").slice(0, 8);
const nextId = (prefix: string) => {
  sequence += 1;
  // A random part too, as test/support/stripe.ts does.
  return `${prefix}_test_${Date.now().toString(36)}b${sequence.toString().padStart(6, "0")}${randomPart()}`;
};
const nowSeconds = () => Math.floor(Date.now() / 1000);
const MONTH = 30 * 24 * 60 * 60;

export interface BillingCall {
  method: string;
  path: string;
  params: Record<string, string>;
  idempotencyKey: string | null;
  replayed: boolean;
}

type Json = Record<string, unknown>;

const missing = (what: string, id: string) => ({
  status: 404,
  body: { error: { type: "invalid_request_error", code: "resource_missing", message: `No such ${what}: '${id}'` } },
});

export class FakeStripeBilling {
  readonly calls: BillingCall[] = [];
  readonly customers = new Map<string, Json>();
  readonly subscriptions = new Map<string, Stripe.Subscription>();
  readonly sessions = new Map<string, Json>();
  readonly invoices = new Map<string, Json>();
  readonly portalSessions: Json[] = [];
  readonly #byKey = new Map<string, { fingerprint: string; status: number; body: string }>();

  constructor(readonly payments: FakeStripe) {}

  /** Answers api.stripe.com: billing paths here, everything else by the payments fake. */
  install(): this {
    route(STRIPE_API, (request) => this.answer(request));
    return this;
  }

  /** Customers Stripe actually created (replays excluded). */
  createdCustomers(): BillingCall[] {
    return this.calls.filter((c) => c.method === "POST" && c.path === "/v1/customers" && !c.replayed);
  }

  async answer(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!/^\/v1\/(customers|subscriptions|invoices|billing_portal|checkout\/sessions)/.test(url.pathname)) {
      return this.payments.answer(request);
    }
    const raw =
      request.method === "GET" ? url.search.slice(1) : new TextDecoder().decode(await request.clone().arrayBuffer());
    const params = Object.fromEntries(new URLSearchParams(raw));
    // Payment-mode checkout sessions (tickets, tips) stay the payments fake's.
    if (url.pathname.startsWith("/v1/checkout/sessions")) {
      const id = /^\/v1\/checkout\/sessions\/([^/]+)/.exec(url.pathname)?.[1];
      // A list by customer is ours when the customer is (billing creates the customers).
      const ours = id
        ? this.sessions.has(id)
        : request.method === "POST"
          ? params.mode === "subscription"
          : this.customers.has(params.customer ?? "");
      if (!ours) return this.payments.answer(request);
    }
    const key = request.headers.get("Idempotency-Key");
    const call: BillingCall = {
      method: request.method,
      path: url.pathname,
      params,
      idempotencyKey: key,
      replayed: false,
    };
    this.calls.push(call);
    const fingerprint = `${request.method} ${url.pathname}?${[...new URLSearchParams(raw)].sort().join("&")}`;
    const seen = key && request.method === "POST" ? this.#byKey.get(key) : undefined;
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        return Response.json(
          {
            error: {
              type: "idempotency_error",
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
            },
          },
          { status: 400, headers: { "Stripe-Should-Retry": "false" } },
        );
      }
      call.replayed = true;
      return new Response(seen.body, {
        status: seen.status,
        headers: { "Content-Type": "application/json", "Idempotent-Replayed": "true" },
      });
    }
    const { status, body } = this.#route(request.method, url.pathname, params);
    if (key && request.method === "POST" && status < 500)
      this.#byKey.set(key, { fingerprint, status, body: JSON.stringify(body) });
    return Response.json(body, { status, headers: status >= 400 ? { "Stripe-Should-Retry": "false" } : {} });
  }

  #route(method: string, path: string, p: Record<string, string>): { status: number; body: unknown } {
    if (method === "POST" && path === "/v1/customers") {
      const customer = {
        id: nextId("cus"),
        object: "customer",
        created: nowSeconds(),
        email: p.email ?? null,
        livemode: false,
        metadata: metadataOf(p),
        delinquent: false,
      };
      this.customers.set(customer.id, customer);
      return { status: 200, body: customer };
    }
    if (method === "POST" && path === "/v1/checkout/sessions") {
      const customer = p.customer ?? "";
      if (!this.customers.has(customer)) return missing("customer", customer);
      const id = nextId("cs");
      const session = {
        id,
        object: "checkout.session",
        mode: "subscription",
        customer,
        client_reference_id: p.client_reference_id ?? null,
        metadata: metadataOf(p),
        created: nowSeconds(),
        expires_at: nowSeconds() + 24 * 60 * 60,
        livemode: false,
        payment_status: "unpaid",
        status: "open",
        subscription: null as string | null,
        success_url: p.success_url ?? "",
        cancel_url: p.cancel_url ?? "",
        url: `https://checkout.stripe.com/c/pay/${id}`,
        price: p["line_items[0][price]"] ?? "",
        subscription_metadata: metadataOf(p, "subscription_data[metadata]"),
      };
      this.sessions.set(id, session);
      return { status: 200, body: publicSession(session) };
    }
    if (method === "GET" && path === "/v1/checkout/sessions") {
      // Newest first, as Stripe lists them (the same second: the later created first).
      const data = [...this.sessions.values()]
        .filter((session) => session.customer === p.customer)
        .reverse()
        .slice(0, Number(p.limit ?? 10))
        .map(publicSession);
      return { status: 200, body: { object: "list", data, has_more: false, url: "/v1/checkout/sessions" } };
    }
    const sessionExpire = /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/.exec(path);
    if (method === "POST" && sessionExpire) {
      const session = this.sessions.get(sessionExpire[1] as string);
      if (!session) return missing("checkout.session", sessionExpire[1] as string);
      if (session.status !== "open") {
        return {
          status: 400,
          body: {
            error: {
              type: "invalid_request_error",
              message: `Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${session.status}".`,
            },
          },
        };
      }
      Object.assign(session, { status: "expired", url: null });
      return { status: 200, body: publicSession(session) };
    }
    const sessionGet = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(path);
    if (method === "GET" && sessionGet) {
      const session = this.sessions.get(sessionGet[1] as string);
      return session
        ? { status: 200, body: publicSession(session) }
        : missing("checkout.session", sessionGet[1] as string);
    }
    if (method === "POST" && path === "/v1/billing_portal/sessions") {
      const customer = p.customer ?? "";
      if (!this.customers.has(customer)) return missing("customer", customer);
      const id = nextId("bps");
      const session = {
        id,
        object: "billing_portal.session",
        configuration: "bpc_test_default",
        created: nowSeconds(),
        customer,
        livemode: false,
        locale: null,
        on_behalf_of: null,
        return_url: p.return_url ?? null,
        url: `https://billing.stripe.com/p/session/${id}`,
      };
      this.portalSessions.push(session);
      return { status: 200, body: session };
    }
    const subGet = /^\/v1\/subscriptions\/([^/]+)$/.exec(path);
    if (method === "GET" && subGet) {
      const sub = this.subscriptions.get(subGet[1] as string);
      return sub ? { status: 200, body: structuredClone(sub) } : missing("subscription", subGet[1] as string);
    }
    if (method === "GET" && path === "/v1/subscriptions") {
      const data = [...this.subscriptions.values()].filter(
        (s) => (!p.customer || s.customer === p.customer) && (p.status === "all" || s.status !== "canceled"),
      );
      return {
        status: 200,
        body: { object: "list", data: structuredClone(data), has_more: false, url: "/v1/subscriptions" },
      };
    }
    const invoiceGet = /^\/v1\/invoices\/([^/]+)$/.exec(path);
    if (method === "GET" && invoiceGet) {
      const invoice = this.invoices.get(invoiceGet[1] as string);
      return invoice ? { status: 200, body: invoice } : missing("invoice", invoiceGet[1] as string);
    }
    return {
      status: 404,
      body: { error: { type: "invalid_request_error", message: `Unrecognized request URL (${method}: ${path})` } },
    };
  }

  // ------------------------------------------------------------ what happens at Stripe

  /** The customer pays on Checkout: an active subscription; returns the session as Stripe now shows it. */
  completeCheckout(
    sessionId: string,
    status: Stripe.Subscription.Status = "active",
  ): { session: Json; subscription: Stripe.Subscription } {
    const session = this.sessions.get(sessionId);
    if (!session) throw new Error(`no session ${sessionId}`);
    const subscription = this.createSubscription(session.customer as string, {
      status,
      metadata: session.subscription_metadata as Record<string, string>,
      price: session.price as string,
    });
    Object.assign(session, { status: "complete", payment_status: "paid", subscription: subscription.id, url: null });
    return { session: publicSession(session), subscription };
  }

  createSubscription(
    customer: string,
    options: { status?: Stripe.Subscription.Status; metadata?: Record<string, string>; price?: string } = {},
  ): Stripe.Subscription {
    const id = nextId("sub");
    const start = nowSeconds();
    const sub = {
      id,
      object: "subscription",
      customer,
      status: options.status ?? "active",
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      created: start,
      start_date: start,
      ended_at: null,
      collection_method: "charge_automatically",
      currency: "usd",
      latest_invoice: null,
      livemode: false,
      metadata: options.metadata ?? {},
      pause_collection: null,
      trial_end: null,
      trial_start: null,
      items: {
        object: "list",
        has_more: false,
        url: `/v1/subscription_items?subscription=${id}`,
        data: [
          {
            id: nextId("si"),
            object: "subscription_item",
            created: start,
            current_period_start: start,
            current_period_end: start + MONTH,
            metadata: {},
            price: {
              id: options.price ?? PRO_PRICE_ID,
              object: "price",
              active: true,
              currency: "usd",
              livemode: false,
              product: "prod_test_gatehouse_pro",
              recurring: { interval: "month", interval_count: 1, usage_type: "licensed" },
              type: "recurring",
              unit_amount: 900,
            },
            quantity: 1,
            subscription: id,
          },
        ],
      },
    } as unknown as Stripe.Subscription;
    this.subscriptions.set(id, sub);
    return structuredClone(sub);
  }

  subscription(id: string): Stripe.Subscription {
    const sub = this.subscriptions.get(id);
    if (!sub) throw new Error(`no subscription ${id}`);
    return sub;
  }

  /** Stripe changes the subscription (a renewal, a failed card, the portal…); returns the new snapshot. */
  update(
    id: string,
    change: { status?: Stripe.Subscription.Status; cancelAtPeriodEnd?: boolean; periodEnd?: number },
  ): Stripe.Subscription {
    const sub = this.subscription(id) as unknown as Json & { items: { data: Json[] } };
    if (change.status) sub.status = change.status;
    if (change.cancelAtPeriodEnd !== undefined) sub.cancel_at_period_end = change.cancelAtPeriodEnd;
    const item = sub.items.data[0] as Json;
    if (change.periodEnd !== undefined) item.current_period_end = change.periodEnd;
    return structuredClone(sub) as unknown as Stripe.Subscription;
  }

  /** An invoice of the subscription as `invoice.paid` / `invoice.payment_failed` carry it. */
  invoice(subscriptionId: string, paid: boolean): Json {
    const sub = this.subscription(subscriptionId);
    const invoice = {
      id: nextId("in"),
      object: "invoice",
      customer: sub.customer,
      amount_due: 900,
      amount_paid: paid ? 900 : 0,
      currency: "usd",
      created: nowSeconds(),
      livemode: false,
      status: paid ? "paid" : "open",
      parent: {
        type: "subscription_details",
        quote_details: null,
        subscription_details: { metadata: sub.metadata, subscription: sub.id },
      },
    };
    this.invoices.set(invoice.id, invoice);
    return invoice;
  }
}

function metadataOf(p: Record<string, string>, prefix = "metadata"): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    if (k.startsWith(`${prefix}[`) && k.endsWith("]")) out[k.slice(prefix.length + 1, -1)] = v;
  }
  return out;
}

function publicSession(session: Json): Json {
  const { price: _price, subscription_metadata: _meta, ...shown } = session;
  return structuredClone(shown);
}

/** Fake Stripe (payments and billing) answering api.stripe.com for the rest of the current test. */
export function useFakeStripeBilling(): FakeStripeBilling {
  return new FakeStripeBilling(useFakeStripe()).install();
}

export { stripeEvent };
