/**
 * The event form (new and edit). It is read into exactly the body POST /api/v1/events and PATCH
 * /api/v1/events/:id take and checked by the same zod schema, so a field gets the message the API
 * would give for it. Inputs are named by the API's error paths ("venue.lat"), which is how each
 * message finds its input. Times are typed as wall-clock times in the event's own time zone and
 * prices in major units; both are converted here (./units.ts).
 */

import type { z } from "@hono/zod-openapi";
import { CURRENCIES, CURRENCY_MINIMUMS } from "../../../config/currencies";
import { LIMITS } from "../../../config/limits";
import { formatMoney } from "../../../features/email/templates";
import { CreateEventBody, type EventInput, UpdateEventBody } from "../../../features/events/schema";
import type { ApiEvent } from "../../../features/events/service";
import { fieldErrors } from "../../../http/validation";
import { Alert, CsrfField, Field, type FieldErrors } from "../../components";
import type { FormFields } from "../../forms";
import { fromWallClock, isTimeZone, minorDigits, toMajorUnits, toMinorUnits, toWallClock } from "./units";

export type EventFormMode = "create" | "edit";

const TIME_FIELDS = ["startsAt", "endsAt", "salesStartAt", "salesEndAt", "checkInOpensAt", "checkInClosesAt"] as const;

/** The form's values for an existing event, as its inputs show them. */
export function formValues(event: ApiEvent): FormFields {
  const values: FormFields = {
    title: event.title,
    description: event.description,
    timezone: event.timezone,
    "venue.name": event.venue.name,
    "venue.address": event.venue.address,
    "venue.lat": String(event.venue.lat),
    "venue.lng": String(event.venue.lng),
    capacity: String(event.capacity),
    price: toMajorUnits(event.price, event.currency),
    currency: event.currency,
    perUserLimit: String(event.perUserLimit),
    version: String(event.version),
  };
  for (const name of TIME_FIELDS) {
    const at = event[name];
    values[name] = at ? toWallClock(Date.parse(at), event.timezone) : "";
  }
  return values;
}

/** The API's wording, except where it names a JSON type a person never sees. */
function friendlier(message: string): string {
  if (/received undefined$/.test(message)) return "is required";
  if (/expected (number|int), received string$/.test(message)) return "must be a number";
  if (message === "Invalid ISO datetime") return "must be a date and time";
  return message;
}

/** Price rules speak in minor units (1250); the form speaks money (€12.50). */
function inMoney(message: string, currency: string): string {
  if (!(CURRENCIES as readonly string[]).includes(currency)) return message;
  return message
    .replace(/at least (\d+) in [A-Z]{3}$/, (_, n: string) => `at least ${formatMoney(Number(n), currency)}`)
    .replace(/([<>]=)(\d+)$/, (_, op: string, n: string) => `${op} ${formatMoney(Number(n), currency)}`);
}

/** Field path → message for a set of API field errors, in the form's words and units. */
export function formErrors(errors: readonly { path: string; message: string }[], currency: string): FieldErrors {
  const out: FieldErrors = {};
  for (const { path, message } of errors) {
    out[path] ??= path === "price" ? inMoney(friendlier(message), currency) : friendlier(message);
  }
  return out;
}

export type EventUpdate = z.infer<typeof UpdateEventBody>;
export type ReadEventForm<T> = { ok: true; input: T } | { ok: false; errors: FieldErrors };

/**
 * The posted form as the API's body, checked by the API's schema. Blank optional times: no sales
 * window (null); doors at the API's default, LIMITS.checkInLeadMs before the start, until the end.
 */
