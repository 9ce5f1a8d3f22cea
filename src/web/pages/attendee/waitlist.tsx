/**
 * The waitlist on the event page (`/e/:id`): a signed-in person sees their place in line, or the
 * ticket held for them with Accept and Decline (the offer email links here, `?offer=<id>`), and may join
 * a sold-out event's line. The one POST (`/e/:id/waitlist`, `action` = join | leave | accept | decline)
 * runs the waitlist service, as the API does; a refusal comes back as the event page with the reason.
 */
import type { WaitlistStatus } from "../../../../durable-objects/event-inventory/contract";
import type { AppContext } from "../../../context";
import { eventsDeps } from "../../../features/events";
import { paymentsDepsFromEnv, returnBaseFor } from "../../../features/payments";
import { acceptOffer, declineOffer, joinWaitlist, leaveWaitlist } from "../../../features/waitlist";
import { DomainError } from "../../../lib/errors";
import { Alert, CsrfField } from "../../components";
import { readForm } from "../../forms";
import { pageUser, seeOther } from "../../page";
import { eventTime, isoTime } from "./format";
import { takeOrderRates } from "./order-gate";

export interface PageEntry {
  status: WaitlistStatus;
  offerId: string | null;
  offerExpiresAt: number | null;
  orderId: string | null;
  /** While waiting: the place in line (1 is next). */
  position: number | null;
}

/** The person's entry for the event, from the D1 read model. */
export async function pageEntry(db: D1Database, eventId: string, userId: string): Promise<PageEntry | null> {
  const row = await db
    .prepare(
      `SELECT w.status, w.offer_id, w.offer_expires_at, w.order_id,
         (SELECT COUNT(*) FROM waitlist_entries a
          WHERE a.event_id = w.event_id AND a.status = 'waiting' AND a.position < w.position) AS ahead
       FROM waitlist_entries w WHERE w.event_id = ? AND w.user_id = ?`,
    )
    .bind(eventId, userId)
    .first<{
      status: WaitlistStatus;
      offer_id: string | null;
      offer_expires_at: number | null;
      order_id: string | null;
      ahead: number;
    }>();
  if (!row) return null;
  return {
    status: row.status,
    offerId: row.offer_id,
    offerExpiresAt: row.offer_expires_at,
    orderId: row.order_id,
    position: row.status === "waiting" ? row.ahead + 1 : null,
  };
}

function ActionForm(props: { path: string; csrf: string; action: string; offerId?: string; label: string }) {
  return (
    <form method="post" action={`${props.path}/waitlist`} class="inline">
      <CsrfField token={props.csrf} />
      <input type="hidden" name="action" value={props.action} />
      {props.offerId ? <input type="hidden" name="offer" value={props.offerId} /> : null}
      <button type="submit" class={props.action === "accept" || props.action === "join" ? undefined : "secondary"}>
        {props.label}
      </button>
    </form>
  );
}

/**
 * What the page shows about the line: the open offer (accept or decline), the place in line (leave),
 * or, on a sold-out event, the way in. `soldOut`: the event is on sale but has no ticket left.
 */
export function WaitlistBox(props: {
  eventId: string;
  timezone: string;
  signedIn: boolean;
  entry: PageEntry | null;
  soldOut: boolean;
  /** `?offer=` from the email's link. */
  offerParam: string | null;
  csrf: string;
  now: number;
}) {
  const { entry } = props;
  const path = `/e/${encodeURIComponent(props.eventId)}`;
  if (!props.signedIn) {
    if (!props.offerParam && !props.soldOut) return null;
    const next = props.offerParam ? `${path}?offer=${encodeURIComponent(props.offerParam)}` : path;
    return (
      <p class="actions">
        <a class="button secondary" href={`/login?next=${encodeURIComponent(next)}`}>
          {props.offerParam ? "Sign in to answer your offer" : "Sign in to join the waitlist"}
        </a>
      </p>
    );
  }
  if (entry?.status === "offered" && entry.offerId && (entry.offerExpiresAt ?? 0) > props.now) {
    const until = entry.offerExpiresAt as number;
    return (
      <div class="waitlist-offer">
        <Alert kind="success">
          A ticket is held for you until <time datetime={isoTime(until)}>{eventTime(until, props.timezone)}</time>.
        </Alert>
        <p class="actions">
          <ActionForm path={path} csrf={props.csrf} action="accept" offerId={entry.offerId} label="Accept the ticket" />{" "}
          <ActionForm path={path} csrf={props.csrf} action="decline" offerId={entry.offerId} label="Decline" />
        </p>
      </div>
    );
  }
  if (props.offerParam && entry?.offerId === props.offerParam && entry.status !== "accepted") {
    return <Alert kind="info">This offer has ended: its ticket went to the next person in line.</Alert>;
  }
  if (entry?.status === "waiting") {
    return (
      <p>
        You are on the waitlist: number {entry.position} in line. We will email you when a ticket frees up.{" "}
        <ActionForm path={path} csrf={props.csrf} action="leave" label="Leave the waitlist" />
      </p>
    );
  }
  if (props.soldOut) {
    return (
      <p>
        <ActionForm path={path} csrf={props.csrf} action="join" label="Join the waitlist" />
      </p>
    );
  }
  return null;
}

const ACTIONS = ["join", "leave", "accept", "decline"] as const;

/**
 * POST /e/:id/waitlist: 303 back to the event page, or, for an accepted offer, to the wallet (free) or
 * Stripe Checkout (paid). `onError` renders the event page with the reason.
 */
export async function waitlistAction(
  c: AppContext,
  onError: (alert: string, status: 400 | 409 | 410 | 422 | 429 | 503) => Promise<Response>,
): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const path = `/e/${encodeURIComponent(id)}`;
  const user = pageUser(c);
  const fields = await readForm(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent(path)}`);
  const action = ACTIONS.find((a) => a === fields.action);
  const offerId = fields.offer ?? "";
  if (!action || ((action === "accept" || action === "decline") && !/^[A-Za-z0-9_-]{1,64}$/.test(offerId))) {
    return onError("Something was missing from the form. Reload the page and try again.", 400);
  }
  const buyer = { id: user.id, email: user.email, name: user.name };
  try {
    if (action === "join") await joinWaitlist(eventsDeps(c), buyer, id);
    if (action === "leave") await leaveWaitlist(eventsDeps(c), user.id, id);
    if (action === "decline") await declineOffer(eventsDeps(c), user.id, offerId);
    if (action === "accept") {
      await takeOrderRates(c, user.id);
      const result = await acceptOffer(
        eventsDeps(c),
        paymentsDepsFromEnv(c.env),
        buyer,
        offerId,
        returnBaseFor(c, "/me/tickets"),
      );
      return seeOther(
        c,
        "checkoutUrl" in result ? result.checkoutUrl : `/me/tickets?new=${encodeURIComponent(result.order.id)}`,
      );
    }
    return seeOther(c, path);
  } catch (error) {
    if (!(error instanceof DomainError) || error.code === "unauthorized") throw error;
    switch (error.code) {
      case "offer-expired":
        return onError("This offer has ended: its ticket went to the next person in line.", 410);
      case "not-sold-out":
        return onError("Tickets are available again: get one below.", 409);
      case "not-found":
        return onError("That offer is not yours, or no longer exists.", 409);
      default:
        return onError(error.detail, 409);
    }
  }
}
