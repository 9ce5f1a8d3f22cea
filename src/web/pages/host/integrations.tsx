/**
 * `/host/integrations`: a host's API keys and webhook endpoints, through the same services as the
 * API's routes for them (src/features/api-keys, src/features/webhooks) and under the same per-user
 * write budget. A new key or signing secret is rendered into the answer to the form that made it, and
 * only there: no redirect, so it never sits in a URL or the browser's history, and it is not stored
 * readable anywhere (the key as a hash, the secret sealed); a rotated secret likewise. Each endpoint's
 * delivery log, with replay and a test ping, is a page of its own (./deliveries.tsx).
 */
import type { Child } from "hono/jsx";
import type { AppContext } from "../../../context";
import { API_KEY_SCOPES, WEBHOOK_EVENT_TYPES } from "../../../db/schema-integrations";
import { listApiKeys } from "../../../features/api-keys/service";
import { type ApiEndpoint, listEndpoints } from "../../../features/webhooks/endpoints";
import { Alert, CsrfField, Field, FormError, RevokeCell, TableForm } from "../../components";
import type { FormFields } from "../../forms";
import { pageState, type RenderOptions, render } from "../../page";
import { HOST_HEAD } from "./dashboard";

/** Keys listed on the page (revoked ones too): the per-host cap of live keys is far below it. */
const KEYS_SHOWN = 100;

/** A checkbox per scope or event type, named `<prefix><value>`: the form's fields stay plain strings. */
export const SCOPE_FIELD = "scope:";
export const EVENT_FIELD = "event:";

/** The values of the checked boxes named `<prefix><value>`, in the order `all` lists them. */
export function checked<T extends string>(fields: FormFields, prefix: string, all: readonly T[]): T[] {
  return all.filter((value) => fields[`${prefix}${value}`] !== undefined);
}

const SCOPE_LABEL: Record<(typeof API_KEY_SCOPES)[number], string> = {
  "events:read": "Read your events",
  "events:write": "Create and edit your events",
  "orders:read": "Read your events' orders",
  "attendees:read": "Read your events' attendees",
  "checkins:read": "Read your events' check-ins",
};

const DISABLED_LABEL: Record<string, string> = {
  host: "Turned off by you",
  failing: "Turned off after 5 days of failed deliveries",
};

type ApiKeyItem = Awaited<ReturnType<typeof listApiKeys>>["items"][number];

/** What a form's answer shows once: the new key, or the new endpoint's signing secret. */
export interface Secret {
  kind: "key" | "endpoint";
  label: string;
  value: string;
}

export interface IntegrationsOptions {
  notice?: string;
  status?: RenderOptions["status"];
  secret?: Secret;
  keyValues?: FormFields;
  keyError?: string;
  endpointValues?: FormFields;
  endpointError?: string;
}

export const when = (iso: string | null) =>
  iso ? <time datetime={iso}>{`${iso.slice(0, 16).replace("T", " ")} UTC`}</time> : <span class="muted">never</span>;

/** A checkbox per option, named `<prefix><option>` (see `checked`), ticked as the form was sent. */
function Checkboxes<T extends string>(props: {
  legend: string;
  prefix: string;
  options: readonly T[];
  values: FormFields;
  label: (option: T) => Child;
}) {
  return (
    <fieldset class="field">
      <legend>{props.legend}</legend>
      {props.options.map((option) => (
        <label class="choice">
          <input
            type="checkbox"
            name={`${props.prefix}${option}`}
            checked={props.values[`${props.prefix}${option}`] !== undefined}
          />{" "}
          {props.label(option)}
        </label>
      ))}
    </fieldset>
  );
}

function SecretCard(props: { secret: Secret }) {
  const { secret } = props;
  const key = secret.kind === "key";
  return (
    <section class="card pairing" id="secret" tabindex={-1} aria-labelledby="secret-title">
      <h3 id="secret-title">{key ? `API key “${secret.label}”` : `Signing secret for ${secret.label}`}</h3>
      <p>
        <strong>It is shown only now</strong>:{" "}
        {key
          ? "copy it into the system that calls the API (as Authorization: Bearer …). If it is lost, revoke it and create another."
          : "copy it into the system that receives the webhooks, to verify their signatures (Standard Webhooks). If it is lost, rotate it: a rotated secret's predecessor keeps signing for 24 hours."}
      </p>
      <label for="secret-value">{key ? "API key" : "Signing secret"}</label>
      <input id="secret-value" class="token" type="text" readonly value={secret.value} />
    </section>
  );
}

