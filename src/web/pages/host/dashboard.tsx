/**
 * /host/events/:id, the host's page of one event: its state and actions, live counts (rendered from
 * the event's inventory object, as GET /api/v1/events/:id reads them, then kept current by
 * /assets/host.js over the live WebSocket), sales analytics (eventAnalytics, as GET
 * /api/v1/events/:id/analytics) and the gate devices.
 */
import type { AppContext } from "../../../context";
import { formatMoney } from "../../../features/email/templates";
import type { Analytics } from "../../../features/events/analytics";
import { eventAnalytics } from "../../../features/events/analytics";
import { inventoryOf } from "../../../features/events/inventory";
import { type Caller, type EventRow, hasEnded, toApiEvent } from "../../../features/events/service";
import { listDevices } from "../../../features/gate/devices";
import { DomainError } from "../../../lib/errors";
import { Alert, CsrfField, type FieldErrors } from "../../components";
import type { FormFields } from "../../forms";
import { pageState, type RenderOptions, render } from "../../page";
import { TicketsByDay } from "./chart";
import { devicesDeps, publicOrigin } from "./context";
import { DevicesSection, type Pairing } from "./devices";
import { formatInZone } from "./units";

export const HOST_HEAD = <link rel="stylesheet" href="/assets/host.css" />;
export const HOST_SCRIPTS = ["/assets/host.js"] as const;

const STATUS_BADGE: Record<EventRow["status"], string> = {
  draft: "badge warn",
  published: "badge ok",
  cancelled: "badge bad",
};

export function StatusBadge(props: { status: EventRow["status"] }) {
  return <span class={STATUS_BADGE[props.status]}>{props.status[0]?.toUpperCase() + props.status.slice(1)}</span>;
}

export interface DashboardExtras {
  status?: RenderOptions["status"];
  notice?: string;
  error?: string;
  pairing?: Pairing;
  deviceValues?: FormFields;
  deviceErrors?: FieldErrors;
  deviceError?: string;
}

/** Analytics, or null when neither D1 nor the last good answer can be had (the page still renders). */
async function analyticsOrNull(c: AppContext, event: EventRow): Promise<Analytics | null> {
  try {
    return await eventAnalytics(c.env.DB, event.id, event.currency);
  } catch (error) {
    if (error instanceof DomainError) return null;
    throw error;
  }
}

function Stat(props: { name: string; label: string; value: number | string }) {
  return (
    <div class="stat">
      <span class="value" data-stat={props.name}>
        {props.value}
      </span>
      <span class="label">{props.label}</span>
    </div>
  );
}

const percent = (rate: number) => `${Math.round(rate * 1000) / 10}%`;

export async function renderDashboard(
  c: AppContext,
  caller: Caller,
  row: EventRow,
  extras: DashboardExtras,
): Promise<Response> {
  const [stats, analytics, devices, state] = await Promise.all([
    inventoryOf(c.env.EVENT_INVENTORY, row.id).stats(),
    analyticsOrNull(c, row),
    listDevices(devicesDeps(c), caller, row.id),
    pageState(c),
  ]);
  const event = toApiEvent(row);
  const base = `/host/events/${row.id}`;
  const live = row.status !== "cancelled";
  return render(c, {
    title: `${row.title} · Host`,
    status: extras.status,
    head: HOST_HEAD,
    scripts: HOST_SCRIPTS,
    body: (
      <>
        <p class="crumbs">
          <a href="/host">Your events</a>
        </p>
        <div class="event-head">
          <h1>{row.title}</h1>
          <StatusBadge status={row.status} />
        </div>
        <p class="muted">
          {formatInZone(row.starts_at, row.timezone)} – {formatInZone(row.ends_at, row.timezone)} · {row.venue_name},{" "}
          {row.venue_address}
        </p>
        {extras.notice ? <Alert kind="success">{extras.notice}</Alert> : null}
        {extras.error ? <Alert kind="error">{extras.error}</Alert> : null}
        <div class="actions">
          {row.status !== "cancelled" ? (
            <a class="button secondary" href={`${base}/edit`}>
              Edit
            </a>
          ) : null}
          {row.status === "published" ? <a href={`/e/${row.id}`}>Public page</a> : null}
          {row.status === "draft" ? (
            <details class="confirm">
              <summary class="button">Publish…</summary>
              <form method="post" action={`${base}/publish`}>
                <CsrfField token={state.csrfToken} />
                <p>
                  Publishing lists the event and opens ticket sales{row.sales_start_at ? " at the time you set" : ""}.
                </p>
                <button type="submit">Publish now</button>
              </form>
            </details>
          ) : null}
          {row.status !== "cancelled" && !hasEnded(row, Date.now()) ? (
            <a class="button danger-outline" href={`${base}/cancel`}>
              Cancel event…
            </a>
          ) : null}
        </div>

        <section id="live" aria-labelledby="live-h" data-live-url={live ? `/api/v1/events/${row.id}/live` : undefined}>
          <h2 id="live-h">Sales and check-ins</h2>
          <div class="stats five">
            <Stat name="capacity" label="Capacity" value={stats.capacity} />
            <Stat name="sold" label="Sold" value={stats.sold} />
            <Stat name="held" label="In checkout" value={stats.held} />
            <Stat name="remaining" label="Remaining" value={stats.remaining} />
            <Stat name="checkedIn" label="Checked in" value={stats.checkedIn} />
          </div>
          <p class="muted small" id="live-status" role="status">
            {live ? "Figures as of loading this page." : "The event is cancelled."}
          </p>
          <p class="visually-hidden" id="live-summary" aria-live="polite" />
        </section>

        <section id="analytics" aria-labelledby="analytics-h">
          <h2 id="analytics-h">Analytics</h2>
          {analytics ? (
            <>
              <dl class="figures">
                <div>
                  <dt>Tickets issued</dt>
                  <dd data-figure="tickets">{analytics.ticketCount}</dd>
                </div>
                <div>
                  <dt>Checked in</dt>
                  <dd data-figure="checked-in">{analytics.checkedInCount}</dd>
                </div>
                <div>
                  <dt>Check-in rate</dt>
                  <dd data-figure="rate">{percent(analytics.checkInRate)}</dd>
                </div>
                <div>
                  <dt>Revenue kept</dt>
                  <dd data-figure="revenue">{formatMoney(analytics.revenue, analytics.currency)}</dd>
                </div>
              </dl>
              {analytics.stale ? (
                <p class="muted small">
                  Showing the last figures we had ({analytics.generatedAt}); fresh ones are delayed.
                </p>
              ) : null}
              <TicketsByDay days={analytics.attendeesByDate} />
            </>
          ) : (
            <Alert kind="info">Analytics are briefly unavailable. Reload in a minute.</Alert>
          )}
        </section>

        <DevicesSection
          eventId={row.id}
          cancelled={row.status === "cancelled"}
          devices={devices.items}
          csrfToken={state.csrfToken}
          origin={publicOrigin(c)}
          pairing={extras.pairing}
          values={extras.deviceValues}
          errors={extras.deviceErrors}
          formError={extras.deviceError}
        />
        <p class="muted small">
          Price {event.price === 0 ? "free" : formatMoney(event.price, event.currency)} · up to {event.perUserLimit} per
          person · version {event.version}
        </p>
      </>
    ),
  });
}
