/**
 * `/me/billing`: the signed-in person's plan (free or Pro, Stripe's status, when the period ends and
 * whether it will renew) with one action: Upgrade (POST → 303 to Stripe Checkout in subscription mode)
 * or Manage (POST → 303 to Stripe's customer portal). The same services as
 * /api/v1/me/subscription/checkout and /portal (features/money). Without billing configured the page
 * says so and offers no button.
 */
import { Hono } from "hono";
import { PLANS } from "../../../config/plans";
import type { AppContext, AppEnv } from "../../../context";
import {
  customerIdOf,
  openPortal,
  returnOrigin,
  signedInUser,
  startProCheckout,
  subscriptionView,
} from "../../../features/money";
import { paymentsDepsFromEnv, requirePayments } from "../../../features/payments";
import { DomainError } from "../../../lib/errors";
import { Alert, CsrfField } from "../../components";
import { domainErrorPage } from "../../errors";
import { readForm } from "../../forms";
import { pageState, pageUser, render, seeOther } from "../../page";

const STATUS_TEXT: Record<string, string> = {
  active: "Active",
  trialing: "Trial",
  past_due: "Payment failed — Stripe is retrying your card",
  unpaid: "Unpaid",
  canceled: "Canceled",
  incomplete: "Waiting for the first payment",
  incomplete_expired: "Expired before the first payment",
  paused: "Paused",
};

function day(iso: string): string {
  return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
}

async function billingPage(c: AppContext): Promise<Response> {
  const user = pageUser(c);
  if (!user) return seeOther(c, `/login?next=${encodeURIComponent("/me/billing")}`);
  const view = await subscriptionView(c.env.DB, user.id);
  const configured = Boolean(paymentsDepsFromEnv(c.env)?.payments.proPriceId);
  const hasCustomer = (await customerIdOf(c.env.DB, user.id)) !== null;
  const { csrfToken } = await pageState(c);
  const returned = c.req.query("checkout");
  const manage = view.status !== null && view.status !== "canceled" && view.status !== "incomplete_expired";
  return render(c, {
    title: "Billing",
    body: (
      <section class="billing">
        <h1>Billing</h1>
        {returned === "success" ? (
          <Alert kind="success">Thank you! Your plan updates as soon as Stripe confirms the payment.</Alert>
        ) : null}
        {returned === "cancelled" ? <Alert kind="info">Checkout was cancelled; nothing was charged.</Alert> : null}
        <div class="card">
          <h2>{view.isPro ? "Pro" : "Free"}</h2>
          {view.status ? <p>Status: {STATUS_TEXT[view.status] ?? view.status}</p> : <p>You are on the free plan.</p>}
          {view.currentPeriodEnd && manage ? (
            <p>
              {view.cancelAtPeriodEnd ? "Ends on " : "Renews on "}
              <time datetime={view.currentPeriodEnd}>{day(view.currentPeriodEnd)}</time>
            </p>
          ) : null}
          <p class="muted small">
            Pro: no {"“Made with Gatehouse”"} footer on your pages, a {PLANS.pro.platformFeeBps / 100}% platform fee,
            and {PLANS.pro.rateMultiplier}× the posting allowance.
          </p>
          {!configured ? (
            <Alert kind="info">Billing is not configured on this server.</Alert>
          ) : manage || (view.isPro && hasCustomer) ? (
            <form method="post" action="/me/billing/portal">
              <CsrfField token={csrfToken} />
              <button type="submit">Manage billing</button>
            </form>
          ) : (
            <form method="post" action="/me/billing/upgrade">
              <CsrfField token={csrfToken} />
              <button type="submit" class="primary">
                Upgrade to Pro
              </button>
            </form>
          )}
        </div>
      </section>
    ),
  });
}

/** A form POST that sends the browser to Stripe, or shows the refusal as a page. */
function toStripe(make: (c: AppContext) => Promise<{ url: string }>) {
  return async (c: AppContext): Promise<Response> => {
    await readForm(c);
    if (!pageUser(c)) return seeOther(c, `/login?next=${encodeURIComponent("/me/billing")}`);
    try {
      const { url } = await make(c);
      return seeOther(c, url);
    } catch (error) {
      if (error instanceof DomainError) return domainErrorPage(c, error);
      throw error;
    }
  };
}

export const billingPages = new Hono<AppEnv>()
  .get("/me/billing", billingPage)
  .post(
    "/me/billing/upgrade",
    toStripe(async (c) => startProCheckout(requirePayments(c), await signedInUser(c), returnOrigin(c))),
  )
  .post(
    "/me/billing/portal",
    toStripe(async (c) => openPortal(requirePayments(c), (await signedInUser(c)).id, returnOrigin(c))),
  );
