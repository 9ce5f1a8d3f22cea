/**
 * Asking for a refund from the wallet: GET /me/orders/:id/refund is the confirm step (what will be
 * refunded, that the tickets stop working at once), its POST asks through the payments service
 * (src/features/payments/policy.ts requestRefund: the policy, the gate's veto for a used ticket, the
 * refund job) and goes back to the wallet. Someone else's order is not found, like a missing one.
 */
import { LIMITS } from "../../../config/limits";
import type { AppContext } from "../../../context";
import { requirePayments } from "../../../features/payments/deps";
import { requestRefund } from "../../../features/payments/policy";
import { problemStatus } from "../../../http/problem";
import { DomainError } from "../../../lib/errors";
import { Alert, CsrfField } from "../../components";
import { readForm } from "../../forms";
import { pageState, pageUser, type RenderOptions, render, seeOther } from "../../page";
import { eventTime, isoTime, price } from "./format";
import { refundPolicies, refundState, walletOrders } from "./tickets";

async function refundPage(
  c: AppContext,
  userId: string,
  orderId: string,
  options: { alert?: string; status?: RenderOptions["status"] } = {},
): Promise<Response> {
  const [order] = await walletOrders(c.env.DB, userId, orderId);
  if (!order) throw new DomainError("not-found", "No such order.");
  const policies = await refundPolicies(
    c.env.DB,
    [order],
    c.get("config").payments?.refundCutoffHours ?? LIMITS.refundCutoffHours,
  );
  const state = refundState(order, policies.get(order.event.id) ?? null, Date.now());
  const { csrfToken } = await pageState(c);
  const { event } = order;
  const count = order.tickets.length;
  return render(c, {
    title: "Request a refund",
    status: options.status ?? (state.kind === "allowed" ? 200 : 409),
    head: <link rel="stylesheet" href="/assets/attendee.css" />,
    body: (
      <section class="card narrow">
        <h1>Request a refund</h1>
        {options.alert ? <Alert kind="error">{options.alert}</Alert> : null}
        <p>
          <strong>{event.title}</strong>
          <br />
          <time datetime={isoTime(event.startsAt)}>{eventTime(event.startsAt, event.timezone)}</time>
        </p>
        <p>
          {count} ticket{count === 1 ? "" : "s"} · {price(order.amount, order.currency)}
        </p>
        {state.kind === "allowed" ? (
          <form method="post" action={`/me/orders/${encodeURIComponent(order.id)}/refund`}>
            <CsrfField token={csrfToken} />
            <input type="hidden" name="confirm" value="yes" />
            <p>
              {price(order.amount, order.currency)} goes back to the card you paid with. The ticket
              {count === 1 ? "" : "s"} stop{count === 1 ? "s" : ""} working at once and cannot be used at the gate.
            </p>
            <div class="actions">
              <button type="submit" class="danger">
                Yes, refund my order
              </button>
              <a class="button secondary" href="/me/tickets">
                Keep my tickets
              </a>
            </div>
          </form>
        ) : (
          <>
            <Alert kind="info">
              {state.kind === "denied"
                ? `This order cannot be refunded. ${state.reason}`
                : state.kind === "none"
                  ? "Free tickets are not refunded."
                  : state.kind === "pending"
                    ? "A refund for this order is already on its way."
                    : "This order was refunded."}
            </Alert>
            <p class="actions">
              <a class="button secondary" href="/me/tickets">
                Back to my tickets
              </a>
            </p>
          </>
        )}
      </section>
    ),
  });
}

function signIn(c: AppContext): Response {
  return seeOther(c, `/login?next=${encodeURIComponent("/me/tickets")}`);
}

export async function refundConfirmPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) return signIn(c);
  return refundPage(c, user.id, c.req.param("id") ?? "");
}

export async function submitRefund(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  const fields = await readForm(c);
  if (!user) return signIn(c);
  const orderId = c.req.param("id") ?? "";
  if (fields.confirm !== "yes") {
    return refundPage(c, user.id, orderId, { alert: "Confirm the refund to continue.", status: 400 });
  }
  try {
    await requestRefund(requirePayments(c), user.id, orderId);
  } catch (error) {
    if (!(error instanceof DomainError) || error.code === "not-found") throw error;
    const status = problemStatus(error.code);
    const alert =
      error.code === "payments-not-configured"
        ? "Refunds cannot be requested right now. Please try again later."
        : status >= 500
          ? "We could not request the refund. Please try again."
          : error.detail;
    return refundPage(c, user.id, orderId, { alert, status: status === 422 ? 422 : status >= 500 ? 503 : 409 });
  }
  return seeOther(c, `/me/tickets?refunded=${encodeURIComponent(orderId)}`);
}