export function readEventForm(fields: FormFields, mode: "create"): ReadEventForm<EventInput>;
export function readEventForm(fields: FormFields, mode: "edit"): ReadEventForm<EventUpdate>;
export function readEventForm(fields: FormFields, mode: EventFormMode): ReadEventForm<EventInput | EventUpdate> {
  const text = (name: string) => (fields[name] ?? "").trim();
  const blank = (name: string) => text(name) === "";
  const own: FieldErrors = {};
  const timezone = text("timezone");
  // Times cannot be read in a zone that does not exist; the zone gets its own message.
  const zone = isTimeZone(timezone) ? timezone : "UTC";
  const instant = (name: string): string | undefined => {
    if (blank(name)) return undefined;
    const at = fromWallClock(text(name), zone);
    return at === null ? text(name) : new Date(at).toISOString();
  };
  const number = (name: string): number | string | undefined => {
    if (blank(name)) return undefined;
    return /^-?\d+(\.\d+)?$/.test(text(name)) ? Number(text(name)) : text(name);
  };
  const currency = text("currency");
  let price: number | undefined;
  if (!blank("price")) {
    const minor = toMinorUnits(text("price"), (CURRENCIES as readonly string[]).includes(currency) ? currency : "EUR");
    if ("error" in minor) own.price = minor.error;
    else price = minor.value;
  }
  const startsAt = instant("startsAt");
  const endsAt = instant("endsAt");
  const startMs = startsAt ? Date.parse(startsAt) : Number.NaN;
  const body: Record<string, unknown> = {
    title: blank("title") ? undefined : text("title"),
    description: fields.description ?? "",
    startsAt,
    endsAt,
    timezone: timezone || undefined,
    venue: {
      name: blank("venue.name") ? undefined : text("venue.name"),
      address: blank("venue.address") ? undefined : text("venue.address"),
      lat: number("venue.lat"),
      lng: number("venue.lng"),
    },
    capacity: number("capacity"),
    price,
    currency: currency || undefined,
    perUserLimit: number("perUserLimit"),
    salesStartAt: instant("salesStartAt") ?? null,
    salesEndAt: instant("salesEndAt") ?? null,
    checkInOpensAt:
      instant("checkInOpensAt") ??
      (Number.isFinite(startMs) ? new Date(startMs - LIMITS.checkInLeadMs).toISOString() : undefined),
    checkInClosesAt: instant("checkInClosesAt") ?? endsAt,
  };
  if (mode === "edit") body.version = number("version");
  const parsed = (mode === "create" ? CreateEventBody : UpdateEventBody).safeParse(body);
  const errors = parsed.success ? {} : formErrors(fieldErrors(parsed.error.issues), currency);
  Object.assign(errors, own);
  if (!parsed.success || Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, input: parsed.data };
}