function KeysSection(props: { keys: readonly ApiKeyItem[]; csrfToken: string; values?: FormFields; error?: string }) {
  const values = props.values ?? {};
  return (
    <section id="keys" aria-labelledby="keys-h">
      <h2 id="keys-h">API keys</h2>
      {props.keys.length === 0 ? (
        <p class="muted">No keys yet. A key lets your own systems read and manage your events through the API.</p>
      ) : (
        <TableForm
          action="/host/integrations/keys/revoke"
          csrfToken={props.csrfToken}
          columns={["Name", "Key", "Scopes", "Last used", "Status"]}
        >
          {props.keys.map((k) => (
            <tr>
              <td>{k.name}</td>
              <td>
                <code>{k.prefix}…</code>
              </td>
              <td>{k.scopes.join(", ")}</td>
              <td>{when(k.lastUsedAt)}</td>
              <td>
                <RevokeCell revoked={k.revokedAt !== null} name="id" value={k.id} label={k.name} />
              </td>
            </tr>
          ))}
        </TableForm>
      )}
      <form method="post" action="/host/integrations/keys" class="card" aria-labelledby="new-key-h">
        <h3 id="new-key-h">Create a key</h3>
        <CsrfField token={props.csrfToken} />
        <FormError error={props.error} />
        <Field
          name="name"
          label="Name"
          value={values.name}
          required
          maxlength={100}
          hint="What uses it, e.g. CRM sync."
        />
        <Checkboxes
          legend="What it may do"
          prefix={SCOPE_FIELD}
          options={API_KEY_SCOPES}
          values={values}
          label={(scope) => (
            <>
              {SCOPE_LABEL[scope]} <code>{scope}</code>
            </>
          )}
        />
        <button type="submit">Create key</button>
      </form>
    </section>
  );
}

export function endpointStatus(e: ApiEndpoint) {
  if (!e.enabled) return <span class="badge bad">{DISABLED_LABEL[e.disabledReason ?? "host"] ?? "Off"}</span>;
  if (e.failingSince) {
    return <span class="badge warn">Failing since {e.failingSince.slice(0, 16).replace("T", " ")} UTC</span>;
  }
  return <span class="badge ok">On</span>;
}

function EndpointsSection(props: {
  endpoints: readonly ApiEndpoint[];
  csrfToken: string;
  values?: FormFields;
  error?: string;
}) {
  const values = props.values ?? {};
  return (
    <section id="webhooks" aria-labelledby="webhooks-h">
      <h2 id="webhooks-h">Webhook endpoints</h2>
      {props.endpoints.length === 0 ? (
        <p class="muted">No endpoints yet. An endpoint receives a signed POST when something happens at your events.</p>
      ) : (
        <TableForm
          action="/host/integrations/endpoints/change"
          csrfToken={props.csrfToken}
          columns={["URL", "Events", "Status", "Change"]}
        >
          {props.endpoints.map((e) => (
            <tr>
              <td>
                <code>{e.url}</code>
                {e.description ? <div class="small muted">{e.description}</div> : null}
                <div class="small">
                  <a href={`/host/integrations/endpoints/${encodeURIComponent(e.id)}`}>
                    Deliveries<span class="visually-hidden"> to {e.url}</span>
                  </a>
                </div>
              </td>
              <td>{e.events.join(", ")}</td>
              <td>{endpointStatus(e)}</td>
              <td>
                <button type="submit" name="change" value={`${e.enabled ? "disable" : "enable"}:${e.id}`} class="link">
                  {e.enabled ? "Turn off" : "Turn on"}
                  <span class="visually-hidden"> {e.url}</span>
                </button>{" "}
                <button type="submit" name="change" value={`rotate:${e.id}`} class="link">
                  Rotate secret<span class="visually-hidden"> of {e.url}</span>
                </button>{" "}
                <button type="submit" name="change" value={`delete:${e.id}`} class="link danger-link">
                  Delete<span class="visually-hidden"> {e.url}</span>
                </button>
              </td>
            </tr>
          ))}
        </TableForm>
      )}
      <form method="post" action="/host/integrations/endpoints" class="card" aria-labelledby="new-endpoint-h">
        <h3 id="new-endpoint-h">Add an endpoint</h3>
        <CsrfField token={props.csrfToken} />
        <FormError error={props.error} />
        <Field
          name="url"
          label="URL"
          type="url"
          inputmode="url"
          value={values.url}
          required
          maxlength={2048}
          hint="https, on the public internet."
        />
        <Field name="description" label="Description (optional)" value={values.description} maxlength={500} />
        <Checkboxes
          legend="Events it receives"
          prefix={EVENT_FIELD}
          options={WEBHOOK_EVENT_TYPES}
          values={values}
          label={(type) => <code>{type}</code>}
        />
        <button type="submit">Add endpoint</button>
      </form>
    </section>
  );
}

export async function renderIntegrations(
  c: AppContext,
  hostId: string,
  options: IntegrationsOptions = {},
): Promise<Response> {
  const [state, keys, endpoints] = await Promise.all([
    pageState(c),
    listApiKeys(c.env.DB, hostId, { limit: KEYS_SHOWN }),
    listEndpoints(c.env.DB, hostId),
  ]);
  return render(c, {
    title: "Integrations",
    head: HOST_HEAD,
    status: options.status,
    body: (
      <>
        <p class="crumbs">
          <a href="/host">Your events</a>
        </p>
        <h1>Integrations</h1>
        {options.notice ? <Alert kind="success">{options.notice}</Alert> : null}
        {options.secret ? <SecretCard secret={options.secret} /> : null}
        <KeysSection
          keys={keys.items}
          csrfToken={state.csrfToken}
          values={options.keyValues}
          error={options.keyError}
        />
        <EndpointsSection
          endpoints={endpoints}
          csrfToken={state.csrfToken}
          values={options.endpointValues}
          error={options.endpointError}
        />
      </>
    ),
  });
}
