/**
 * `/me/tickets`, the wallet: the signed-in person's tickets, upcoming then past, each with its status
 * and, while it can get someone in, its QR code drawn on the server (the same signed token as
 * GET /api/v1/tickets/:id/qr) with the token's expiry for public/assets/wallet.js, which fetches a
 * fresh code before that. /me/sw.js (public/assets/wallet-sw.js, scope /me/) keeps the last good
 * copy of this page for when the phone is offline at the door. Paid orders say whether and until
 * when they can be refunded; the refund itself is ./refund.tsx.
 */
import { LIMITS } from "../../../config/limits";
import type { AppContext } from "../../../context";
import { mintTicketQr } from "../../../features/gate/qr";
import { settleOwnOrders } from "../../../features/orders";
import { DomainError } from "../../../lib/errors";
import { Alert } from "../../components";
import { pageUser, render, seeOther } from "../../page";
import { eventTime, isoTime, price } from "./format";
import { compactQrSvg } from "./qr-svg";
import {
  type RefundState,
  refundPolicies,
  refundState,
  type WalletOrder,
  type WalletTicket,
  walletOrders,
} from "./tickets";

/**
 * Codes drawn into the page itself (about 5 KB each): enough for a family's booking. Further codes
 * are fetched by wallet.js right after load (or opened by their link without scripts), so a large
 * wallet stays inside the 50 KB page budget.
 */
export const INLINE_QR_CODES = 4;

function TicketStatus(props: { ticket: WalletTicket; order: WalletOrder }) {
  const { ticket, order } = props;
  switch (ticket.status) {
    case "active":
      return <span class="badge ok">Active</span>;
    case "redeemed":
      return (
        <span class="badge">
          Checked in
          {ticket.redeemedAt ? (
            <>
              {" at "}
              <time datetime={isoTime(ticket.redeemedAt)}>{eventTime(ticket.redeemedAt, order.event.timezone)}</time>
            </>
          ) : null}
        </span>
      );
    case "refunding":
      return <span class="badge warn">Refund in progress</span>;
    default:
      return (
        <span class="badge bad">
          {order.status === "refunded" || order.status === "refunded_sold_out" ? "Refunded" : "Cancelled"}
        </span>
      );
  }
}

interface Code {
  svg: string | null;
  expiresAt: string | null;
}

function TicketItem(props: { ticket: WalletTicket; order: WalletOrder; code: Code | undefined }) {
  const { ticket, order, code } = props;
  return (
    <li class="ticket">
      <p class="ticket-head">
        <span>Ticket #{ticket.serial}</span> <TicketStatus ticket={ticket} order={order} />
      </p>
      {code ? (
        <figure class="qr" data-ticket-id={ticket.id} data-expires-at={code.expiresAt ?? ""}>
          {code.svg ? (
            <div class="qr-code" dangerouslySetInnerHTML={{ __html: code.svg }} />
          ) : (
            <div class="qr-code">
              <a href={`/api/v1/tickets/${encodeURIComponent(ticket.id)}/qr?format=svg`}>Show the entry code</a>
            </div>
          )}
          <figcaption class="muted small">Show this code at the gate. It renews itself every few minutes.</figcaption>
        </figure>
      ) : null}
    </li>
  );
}

function RefundNote(props: { order: WalletOrder; state: RefundState }) {
  const { order, state } = props;
  const tz = order.event.timezone;
  switch (state.kind) {
    case "allowed":
      return (
        <div class="refund">
          <p class="muted small">
            Refundable until <time datetime={isoTime(state.until)}>{eventTime(state.until, tz)}</time>.
          </p>
          <a class="button secondary" href={`/me/orders/${encodeURIComponent(order.id)}/refund`}>
            Request refund
          </a>
        </div>
      );
    case "denied":
      return (
        <p class="refund muted small">
          Refund not available: {state.reason}
          {state.until ? (
            <>
              {" "}
              (<time datetime={isoTime(state.until)}>{eventTime(state.until, tz)}</time>)
            </>
          ) : null}
        </p>
      );
    case "pending":
      return <p class="refund muted small">Refund requested: the money is on its way back to your card.</p>;
    case "refunded":
      return <p class="refund muted small">Refunded.</p>;
    default:
      return null;
  }
}

function OrderCard(props: { order: WalletOrder; refund: RefundState; codes: Map<string, Code>; highlight: boolean }) {
  const { order } = props;
  const { event } = order;
  return (
    <li class={props.highlight ? "card order new" : "card order"}>
      <h3>
        <a href={`/e/${encodeURIComponent(event.id)}`}>{event.title}</a>
      </h3>
      <p>
        <time datetime={isoTime(event.startsAt)}>{eventTime(event.startsAt, event.timezone)}</time>
        <br />
        {event.venueName} <span class="muted">· {event.venueAddress}</span>
      </p>
      {event.status === "cancelled" ? <p class="badge bad">Event cancelled</p> : null}
      <p class="muted small">
        {order.tickets.length} ticket{order.tickets.length === 1 ? "" : "s"} · {price(order.amount, order.currency)}
      </p>
      <ul class="plain tickets">
        {order.tickets.map((ticket) => (
          <TicketItem ticket={ticket} order={order} code={props.codes.get(ticket.id)} />
        ))}
      </ul>
      <RefundNote order={order} state={props.refund} />
    </li>
  );
}

