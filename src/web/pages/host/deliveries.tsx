/**
 * `/host/integrations/endpoints/:id`: one webhook endpoint's delivery log, newest first, a page at a
 * time, with what each delivery's latest attempt got back; a failed or pending delivery can be sent
 * again now (replay: the same `webhook-id` and body), and a test ping sent to the endpoint alone.
 * The same services and per-user write budget as the API's routes (src/features/webhooks).
 */
import type { AppContext } from "../../../context";
import { type ApiDelivery, type ApiEndpoint, getEndpoint, listDeliveries } from "../../../features/webhooks/endpoints";
import { Alert, CsrfField, TableForm } from "../../components";
import { pageState, type RenderOptions, render } from "../../page";
import { HOST_HEAD } from "./dashboard";
import { endpointStatus, when } from "./integrations";

/** Deliveries shown per page: a screenful of rows, each with its replay button. */
export const DELIVERIES_PER_PAGE = 25;

/** A response body is shown cut to this many characters (the log keeps at most 1,000). */
const SNIPPET_SHOWN = 300;

const STATUS_BADGE: Record<ApiDelivery["status"], { label: string; kind: string }> = {
  succeeded: { label: "Delivered", kind: "ok" },
  pending: { label: "Retrying", kind: "warn" },
  failed: { label: "Failed", kind: "bad" },
};

export interface DeliveriesOptions {
  notice?: string;
  error?: string;
  status?: RenderOptions["status"];
  cursor?: string;
}

/** What the latest attempt got back: the status code and time, or why there was no answer. */
function LastAnswer(props: { delivery: ApiDelivery }) {
  const d = props.delivery;
  if (d.attempts === 0) return <span class="muted">Not attempted yet</span>;
  const answer =
    d.lastStatusCode !== null
      ? `HTTP ${d.lastStatusCode}${d.lastLatencyMs !== null ? ` in ${d.lastLatencyMs} ms` : ""}`
      : (d.lastError ?? "No answer");
  const snippet = d.responseSnippet ? d.responseSnippet.slice(0, SNIPPET_SHOWN) : null;
  return (
    <>
      {answer}
      {snippet ? (
        <details>
          <summary>Response body</summary>
          <pre class="snippet">{snippet}</pre>
        </details>
      ) : null}
    </>
  );
}

function DeliveryRows(props: { endpoint: ApiEndpoint; deliveries: readonly ApiDelivery[] }) {
  return (
    <>
      {props.deliveries.map((d) => {
        const badge = STATUS_BADGE[d.status];
        return (
          <tr id={`d-${d.id}`}>
            <td>{when(d.createdAt)}</td>
            <td>
              <code>{d.type}</code>
            </td>
            <td>
              <span class={`badge ${badge.kind}`}>{badge.label}</span>
              <div class="small muted">
                {d.attempts === 1 ? "1 attempt" : `${d.attempts} attempts`}
                {d.nextAttemptAt ? <> · next {when(d.nextAttemptAt)}</> : null}
              </div>
            </td>
            <td>
              <LastAnswer delivery={d} />
            </td>
            <td>
              {props.endpoint.enabled ? (
                <button type="submit" name="id" value={d.id} class="link">
                  Send again<span class="visually-hidden"> {`${d.type} of ${d.createdAt}`}</span>
                </button>
              ) : (
                <span class="muted">Endpoint off</span>
              )}
            </td>
          </tr>
        );
      })}
    </>
  );
}

export async function renderDeliveries(
  c: AppContext,
  hostId: string,
  endpointId: string,
  options: DeliveriesOptions = {},
): Promise<Response> {
  const endpoint = await getEndpoint(c.env.DB, hostId, endpointId);
  const [state, page] = await Promise.all([
    pageState(c),
    listDeliveries(c.env.DB, hostId, endpointId, {
      limit: DELIVERIES_PER_PAGE,
      ...(options.cursor ? { cursor: options.cursor } : {}),
    }),
  ]);
  const self = `/host/integrations/endpoints/${encodeURIComponent(endpoint.id)}`;
  return render(c, {
    title: "Webhook deliveries",
    head: HOST_HEAD,
    status: options.status,
    body: (
      <>
        <p class="crumbs">
          <a href="/host">Your events</a> › <a href="/host/integrations#webhooks">Integrations</a>
        </p>
        <h1>Webhook deliveries</h1>
        {options.notice ? <Alert kind="success">{options.notice}</Alert> : null}
        {options.error ? <Alert kind="error">{options.error}</Alert> : null}
        <section class="card" aria-labelledby="endpoint-h">
          <h2 id="endpoint-h" class="visually-hidden">
            Endpoint
          </h2>
          <p>
            <code>{endpoint.url}</code> {endpointStatus(endpoint)}
          </p>
          {endpoint.description ? <p class="muted">{endpoint.description}</p> : null}
          <p class="small">Receives {endpoint.events.join(", ")}.</p>
          {endpoint.enabled ? (
            <form method="post" action="/host/integrations/endpoints/change">
              <CsrfField token={state.csrfToken} />
              <button type="submit" name="change" value={`test:${endpoint.id}`}>
                Send a test ping
              </button>
            </form>
          ) : (
            <p class="muted">Turn the endpoint on to send to it.</p>
          )}
        </section>
        <section id="deliveries" aria-labelledby="deliveries-h">
          <h2 id="deliveries-h">{options.cursor ? "Older deliveries" : "Deliveries, newest first"}</h2>
          {page.items.length === 0 ? (
            <p class="muted">
              {options.cursor
                ? "No older deliveries."
                : "Nothing delivered yet: a delivery is listed here from its first attempt on."}
            </p>
          ) : (
            <TableForm
              action="/host/integrations/deliveries/replay"
              csrfToken={state.csrfToken}
              hidden={{ endpoint: endpoint.id }}
              columns={["Created", "Event", "Status", "Last answer", "Replay"]}
            >
              <DeliveryRows endpoint={endpoint} deliveries={page.items} />
            </TableForm>
          )}
          {page.nextCursor ? (
            <p>
              <a href={`${self}?cursor=${encodeURIComponent(page.nextCursor)}#deliveries`}>Older deliveries</a>
            </p>
          ) : null}
          {options.cursor ? (
            <p>
              <a href={`${self}#deliveries`}>Newest deliveries</a>
            </p>
          ) : null}
        </section>
      </>
    ),
  });
}
