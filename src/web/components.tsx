/** Small pieces every page's forms share: the CSRF field, a labelled field with its error, alerts. */
import type { Child } from "hono/jsx";
import { CSRF_FIELD } from "../http/csrf";
import type { FieldError } from "../lib/errors";

export function CsrfField(props: { token: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.token} />;
}

/** Field errors by path ("venue.lat"), as a form shows them next to its inputs. */
export type FieldErrors = Record<string, string>;

export function toFieldErrors(errors: readonly FieldError[] | undefined): FieldErrors {
  const out: FieldErrors = {};
  for (const error of errors ?? []) out[error.path] ??= error.message;
  return out;
}

interface FieldProps {
  name: string;
  label: string;
  type?: string;
  value?: string | number | null;
  error?: string;
  hint?: string;
  required?: boolean;
  autocomplete?: string;
  inputmode?: "search" | "email" | "url" | "text" | "decimal" | "none" | "tel" | "numeric";
  maxlength?: number;
  min?: string | number;
  max?: string | number;
  step?: string | number;
  pattern?: string;
  autofocus?: boolean;
  /** A multi-line field. */
  textarea?: boolean;
}

/** A labelled input; an error is announced and tied to the input (aria-invalid, aria-describedby). */
export function Field(props: FieldProps) {
  const id = `f-${props.name.replace(/[^a-zA-Z0-9_-]/g, "-")}`;
  const described = [props.hint ? `${id}-hint` : null, props.error ? `${id}-error` : null].filter(Boolean).join(" ");
  const common = {
    id,
    name: props.name,
    required: props.required,
    autocomplete: props.autocomplete,
    maxlength: props.maxlength,
    autofocus: props.autofocus,
    "aria-invalid": props.error ? "true" : undefined,
    "aria-describedby": described || undefined,
  };
  return (
    <div class={props.error ? "field invalid" : "field"}>
      <label for={id}>{props.label}</label>
      {props.hint ? (
        <p class="hint" id={`${id}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.textarea ? (
        <textarea {...common} rows={5}>
          {props.value ?? ""}
        </textarea>
      ) : (
        <input
          {...common}
          type={props.type ?? "text"}
          value={props.value ?? undefined}
          inputmode={props.inputmode}
          min={props.min}
          max={props.max}
          step={props.step}
          pattern={props.pattern}
        />
      )}
      {props.error ? (
        <p class="field-error" id={`${id}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

export function Alert(props: { kind?: "error" | "success" | "info"; children: Child }) {
  const kind = props.kind ?? "info";
  return (
    <div class={`alert ${kind}`} role={kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

/** A form's own error (not a field's), announced when the form comes back with it. */
export function FormError(props: { error?: string }) {
  return props.error ? (
    <p class="field-error" role="alert">
      {props.error}
    </p>
  ) : null;
}

/**
 * A list row's status cell: "Revoked", or "Active" with a revoke button that submits the row's form
 * with `name=value` (one form and one CSRF field for the whole list).
 */
export function RevokeCell(props: { revoked: boolean; name: string; value: string; label: string }) {
  return props.revoked ? (
    <span class="badge bad">Revoked</span>
  ) : (
    <>
      <span class="badge ok">Active</span>{" "}
      <button type="submit" name={props.name} value={props.value} class="link danger-link">
        Revoke<span class="visually-hidden"> {props.label}</span>
      </button>
    </>
  );
}

/**
 * A list whose rows carry their own buttons (revoke, replay, turn off…): one form around the table,
 * so the whole list shares one CSRF field, each button sending its row's id as its own `name=value`.
 * `hidden` adds fields every button sends; `children` are the body's rows. Scrolls sideways on a
 * narrow screen rather than squeezing its columns.
 */
export function TableForm(props: {
  action: string;
  csrfToken: string;
  columns: readonly string[];
  hidden?: Readonly<Record<string, string>>;
  children: Child;
}) {
  return (
    <form method="post" action={props.action} class="table-scroll">
      <CsrfField token={props.csrfToken} />
      {Object.entries(props.hidden ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <table>
        <thead>
          <tr>
            {props.columns.map((label) => (
              <th scope="col">{label}</th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </form>
  );
}
