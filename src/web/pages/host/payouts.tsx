/**
 * The payouts block on /host: where the host's Stripe Connect account stands (none, onboarding,
 * restricted, active) and a "Set up payouts" form that POSTs to /host/payouts, which answers with a
 * redirect to Stripe's onboarding. Paid tickets publish only once the account can take charges.
 */
import { type PayoutSummary, readPayoutAccount, summaryOf } from "../../../features/money";
import { Alert, CsrfField } from "../../components";

const LABELS: Record<PayoutSummary["status"], string> = {
  none: "Not set up",
  onboarding: "Onboarding not finished",
  restricted: "Restricted by Stripe",
  active: "Active",
};

/** `?payouts=` after Stripe sends the host back (a fixed key, never text from the URL). */
const RETURNS: Record<string, string> = {
  done: "Welcome back from Stripe. Your payout status updates here as soon as Stripe confirms it.",
  refresh: "The onboarding link expired: start again below.",
};

export async function payoutSummaryFor(db: D1Database, userId: string): Promise<PayoutSummary> {
  return summaryOf(await readPayoutAccount(db, userId));
}

export function PayoutsBlock(props: {
  summary: PayoutSummary | null;
  csrfToken: string;
  returned?: string;
  error?: string;
}) {
  const { summary } = props;
  const back = props.returned ? RETURNS[props.returned] : undefined;
  return (
    <section class="card" aria-labelledby="payouts-h">
      <h2 id="payouts-h">Payouts</h2>
      {props.error ? <Alert kind="error">{props.error}</Alert> : null}
      {back ? <Alert kind="info">{back}</Alert> : null}
      {summary === null ? (
        <p class="muted">Payments are not configured here, so paid tickets and payouts are off.</p>
      ) : (
        <>
          <p>
            Status: <strong>{LABELS[summary.status]}</strong>
            {" · "}
            {summary.chargesEnabled ? "can take payments" : "cannot take payments yet"}
            {" · "}
            {summary.payoutsEnabled ? "payouts on" : "payouts off"}
          </p>
          {summary.requirements.currentlyDue.length > 0 ? (
            <p class="small muted">Stripe still needs: {summary.requirements.currentlyDue.join(", ")}</p>
          ) : null}
          {summary.status !== "active" ? (
            <>
              <p class="small muted">Paid tickets can be published once Stripe lets your account take payments.</p>
              <form method="post" action="/host/payouts">
                <CsrfField token={props.csrfToken} />
                <button type="submit">{summary.status === "none" ? "Set up payouts" : "Continue with Stripe"}</button>
              </form>
            </>
          ) : null}
        </>
      )}
    </section>
  );
}
