/**
 * The gate devices of an event on its host page: the list (never a token), the form that registers
 * one, and the pairing card shown once in the answer to that form. The card's QR code is the URL
 * `${origin}/scan#pair=<token>`: the scanner app reads the token from the fragment, which browsers
 * never send, so the secret stays out of every server and proxy log. The token is not kept anywhere:
 * it is rendered into this one response (no redirect, so it is never in a URL the browser stores).
 */
import { raw } from "hono/html";
import { encode } from "uqr";
import { QR_OPTIONS } from "../../../features/gate/qr";
import { DEVICE_ROLES } from "../../../features/gate/schema";
import { CsrfField, Field, type FieldErrors, FormError, RevokeCell, TableForm } from "../../components";
import type { FormFields } from "../../forms";

export interface DeviceItem {
  deviceId: string;
  name: string;
  role: (typeof DEVICE_ROLES)[number];
  createdAt: string;
  revokedAt: string | null;
}

export interface Pairing {
  name: string;
  role: string;
  token: string;
}

/** The text a device scans to pair (see the file's comment). */
export function pairingUrl(origin: string, token: string): string {
  return `${origin}/scan#pair=${token}`;
}

/**
 * The pairing URL as a QR code, inline SVG named for assistive technology. Encoded as the gate's
 * ticket codes are (QR_OPTIONS: error correction M, the 4-module quiet zone), but drawn as one path
 * of horizontal runs instead of a square per module: about half the bytes, for a page that must stay
 * within its budget. Only presentation attributes: the page's CSP blocks style attributes.
 */
export function pairingQr(url: string): string {
  const { data, size } = encode(url, { ecc: QR_OPTIONS.ecc, border: QR_OPTIONS.border });
  let d = "";
  for (let y = 0; y < size; y++) {
    const row = data[y] ?? [];
    for (let x = 0; x < size; x++) {
      if (!row[x]) continue;
      let run = 1;
      while (row[x + run]) run++;
      d += `M${x},${y}h${run}v1h-${run}z`;
      x += run;
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" role="img" aria-label="Pairing QR code" focusable="false" shape-rendering="crispEdges"><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`;
}

const ROLE_LABEL: Record<string, string> = {
  steward: "Steward: scans tickets",
  supervisor: "Supervisor: scans tickets and sees live counts",
};

function PairingCard(props: { pairing: Pairing; origin: string }) {
  const url = pairingUrl(props.origin, props.pairing.token);
  return (
    <section class="card pairing" id="pairing" tabindex={-1} aria-labelledby="pairing-title">
      <h3 id="pairing-title">Pair “{props.pairing.name}”</h3>
      <p>
        On the device, open the camera or the Gatehouse scanner and scan this code.{" "}
        <strong>It is shown only now</strong>: once you leave this page the token cannot be seen again (revoke the
        device and register a new one if it is lost).
      </p>
      <div class="qr">{raw(pairingQr(url))}</div>
      <label for="device-token">Or paste this token into the scanner at {`${props.origin}/scan`}</label>
      <input
        id="device-token"
        class="token"
        type="text"
        readonly
        value={props.pairing.token}
        aria-describedby="copy-hint"
        data-copy=""
      />
      <p class="hint" id="copy-hint">
        Select the token and copy it; keep it secret, it admits people at your gate.
      </p>
    </section>
  );
}

export function DevicesSection(props: {
  eventId: string;
  cancelled: boolean;
  devices: readonly DeviceItem[];
  csrfToken: string;
  origin: string;
  pairing?: Pairing;
  values?: FormFields;
  errors?: FieldErrors;
  formError?: string;
}) {
  const base = `/host/events/${props.eventId}/devices`;
  const errors = props.errors ?? {};
  return (
    <section id="devices" aria-labelledby="devices-h">
      <h2 id="devices-h">Gate devices</h2>
      {props.pairing ? <PairingCard pairing={props.pairing} origin={props.origin} /> : null}
      {props.devices.length === 0 ? (
        <p class="muted">No devices yet. Register one for each phone or scanner at your doors.</p>
      ) : (
        <TableForm
          action={`${base}/revoke`}
          csrfToken={props.csrfToken}
          columns={["Name", "Role", "Registered", "Status"]}
        >
          {props.devices.map((d) => (
            <tr>
              <td>{d.name}</td>
              <td>{d.role}</td>
              <td>
                <time datetime={d.createdAt}>{d.createdAt.slice(0, 16).replace("T", " ")} UTC</time>
              </td>
              <td>
                <RevokeCell revoked={d.revokedAt !== null} name="deviceId" value={d.deviceId} label={d.name} />
              </td>
            </tr>
          ))}
        </TableForm>
      )}
      {props.cancelled ? (
        <p class="muted">The event is cancelled: no new devices.</p>
      ) : (
        <form method="post" action={base} class="card" aria-labelledby="register-h">
          <h3 id="register-h">Register a device</h3>
          <CsrfField token={props.csrfToken} />
          <FormError error={props.formError} />
          <Field
            name="name"
            label="Device name"
            value={props.values?.name}
            error={errors.name}
            required
            maxlength={80}
            hint="Where it is used, e.g. North gate 1."
          />
          <fieldset class={errors.role ? "field invalid" : "field"}>
            <legend>Role</legend>
            {DEVICE_ROLES.map((role) => (
              <label class="choice">
                <input
                  type="radio"
                  name="role"
                  value={role}
                  checked={(props.values?.role ?? "steward") === role}
                  aria-describedby={errors.role ? "f-role-error" : undefined}
                />{" "}
                {ROLE_LABEL[role] ?? role}
              </label>
            ))}
            {errors.role ? (
              <p class="field-error" id="f-role-error">
                {errors.role}
              </p>
            ) : null}
          </fieldset>
          <button type="submit">Register and show its pairing code</button>
        </form>
      )}
    </section>
  );
}
