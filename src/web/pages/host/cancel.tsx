/**
 * The confirmation before cancelling an event, which cannot be undone: cancelEvent voids every
 * ticket, emails every holder and refunds every paid order in full. The page says what that means for
 * this event in numbers, and the form needs an explicit tick.
 */
import type { AppContext } from "../../../context";
import { formatMoney } from "../../../features/email/templates";
import { inventoryOf } from "../../../features/events/inventory";
import type { EventRow } from "../../../features/events/service";
import { Alert, CsrfField } from "../../components";
import { pageState, type RenderOptions, render } from "../../page";
import { HOST_HEAD } from "./dashboard";

export async function renderCancelConfirm(
  c: AppContext,
  row: EventRow,
  options: { error?: string; status?: RenderOptions["status"] } = {},
): Promise<Response> {
  const [stats, paid, state] = await Promise.all([
    inventoryOf(c.env.EVENT_INVENTORY, row.id).stats(),
    // What queueEventRefunds will hand back: every payment not yet refunded in full.
    c.env.DB.prepare(
      "SELECT COUNT(*) AS n, COALESCE(SUM(amount - amount_refunded), 0) AS total FROM payments WHERE event_id = ? AND amount_refunded < amount",
    )
      .bind(row.id)
      .first<{ n: number; total: number }>(),
    pageState(c),
  ]);
  const base = `/host/events/${row.id}`;
  return render(c, {
    title: `Cancel ${row.title}`,
    status: options.status,
    head: HOST_HEAD,
    body: (
      <section class="card narrow" aria-labelledby="cancel-h">
        <h1 id="cancel-h">Cancel “{row.title}”?</h1>
        {options.error ? <Alert kind="error">{options.error}</Alert> : null}
        <p>Cancelling is final. At once:</p>
        <ul>
          <li>
            all <strong data-figure="sold">{stats.sold}</strong> tickets become void and no longer admit anyone;
          </li>
          <li>every ticket holder is emailed that the event is cancelled;</li>
          <li>
            <strong data-figure="payments">{paid?.n ?? 0}</strong> paid {paid?.n === 1 ? "order is" : "orders are"}{" "}
            refunded in full ({formatMoney(paid?.total ?? 0, row.currency)} in all);
          </li>
          <li>the event leaves the public listings and sales stop.</li>
        </ul>
        <form method="post" action={`${base}/cancel`}>
          <CsrfField token={state.csrfToken} />
          <div class="field">
            <label class="choice">
              <input type="checkbox" name="confirm" value="yes" required /> I understand this cannot be undone
            </label>
          </div>
          <div class="actions">
            <button type="submit" class="danger">
              Cancel the event
            </button>
            <a href={base}>Keep it</a>
          </div>
        </form>
      </section>
    ),
  });
}
