/**
 * /host: a host's events, every status, newest first (keyset pages over the events_host index); a
 * signed-in person without the role is offered it (POST /host/become, the becomeHost flow, which
 * needs a verified email address).
 */
import type { AppContext } from "../../../context";
import type { Caller, EventRow } from "../../../features/events/service";
import { Alert, CsrfField } from "../../components";
import { pageState, type RenderOptions, render } from "../../page";
import { HOST_HEAD, StatusBadge } from "./dashboard";
import { PayoutsBlock, payoutSummaryFor } from "./payouts";
import { formatInZone } from "./units";

/** Events per page of /host. */
export const HOST_PAGE_SIZE = 25;

type Listed = Pick<
  EventRow,
  "id" | "title" | "status" | "starts_at" | "timezone" | "venue_name" | "capacity" | "created_at"
>;

/** `before` is the last row's "created_at.id" of the previous page. */
async function hostEvents(db: D1Database, hostId: string, before: string | undefined) {
  const match = before ? /^(\d{1,15})\.([A-Za-z0-9_-]{1,64})$/.exec(before) : null;
  const after = match ? { at: Number(match[1]), id: match[2] } : null;
  const sql = `SELECT id, title, status, starts_at, timezone, venue_name, capacity, created_at FROM events
     WHERE host_id = ?${after ? " AND (created_at < ? OR (created_at = ? AND id < ?))" : ""}
     ORDER BY created_at DESC, id DESC LIMIT ?`;
  const bindings = after ? [hostId, after.at, after.at, after.id, HOST_PAGE_SIZE + 1] : [hostId, HOST_PAGE_SIZE + 1];
  const { results } = await db
    .prepare(sql)
    .bind(...bindings)
    .all<Listed>();
  const more = results.length > HOST_PAGE_SIZE;
  const items = results.slice(0, HOST_PAGE_SIZE);
  const last = items[items.length - 1];
  return { items, next: more && last ? `${last.created_at}.${last.id}` : null, paged: after !== null };
}

export async function renderHostHome(
  c: AppContext,
  caller: Caller,
  notice?: string,
  options: { payoutsError?: string; status?: RenderOptions["status"] } = {},
): Promise<Response> {
  const { items, next, paged } = await hostEvents(c.env.DB, caller.id, c.req.query("before"));
  const payouts = c.get("config").payments ? await payoutSummaryFor(c.env.DB, caller.id) : null;
  const state = await pageState(c);
  return render(c, {
    title: "Your events",
    status: options.status,
    head: HOST_HEAD,
    body: (
      <>
        <div class="event-head">
          <h1>Your events</h1>
          <a class="button" href="/host/new-event">
            New event
          </a>
        </div>
        {notice ? <Alert kind="success">{notice}</Alert> : null}
        <PayoutsBlock
          summary={payouts}
          csrfToken={state.csrfToken}
          returned={c.req.query("payouts")}
          error={options.payoutsError}
        />
        <p>
          <a href="/host/integrations">Integrations</a>: API keys for your own systems, and webhooks that tell them when
          something happens at your events.
        </p>
        {items.length === 0 ? (
          <p class="muted">
            {paged ? "No more events." : "No events yet. Create your first one: it starts as a draft only you can see."}
          </p>
        ) : (
          <ul class="host-events">
            {items.map((e) => (
              <li class="card">
                <h2>
                  <a href={`/host/events/${e.id}`}>{e.title}</a>
                </h2>
                <p>
                  <StatusBadge status={e.status} /> {formatInZone(e.starts_at, e.timezone)} · {e.venue_name} ·{" "}
                  {e.capacity} places
                </p>
                {e.status !== "cancelled" ? (
                  <p class="small">
                    <a href={`/host/events/${e.id}/edit`}>
                      Edit<span class="visually-hidden"> {e.title}</span>
                    </a>
                  </p>
                ) : null}
              </li>
            ))}
          </ul>
        )}
        {next || paged ? (
          <nav class="actions" aria-label="More events">
            {paged ? <a href="/host">Newest events</a> : null}
            {next ? <a href={`/host?before=${encodeURIComponent(next)}`}>Older events</a> : null}
          </nav>
        ) : null}
      </>
    ),
  });
}

export async function renderBecomeHost(
  c: AppContext,
  options: { error?: string; status?: RenderOptions["status"] } = {},
): Promise<Response> {
  const state = await pageState(c);
  return render(c, {
    title: "Become a host",
    status: options.status,
    head: HOST_HEAD,
    body: (
      <section class="card narrow" aria-labelledby="become-h">
        <h1 id="become-h">Become a host</h1>
        <p>Hosts create events, sell or give away tickets, and run the gate with their own scanner devices.</p>
        {options.error ? <Alert kind="error">{options.error}</Alert> : null}
        <form method="post" action="/host/become">
          <CsrfField token={state.csrfToken} />
          <button type="submit" class="block">
            Become a host
          </button>
        </form>
        <p class="muted small">Hosting needs a verified email address.</p>
      </section>
    ),
  });
}