function Banner(props: { query: Record<string, string>; orders: WalletOrder[] }) {
  const { query, orders } = props;
  const mine = (id: string | undefined) => id !== undefined && orders.some((o) => o.id === id);
  if (mine(query.new)) return <Alert kind="success">Your tickets are ready. Show the code at the gate.</Alert>;
  if (query.refunded && mine(query.refunded)) {
    return (
      <Alert kind="success">
        Refund requested. Those tickets no longer admit anyone; the money goes back to your card within a few days.
      </Alert>
    );
  }
  if (query.checkout === "success") {
    return (
      <Alert kind="success">
        Payment received. Your tickets appear here as soon as it is confirmed, usually within seconds: reload this page.
      </Alert>
    );
  }
  if (query.checkout === "cancelled") return <Alert kind="info">Checkout cancelled: nothing was charged.</Alert>;
  return null;
}

export async function walletPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) {
    const url = new URL(c.req.url);
    return seeOther(c, `/login?next=${encodeURIComponent(url.pathname + url.search)}`);
  }
  const config = c.get("config");
  const now = Date.now();
  // The order the event page just placed may still be on its way to D1 (src/features/orders/settle.ts).
  await settleOwnOrders(c);
  const orders = await walletOrders(c.env.DB, user.id);
  const upcoming = orders.filter((o) => o.event.endsAt > now);
  const past = orders.filter((o) => o.event.endsAt <= now).reverse();

  // Codes for the tickets that can still get someone in, soonest event first.
  const codes = new Map<string, Code>();
  const live = upcoming.filter((o) => o.event.status !== "cancelled").flatMap((o) => o.tickets);
  const active = live.filter((t) => t.status === "active");
  const minted = await Promise.all(
    active.slice(0, INLINE_QR_CODES).map((t) =>
      // A ticket used or refunded since the read above simply shows no code.
      mintTicketQr({ db: c.env.DB, config }, user.id, t.id, now).catch((error: unknown) => {
        if (error instanceof DomainError) return null;
        throw error;
      }),
    ),
  );
  for (const qr of minted) {
    if (qr) codes.set(qr.ticketId, { svg: compactQrSvg(qr.token, "Entry code"), expiresAt: qr.expiresAt });
  }
  for (const t of active.slice(INLINE_QR_CODES)) codes.set(t.id, { svg: null, expiresAt: null });

  const policies = await refundPolicies(
    c.env.DB,
    orders,
    config.payments?.refundCutoffHours ?? LIMITS.refundCutoffHours,
  );
  const query = c.req.query();
  const card = (order: WalletOrder) => (
    <OrderCard
      order={order}
      codes={codes}
      highlight={order.id === query.new}
      refund={refundState(order, policies.get(order.event.id) ?? null, now)}
    />
  );

  return render(c, {
    title: "My tickets",
    scripts: ["/assets/wallet.js"],
    head: <link rel="stylesheet" href="/assets/attendee.css" />,
    body: (
      <section class="wallet">
        <h1>My tickets</h1>
        <div id="wallet-offline" class="alert info" role="status" hidden>
          Offline — showing saved tickets. Codes renew when you are back online.
        </div>
        <Banner query={query} orders={orders} />
        <h2>Upcoming</h2>
        {upcoming.length === 0 ? (
          <p>
            No upcoming tickets. <a href="/">Find an event</a>
          </p>
        ) : (
          <ul class="plain orders">{upcoming.map(card)}</ul>
        )}
        {past.length > 0 ? (
          <>
            <h2>Past</h2>
            <ul class="plain orders past">{past.map(card)}</ul>
          </>
        ) : null}
      </section>
    ),
  });
}

/**
 * A service worker's fetches obey the CSP its script was served with; the API's default-src 'none'
 * would make every fetch it makes fail (and with it every visit to the wallet). It may reach this
 * origin and nothing else.
 */
export const WALLET_WORKER_CSP = "default-src 'none'; connect-src 'self'; frame-ancestors 'none'";

/** The wallet's service worker, served under /me/ so its scope covers the wallet and nothing else. */
export async function walletServiceWorker(c: AppContext): Promise<Response> {
  const asset = await c.env.ASSETS.fetch(new Request(new URL("/assets/wallet-sw.js", c.req.url)));
  if (!asset.ok) return c.notFound();
  return new Response(asset.body, {
    headers: {
      "Content-Type": "text/javascript; charset=utf-8",
      "Service-Worker-Allowed": "/me/",
      // Browsers check for a new worker on navigation; never serve them a stale one.
      "Cache-Control": "no-cache",
      "Content-Security-Policy": WALLET_WORKER_CSP,
    },
  });
}
