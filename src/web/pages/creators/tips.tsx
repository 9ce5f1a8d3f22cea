/**
 * The tip flow on `/@:handle` and its thank-you page. The form (shown only when the creator can take
 * tips) offers amount chips in TIP_DEFAULT_CURRENCY, a custom amount, a message and, signed out, an
 * email for the receipt; public/assets/creator-tip.js sends it to POST /api/v1/profiles/:handle/tips
 * with an Idempotency-Key made once per page (a retry of the same tip is the same tip) and follows the
 * answer to Stripe Checkout. Without the script the form says that tipping needs it; nothing is lost.
 * `/tips/:id/thanks` is Checkout's success URL: it shows the tip's state, never its message or email.
 */

import { TIP_BOUNDS, TIP_CHIPS, TIP_DEFAULT_CURRENCY, TIP_MESSAGE_MAX } from "../../../config/tips";
import type { AppContext } from "../../../context";
import { openNameOptional } from "../../../features/auth";
import type { PublicProfile } from "../../../features/creators/profile-page";
import { formatMoney } from "../../../features/email/templates";
import { errorPage } from "../../errors";
import { render } from "../../page";

export const TIP_SCRIPT = "/assets/creator-tip.js";

export function TipForm(props: { profile: PublicProfile; signedIn: boolean }) {
  const currency = TIP_DEFAULT_CURRENCY;
  const bounds = TIP_BOUNDS[currency] ?? { min: 50, max: 50_000 };
  return (
    <section class="creator-tip" aria-labelledby="tip-title">
      <h2 id="tip-title">Tip {props.profile.name}</h2>
      <form
        id="tip-form"
        class="stack"
        data-handle={props.profile.handle}
        data-currency={currency}
        data-min={String(bounds.min)}
        data-max={String(bounds.max)}
      >
        <fieldset class="tip-chips">
          <legend>Amount ({currency})</legend>
          {TIP_CHIPS.map((major, i) => (
            <label class="chip">
              <input type="radio" name="chip" value={String(major * 100)} checked={i === 1} />{" "}
              {formatMoney(major * 100, currency)}
            </label>
          ))}
          <label class="chip">
            <input type="radio" name="chip" value="custom" /> Other
          </label>
        </fieldset>
        <label>
          Other amount ({currency})
          <input
            type="number"
            name="custom"
            inputmode="decimal"
            min={(bounds.min / 100).toFixed(2)}
            max={(bounds.max / 100).toFixed(2)}
            step="0.01"
          />
        </label>
        <label>
          Message (optional)
          <textarea name="message" maxlength={TIP_MESSAGE_MAX} rows={3} />
        </label>
        {props.signedIn ? null : (
          <label>
            Email for your receipt
            <input type="email" name="email" autocomplete="email" required maxlength={254} />
          </label>
        )}
        <p class="muted small">
          Between {formatMoney(bounds.min, currency)} and {formatMoney(bounds.max, currency)}. You pay on Stripe's page.
        </p>
        <p id="tip-error" class="alert error" role="alert" hidden />
        <button type="submit" class="button primary">
          Send tip
        </button>
        <noscript>
          <p class="muted small">Tipping needs JavaScript: it opens Stripe's payment page.</p>
        </noscript>
      </form>
    </section>
  );
}

/** `/tips/:id/thanks`: where Checkout sends the fan back. */
export async function tipThanksPage(c: AppContext): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const tip = await c.env.DB.prepare(
    `SELECT t.amount, t.currency, t.status, u.name, h.handle_key FROM tips t LEFT JOIN users u ON u.id = t.recipient_id
     LEFT JOIN handles h ON h.user_id = t.recipient_id AND h.state = 'active' WHERE t.id = ?`,
  )
    .bind(id.slice(0, 64))
    .first<{ amount: number; currency: string; status: string; name: string | null; handle_key: string | null }>();
  if (!tip) return errorPage(c, 404, "No such tip.");
  const money = formatMoney(tip.amount, tip.currency);
  const who = openNameOptional(c.get("config").pii, tip.name) ?? "the creator";
  const done = tip.status === "succeeded" || tip.status === "partially_refunded" || tip.status === "refunded";
  c.header("Cache-Control", "no-store");
  return render(c, {
    title: "Thank you",
    publicPage: true,
    body: (
      <article class="creator stack">
        <h1>Thank you!</h1>
        {done ? (
          <p>
            Your tip of <strong>{money}</strong> to <strong>{who}</strong> went through. A receipt is on its way by
            email.
          </p>
        ) : tip.status === "failed" ? (
          <p>Your payment of {money} did not go through; nothing was charged.</p>
        ) : (
          <p>
            Your tip of <strong>{money}</strong> to <strong>{who}</strong> is being confirmed. The receipt follows by
            email.
          </p>
        )}
        {tip.handle_key ? (
          <p>
            <a href={`/@${encodeURIComponent(tip.handle_key)}`}>Back to {who}'s page</a>
          </p>
        ) : null}
      </article>
    ),
  });
}
