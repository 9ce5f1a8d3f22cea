/**
 * `/e/:id`: an event with its live availability (read as GET /api/v1/events/:id reads it: drafts are
 * not found except by their host), why it cannot be bought when it cannot (cancelled, started, sales
 * not open yet or closed, sold out), and the order form: free tickets are claimed, paid ones go to
 * Stripe Checkout. The POST runs the orders service with the API's checks, rate policies and
 * idempotency (./order-gate.ts); its domain errors come back as this page with an alert.
 */
import { LIMITS } from "../../../config/limits";
import type { AppContext } from "../../../context";
import { eventsDeps } from "../../../features/events/routes";
import { getEvent } from "../../../features/events/service";
import { benefitsOf, isPro } from "../../../features/money";
import { createOrder } from "../../../features/orders/service";
import { orderIdFor } from "../../../features/payments/checkout";
import { paymentsDepsFromEnv, returnBaseFor } from "../../../features/payments/deps";
import { refundPolicyOf } from "../../../features/payments/policy";
import { problemStatus } from "../../../http/problem";
import { randomToken } from "../../../lib/crypto";
import { DomainError } from "../../../lib/errors";
import { Alert, CsrfField } from "../../components";
import { readForm } from "../../forms";
import { type PageUser, pageState, pageUser, type RenderOptions, render, seeOther } from "../../page";
import { eventTime, fewLeft, isoTime, price } from "./format";
import { FORM_KEY, oncePerForm, takeOrderRates } from "./order-gate";
import { pageEntry, WaitlistBox, waitlistAction } from "./waitlist";

type EventView = Awaited<ReturnType<typeof getEvent>>;

type SaleState =
  | { kind: "cancelled" }
  | { kind: "started" }
  | { kind: "ended" }
  | { kind: "sales-ended"; at: number }
  | { kind: "not-yet"; at: number }
  | { kind: "sold-out" }
  | { kind: "on-sale" };

/** The same order of checks as the orders service, so the page never offers what it would refuse. */
function saleState(event: EventView, now: number): SaleState {
  if (event.status === "cancelled") return { kind: "cancelled" };
  if (now >= Date.parse(event.endsAt)) return { kind: "ended" };
  if (now >= Date.parse(event.startsAt)) return { kind: "started" };
  const salesStart = event.salesStartAt ? Date.parse(event.salesStartAt) : null;
  const salesEnd = event.salesEndAt ? Date.parse(event.salesEndAt) : null;
  if (salesStart !== null && now < salesStart) return { kind: "not-yet", at: salesStart };
  if (salesEnd !== null && now >= salesEnd) return { kind: "sales-ended", at: salesEnd };
  if (event.availability.remaining <= 0) return { kind: "sold-out" };
  return { kind: "on-sale" };
}

function StateMessage(props: { state: SaleState; timezone: string }) {
  const { state } = props;
  switch (state.kind) {
    case "cancelled":
      return (
        <Alert kind="error">
          This event was cancelled. Ticket holders have been told; paid orders are refunded automatically.
        </Alert>
      );
    case "started":
      return <Alert kind="info">This event has started, so tickets are no longer sold.</Alert>;
    case "ended":
      return <Alert kind="info">This event has ended.</Alert>;
    case "sales-ended":
      return (
        <Alert kind="info">
          Ticket sales ended on <time datetime={isoTime(state.at)}>{eventTime(state.at, props.timezone)}</time>.
        </Alert>
      );
    case "not-yet":
      return (
        <Alert kind="info">
          Not on sale yet. Tickets go on sale on{" "}
          <time datetime={isoTime(state.at)}>{eventTime(state.at, props.timezone)}</time>.
        </Alert>
      );
    case "sold-out":
      return <Alert kind="error">Sold out. Every ticket has been taken.</Alert>;
    default:
      return null;
  }
}

/** The stored (sanitized) description as one line of text, for the meta description. */
function plainText(html: string): string {
  return html
    .replace(/<\/?(p|br|li|ul|ol)\b[^>]*>/gi, " ")
    .replace(/<[^>]+>/g, "")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&")
    .replace(/\s+/g, " ")
    .trim();
}