function CurrencyField(props: { value: string; error?: string }) {
  return (
    <div class={props.error ? "field invalid" : "field"}>
      <label for="f-currency">Currency</label>
      <select
        id="f-currency"
        name="currency"
        required
        aria-invalid={props.error ? "true" : undefined}
        aria-describedby={props.error ? "f-currency-error" : undefined}
      >
        {CURRENCIES.map((code) => (
          <option value={code} selected={code === props.value}>
            {code}
          </option>
        ))}
      </select>
      {props.error ? (
        <p class="field-error" id="f-currency-error">
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** Labels of the form's inputs, by path: the error summary links each message to its input. */
const LABELS: Record<string, string> = {
  title: "Title",
  description: "Description",
  timezone: "Time zone",
  startsAt: "Starts",
  endsAt: "Ends",
  "venue.name": "Venue",
  "venue.address": "Address",
  "venue.lat": "Latitude",
  "venue.lng": "Longitude",
  capacity: "Capacity",
  price: "Price",
  currency: "Currency",
  perUserLimit: "Tickets per person",
  salesStartAt: "Sales open",
  salesEndAt: "Sales close",
  checkInOpensAt: "Doors open",
  checkInClosesAt: "Check-in closes",
  version: "Version",
};

export interface EventFormProps {
  mode: EventFormMode;
  action: string;
  csrfToken: string;
  values: FormFields;
  errors?: FieldErrors;
  /** A message above the form (a conflict, a refused change). */
  alert?: string;
}

export function EventForm(props: EventFormProps) {
  const v = props.values;
  const e = props.errors ?? {};
  const failed = Object.entries(e);
  const currency = v.currency || "EUR";
  const minimum = CURRENCY_MINIMUMS[currency];
  const digits = minorDigits(currency);
  const time = (name: (typeof TIME_FIELDS)[number], label: string, hint?: string, required = false) => (
    <Field
      name={name}
      label={label}
      type="datetime-local"
      value={v[name]}
      error={e[name]}
      hint={hint}
      required={required}
    />
  );
  return (
    <form method="post" action={props.action} class="card event-form">
      <CsrfField token={props.csrfToken} />
      {props.mode === "edit" ? <input type="hidden" id="f-version" name="version" value={v.version ?? ""} /> : null}
      {props.alert ? <Alert kind="error">{props.alert}</Alert> : null}
      {failed.length > 0 ? (
        <div class="alert error" role="alert" tabindex={-1} id="form-errors">
          <p>
            <strong>
              {failed.length === 1 ? "1 field needs" : `${failed.length} fields need`} attention; nothing was saved.
            </strong>
          </p>
          <ul>
            {failed.map(([path, message]) => (
              <li>
                <a href={`#f-${path.replace(/[^a-zA-Z0-9_-]/g, "-")}`}>{LABELS[path] ?? path}</a>: {message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <fieldset>
        <legend>About</legend>
        <Field name="title" label="Title" value={v.title} error={e.title} required maxlength={200} />
        <Field
          name="description"
          label="Description"
          textarea
          value={v.description}
          error={e.description}
          hint="Plain text or simple HTML (paragraphs, bold, italics, links, lists)."
          maxlength={20_000}
        />
      </fieldset>
      <fieldset>
        <legend>When</legend>
        <Field
          name="timezone"
          label="Time zone"
          value={v.timezone}
          error={e.timezone}
          required
          maxlength={64}
          autocomplete="off"
          hint="Where the event happens, e.g. Europe/Amsterdam. Every time on this form is in this zone."
        />
        <div class="pair">
          {time("startsAt", "Starts", undefined, true)}
          {time("endsAt", "Ends", undefined, true)}
        </div>
        <div class="pair">
          {time("salesStartAt", "Sales open", "Blank: as soon as it is published.")}
          {time("salesEndAt", "Sales close", "Blank: until it starts.")}
        </div>
        <div class="pair">
          {time("checkInOpensAt", "Doors open", "Blank: 2 hours before it starts.")}
          {time("checkInClosesAt", "Check-in closes", "Blank: when it ends.")}
        </div>
      </fieldset>
      <fieldset>
        <legend>Where</legend>
        <Field
          name="venue.name"
          label="Venue"
          value={v["venue.name"]}
          error={e["venue.name"]}
          required
          maxlength={200}
        />
        <Field
          name="venue.address"
          label="Address"
          value={v["venue.address"]}
          error={e["venue.address"]}
          required
          maxlength={500}
        />
        <div class="pair">
          <Field
            name="venue.lat"
            label="Latitude"
            inputmode="decimal"
            value={v["venue.lat"]}
            error={e["venue.lat"]}
            required
            hint="−90 to 90, e.g. 52.37"
          />
          <Field
            name="venue.lng"
            label="Longitude"
            inputmode="decimal"
            value={v["venue.lng"]}
            error={e["venue.lng"]}
            required
            hint="−180 to 180, e.g. 4.89"
          />
        </div>
      </fieldset>
      <fieldset>
        <legend>Tickets</legend>
        <div class="pair">
          <Field
            name="capacity"
            label="Capacity"
            type="number"
            min={1}
            step={1}
            inputmode="numeric"
            value={v.capacity}
            error={e.capacity}
            required
          />
          <Field
            name="perUserLimit"
            label="Tickets per person"
            type="number"
            min={1}
            max={LIMITS.perUserTicketsMax}
            step={1}
            inputmode="numeric"
            value={v.perUserLimit}
            error={e.perUserLimit}
            hint={`Blank: ${LIMITS.perUserTicketsFree} for free events, ${LIMITS.perUserTicketsPaid} for paid.`}
          />
        </div>
        <div class="pair">
          <Field
            name="price"
            label="Price"
            inputmode={digits > 0 ? "decimal" : "numeric"}
            value={v.price}
            error={e.price}
            required
            hint={`In ${currency}${digits > 0 ? ", e.g. 12.50" : ""}. 0 makes it free${minimum ? `; paid tickets cost at least ${formatMoney(minimum, currency)}` : ""}.`}
          />
          <CurrencyField value={currency} error={e.currency} />
        </div>
      </fieldset>
      <div class="actions">
        <button type="submit">{props.mode === "create" ? "Create draft" : "Save changes"}</button>
        <a href={props.mode === "create" ? "/host" : props.action.replace(/\/edit$/, "")}>Discard</a>
      </div>
    </form>
  );
}