/** Tickets the person already holds for the event (sold to them, whatever happened at the gate). */
async function ownedTickets(db: D1Database, eventId: string, userId: string): Promise<number> {
  const row = await db
    .prepare(
      "SELECT COUNT(*) AS n FROM tickets WHERE event_id = ? AND user_id = ? AND status IN ('active', 'redeemed', 'refunding')",
    )
    .bind(eventId, userId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

function OrderForm(props: { event: EventView; user: PageUser | null; owned: number; csrf: string; quantity?: number }) {
  const { event, user } = props;
  const path = `/e/${encodeURIComponent(event.id)}`;
  if (!user) {
    return (
      <p class="actions">
        <a class="button" href={`/login?next=${encodeURIComponent(path)}`}>
          Sign in to get tickets
        </a>
      </p>
    );
  }
  const max = Math.min(event.perUserLimit - props.owned, event.availability.remaining, LIMITS.perUserTicketsMax);
  if (max <= 0) {
    return (
      <p>
        You have {props.owned} ticket{props.owned === 1 ? "" : "s"} for this event, the most one person may hold.{" "}
        <a href="/me/tickets">See my tickets</a>
      </p>
    );
  }
  const free = event.price === 0;
  const chosen = Math.min(Math.max(props.quantity ?? 1, 1), max);
  return (
    <form method="post" action={`${path}/order`} class="buy">
      <CsrfField token={props.csrf} />
      {/* A fresh key per rendered form: sending this form twice can only ever make one order. */}
      <input type="hidden" name="key" value={randomToken(16)} />
      {max === 1 ? (
        <>
          <input type="hidden" name="quantity" value="1" />
          <p class="muted">
            {event.perUserLimit === 1
              ? "One ticket per person."
              : event.availability.remaining === 1
                ? "One ticket left."
                : "You can get one more ticket."}
          </p>
        </>
      ) : (
        <div class="field">
          <label for="quantity">Tickets</label>
          <select id="quantity" name="quantity">
            {Array.from({ length: max }, (_, i) => i + 1).map((n) => (
              <option value={String(n)} selected={n === chosen}>
                {n}
              </option>
            ))}
          </select>
        </div>
      )}
      {props.owned > 0 ? (
        <p class="muted small">
          You already have {props.owned} ticket{props.owned === 1 ? "" : "s"} for this event.
        </p>
      ) : null}
      <button type="submit">
        {free ? "Get free tickets" : `Buy tickets · ${price(event.price, event.currency)} each`}
      </button>
      {free ? null : <p class="muted small">You will pay on Stripe's secure checkout page.</p>}
    </form>
  );
}

/** What a person reads when the order was refused: the service's reason, in words for them. */
function orderErrorText(error: DomainError): string {
  switch (error.code) {
    case "already-registered":
      return "You already have a ticket for this event. It is in My tickets.";
    case "rate-limited": {
      const wait = typeof error.extensions.retryAfter === "number" ? error.extensions.retryAfter : 60;
      return `Too many order attempts. Please wait about ${wait} seconds and try again.`;
    }
    case "unavailable":
      return "Ordering is briefly unavailable. Please try again in a moment.";
    case "payments-not-configured":
      return "Paid tickets cannot be bought right now. Please try again later.";
    case "payment-provider-error":
      return "We could not reach the payment provider. Nothing was charged; please try again.";
    case "invalid-transition":
      return "This event's price changed while you were ordering. Check the price below and try again.";
    case "idempotency-key-reused":
      return "That form was already sent with other choices. Check My tickets, or order again below.";
    case "idempotency-key-in-flight":
      return "Your order is still being processed. Check My tickets in a moment.";
    default:
      return problemStatus(error.code) >= 500 ? "We could not place the order. Please try again." : error.detail;
  }
}

const PAGE_STATUSES = [400, 409, 410, 422, 429, 503] as const;

function pageStatus(error: DomainError): NonNullable<RenderOptions["status"]> {
  const status = problemStatus(error.code);
  if ((PAGE_STATUSES as readonly number[]).includes(status)) return status as (typeof PAGE_STATUSES)[number];
  return status >= 500 ? 503 : 409;
}

interface PageOptions {
  alert?: string;
  status?: RenderOptions["status"];
  quantity?: number;
}

export async function eventPage(c: AppContext, id: string, options: PageOptions = {}): Promise<Response> {
  const user = pageUser(c);
  const deps = eventsDeps(c);
  // Drafts answer not-found (→ the 404 page) for anyone but their host, exactly like the API.
  const event = await getEvent(deps, user ? { id: user.id, roles: user.roles } : null, id);
  const now = Date.now();
  const state = saleState(event, now);
  const [owned, policy, { csrfToken }, hostPro, entry] = await Promise.all([
    user ? ownedTickets(deps.db, event.id, user.id) : 0,
    event.price > 0
      ? refundPolicyOf(deps.db, event.id, c.get("config").payments?.refundCutoffHours ?? LIMITS.refundCutoffHours)
      : null,
    pageState(c),
    // Pro hosts' pages carry no Gatehouse branding (config/plans.ts).
    isPro(deps.db, event.hostId, now),
    // The waitlist (./waitlist.tsx): the person's place in line, or the ticket held for them.
    user ? pageEntry(deps.db, event.id, user.id) : null,
  ]);
  const starts = Date.parse(event.startsAt);
  const ends = Date.parse(event.endsAt);
  const { remaining, capacity } = event.availability;
  const description = plainText(event.description).slice(0, 160);

  return render(c, {
    title: event.title,
    description: description || `${event.title} at ${event.venue.name}`,
    status: options.status ?? 200,
    publicPage: true,
    head: <link rel="stylesheet" href="/assets/attendee.css" />,
    body: (
      <article class="event">
        <p class="muted small">
          <a href="/">← All events</a>
        </p>
        <h1>{event.title}</h1>
        {event.status === "draft" ? <Alert kind="info">Draft: only you can see this page.</Alert> : null}
        {options.alert ? <Alert kind="error">{options.alert}</Alert> : null}
        <dl class="facts">
          <dt>When</dt>
          <dd>
            <time datetime={isoTime(starts)}>{eventTime(starts, event.timezone)}</time> –{" "}
            <time datetime={isoTime(ends)}>{eventTime(ends, event.timezone)}</time>
          </dd>
          <dt>Where</dt>
          <dd>
            {event.venue.name}
            <br />
            <span class="muted">{event.venue.address}</span>
          </dd>
          <dt>Price</dt>
          <dd>{price(event.price, event.currency)}</dd>
          <dt>Availability</dt>
          <dd>
            {remaining <= 0 ? (
              <span class="badge bad">Sold out</span>
            ) : fewLeft(remaining, capacity) ? (
              <span class="badge warn">Only {remaining} left</span>
            ) : (
              <span class="badge ok">{remaining} available</span>
            )}
          </dd>
          {policy ? (
            <>
              <dt>Refunds</dt>
              <dd>
                {policy.refundable
                  ? `Until ${policy.cutoffHours} h before the start (and never once check-in opens).`
                  : "This event does not offer refunds."}
              </dd>
            </>
          ) : null}
        </dl>
        <section class="card buy-box" aria-labelledby="tickets-heading">
          <h2 id="tickets-heading">Tickets</h2>
          {state.kind === "on-sale" ? (
            <OrderForm event={event} user={user} owned={owned} csrf={csrfToken} quantity={options.quantity} />
          ) : (
            <StateMessage state={state} timezone={event.timezone} />
          )}
          {state.kind === "on-sale" || state.kind === "sold-out" ? (
            <WaitlistBox
              eventId={event.id}
              timezone={event.timezone}
              signedIn={user !== null}
              entry={entry}
              soldOut={state.kind === "sold-out"}
              offerParam={c.req.query("offer") ?? null}
              csrf={csrfToken}
              now={now}
            />
          ) : null}
        </section>
        {event.description ? (
          <section class="description" aria-labelledby="about-heading">
            <h2 id="about-heading">About</h2>
            {/* Stored sanitized (src/lib/sanitize.ts: a small allowlist, no attributes but safe links). */}
            <div dangerouslySetInnerHTML={{ __html: event.description }} />
          </section>
        ) : null}
        {benefitsOf(hostPro).branding ? (
          <footer class="event-branding muted small">
            Made with <a href="/">Gatehouse</a>
          </footer>
        ) : null}
      </article>
    ),
  });
}

/** POST /e/:id/waitlist (./waitlist.tsx): join or leave the line, accept or decline an offer. */
export function answerWaitlist(c: AppContext): Promise<Response> {
  const id = c.req.param("id") ?? "";
  return waitlistAction(c, (alert, status) => eventPage(c, id, { alert, status }));
}

/** POST /e/:id/order: the order, once per rendered form; 303 to the wallet or to Stripe Checkout. */
export async function placeOrder(c: AppContext): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const user = pageUser(c);
  const fields = await readForm(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent(`/e/${id}`)}`);
  const quantity = Number(fields.quantity);
  const key = fields.key ?? "";
  if (!FORM_KEY.test(key) || !Number.isInteger(quantity) || quantity < 1 || quantity > LIMITS.perUserTicketsMax) {
    return eventPage(c, id, { alert: "Choose how many tickets you want, then send the form again.", status: 400 });
  }
  try {
    await takeOrderRates(c, user.id);
    const location = await oncePerForm(c, user.id, key, `POST /e/${id}/order\nquantity=${quantity}`, async () => {
      const result = await createOrder(
        eventsDeps(c),
        { id: user.id, email: user.email, name: user.name },
        id,
        quantity,
        {
          payments: paymentsDepsFromEnv(c.env),
          orderId: await orderIdFor(c.get("config").hashPepper, user.id, id, `page:${key}`),
          returnBase: returnBaseFor(c, "/me/tickets"),
        },
      );
      return "checkoutUrl" in result ? result.checkoutUrl : `/me/tickets?new=${encodeURIComponent(result.order.id)}`;
    });
    return seeOther(c, location);
  } catch (error) {
    // A missing event is the 404 page; every other refusal is this page with the reason.
    if (!(error instanceof DomainError) || error.code === "not-found" || error.code === "unauthorized") throw error;
    if (typeof error.extensions.retryAfter === "number") c.header("Retry-After", String(error.extensions.retryAfter));
    return eventPage(c, id, { alert: orderErrorText(error), status: pageStatus(error), quantity });
  }
}
