/**
 * Host pages: `/host` (their events, or the offer to become a host), the event form
 * (`/host/new-event`, `/host/events/:id/edit`), publish and cancel, and `/host/events/:id` (live
 * sales and check-ins, analytics, gate devices). Every change goes through the same service as the
 * API's route for it, under the same per-user write budget; only the event's host sees its pages
 * (anyone else gets the API's answer: 404 for a draft, 403 for a public event).
 */
import { Hono } from "hono";
import type { AppContext, AppEnv } from "../../context";
import { API_KEY_SCOPES, WEBHOOK_EVENT_TYPES } from "../../db/schema-integrations";
import { CreateApiKeyBody } from "../../features/api-keys/schema";
import { createApiKey, revokeApiKey } from "../../features/api-keys/service";
import { becomeHost } from "../../features/auth/account";
import { authDeps } from "../../features/auth/deps";
import { cancelEventAndRefund } from "../../features/event-cancellation";
import * as events from "../../features/events/service";
import { forgetDevice } from "../../features/gate/authenticator";
import { registerDevice, revokeDevice } from "../../features/gate/devices";
import { CreateDeviceBody } from "../../features/gate/schema";
import { onboardingLink, publicOrigin } from "../../features/money";
import { paymentsDepsFromEnv } from "../../features/payments";
import { createEndpoint, deleteEndpoint, rotateSecret, updateEndpoint } from "../../features/webhooks/endpoints";
import { pingEndpoint, replayDelivery } from "../../features/webhooks/manual";
import { fieldErrors } from "../../http/validation";
import { DomainError, type FieldError } from "../../lib/errors";
import type { toFieldErrors } from "../components";
import { type FormFields, readForm } from "../forms";
import { pageState, type RenderOptions, render, seeOther } from "../page";
import { renderCancelConfirm } from "./host/cancel";
import {
  apiKeysDeps,
  deliveryDeps,
  devicesDeps,
  endpointsDeps,
  eventsDeps,
  hostCaller,
  signedIn,
  spendWrite,
} from "./host/context";
import { HOST_HEAD, HOST_SCRIPTS, renderDashboard } from "./host/dashboard";
import { renderDeliveries } from "./host/deliveries";
import { EventForm, type EventFormMode, formErrors, formValues, readEventForm } from "./host/event-form";
import { renderBecomeHost, renderHostHome } from "./host/home";
import { checked, EVENT_FIELD, renderIntegrations, SCOPE_FIELD } from "./host/integrations";

/** Messages after a change, by a fixed key in the URL (never text from the URL itself). */
const NOTICES: Record<string, string> = {
  host: "You are a host now. Create your first event.",
  created: "Draft created. Only you can see it until you publish it.",
  saved: "Changes saved.",
  published: "Published: the event is listed and its sales follow the times you set.",
  cancelled: "The event is cancelled. Ticket holders are being emailed and paid orders refunded.",
  revoked: "Device revoked: it can no longer scan or see counts.",
  "key-revoked": "Key revoked: its next request is refused.",
  "endpoint-enabled": "Endpoint on: new events are delivered to it again.",
  "endpoint-disabled": "Endpoint off: nothing is delivered to it until you turn it on.",
  "endpoint-deleted": "Endpoint deleted, with its delivery log.",
  "test-sent": "Test ping sent: its delivery, with what the endpoint answered, is at the top of the list.",
  replayed: "Sent again: the delivery shows what the endpoint answered this time.",
};

/** The endpoint changes the integrations page's buttons send, as `<change>:<endpoint id>`. */
const ENDPOINT_CHANGES = ["enable", "disable", "delete", "rotate", "test"] as const;

const notice = (c: AppContext) => NOTICES[c.req.query("notice") ?? ""];

async function renderEventForm(
  c: AppContext,
  mode: EventFormMode,
  options: {
    action: string;
    title: string;
    values: FormFields;
    errors?: ReturnType<typeof toFieldErrors>;
    alert?: string;
    status?: RenderOptions["status"];
  },
): Promise<Response> {
  const state = await pageState(c);
  return render(c, {
    title: options.title,
    status: options.status,
    head: HOST_HEAD,
    scripts: HOST_SCRIPTS,
    bodyData: mode === "create" ? { "default-timezone": "1" } : undefined,
    body: (
      <>
        <p class="crumbs">
          <a href="/host">Your events</a>
        </p>
        <h1>{options.title}</h1>
        <EventForm
          mode={mode}
          action={options.action}
          csrfToken={state.csrfToken}
          values={options.values}
          errors={options.errors}
          alert={options.alert}
        />
      </>
    ),
  });
}

/** Field errors a service reported (validation-failed carries them as `errors`). */
function serviceFieldErrors(error: DomainError): readonly FieldError[] {
  const errors = error.extensions.errors;
  return Array.isArray(errors) ? (errors as FieldError[]) : [];
}

/** A new host's form starts in the zone of their latest event (else host.js offers the browser's). */
async function lastTimezone(db: D1Database, hostId: string): Promise<string> {
  const row = await db
    .prepare("SELECT timezone FROM events WHERE host_id = ? ORDER BY created_at DESC LIMIT 1")
    .bind(hostId)
    .first<{ timezone: string }>();
  return row?.timezone ?? "";
}

export const hostPages = new Hono<AppEnv>()
  .get("/host", async (c) => {
    const caller = signedIn(c);
    if (!caller.roles.includes("host")) return renderBecomeHost(c);
    return renderHostHome(c, caller, notice(c));
  })
  // Payouts: to Stripe's onboarding (a one-time link), or back to /host saying why not.
  .post("/host/payouts", async (c) => {
    await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const deps = paymentsDepsFromEnv(c.env);
    if (!deps) {
      return renderHostHome(c, caller, undefined, {
        status: 503,
        payoutsError: "Payments are not configured here: set the Stripe keys to set up payouts.",
      });
    }
    try {
      const url = await onboardingLink(deps, caller.id, publicOrigin(c));
      c.header("Cache-Control", "no-store");
      return c.redirect(url, 303);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "payment-provider-error") throw error;
      return renderHostHome(c, caller, undefined, { status: 503, payoutsError: error.detail });
    }
  })
  .post("/host/become", async (c) => {
    await readForm(c);
    const caller = signedIn(c);
    try {
      await becomeHost(authDeps(c), caller.id);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "email-not-verified") throw error;
      return renderBecomeHost(c, {
        status: 403,
        error:
          "Verify your email address before hosting events: open the link in the email we sent when you signed up, or sign in with a code sent to your email, which verifies it too.",
      });
    }
    return seeOther(c, "/host?notice=host");
  })
  // Not /host/events/new: a static path beside /host/events/:id… would make Hono's RegExpRouter refuse
  // the app's routes, and every request (the API's too) would be matched by the slower TrieRouter
  // (test/http/router.test.ts).
  .get("/host/new-event", async (c) => {
    const caller = hostCaller(c);
    return renderEventForm(c, "create", {
      action: "/host/new-event",
      title: "New event",
      values: { currency: "EUR", price: "0", timezone: await lastTimezone(c.env.DB, caller.id) },
    });
  })
  .post("/host/new-event", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const form = { action: "/host/new-event", title: "New event", values: fields, status: 400 as const };
    const read = readEventForm(fields, "create");
    if (!read.ok) return renderEventForm(c, "create", { ...form, errors: read.errors });
    try {
      const created = await events.createEvent(eventsDeps(c), caller, read.input);
      return seeOther(c, `/host/events/${created.id}?notice=created`);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "validation-failed") throw error;
      return renderEventForm(c, "create", {
        ...form,
        errors: formErrors(serviceFieldErrors(error), fields.currency ?? ""),
      });
    }
  })
  .get("/host/events/:id", async (c) => {
    const caller = hostCaller(c);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    return renderDashboard(c, caller, row, { notice: notice(c) });
  })
  .get("/host/events/:id/edit", async (c) => {
    const caller = hostCaller(c);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    if (row.status === "cancelled") throw new DomainError("invalid-transition", "A cancelled event cannot be edited.");
    return renderEventForm(c, "edit", {
      action: `/host/events/${row.id}/edit`,
      title: `Edit ${row.title}`,
      values: formValues(events.toApiEvent(row)),
    });
  })
  .post("/host/events/:id/edit", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    const form = { action: `/host/events/${row.id}/edit`, title: `Edit ${row.title}`, values: fields };
    const read = readEventForm(fields, "edit");
    if (!read.ok) return renderEventForm(c, "edit", { ...form, errors: read.errors, status: 400 });
    try {
      await events.updateEvent(eventsDeps(c), caller, row.id, read.input);
      return seeOther(c, `/host/events/${row.id}?notice=saved`);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      const currency = fields.currency ?? row.currency;
      if (error.code === "validation-failed") {
        return renderEventForm(c, "edit", {
          ...form,
          errors: formErrors(serviceFieldErrors(error), currency),
          status: 400,
        });
      }
      if (error.code === "capacity-below-sold") {
        return renderEventForm(c, "edit", { ...form, errors: { capacity: error.detail }, status: 409 });
      }
      if (error.code === "version-conflict") {
        // Someone saved meanwhile: show what is saved now (and its version), never overwrite it blindly.
        const current = await events.ownedEvent(eventsDeps(c), caller, row.id);
        return renderEventForm(c, "edit", {
          ...form,
          values: formValues(events.toApiEvent(current)),
          status: 409,
          alert:
            "This event was changed elsewhere while you were editing, so nothing you entered was saved. The form now shows the saved version: make your changes again.",
        });
      }
      throw error;
    }
  })
  .post("/host/events/:id/publish", async (c) => {
    await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const id = c.req.param("id");
    try {
      await events.publishEvent(eventsDeps(c), caller, id);
    } catch (error) {
      if (
        !(error instanceof DomainError) ||
        (error.code !== "invalid-transition" && error.code !== "payouts-not-ready")
      )
        throw error;
      const row = await events.ownedEvent(eventsDeps(c), caller, id);
      return renderDashboard(c, caller, row, { status: 409, error: `Not published: ${error.detail}` });
    }
    return seeOther(c, `/host/events/${id}?notice=published`);
  })
  .get("/host/events/:id/cancel", async (c) => {
    const caller = hostCaller(c);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    // Nothing to confirm: already cancelled, or over (cancelEvent refuses it; the dashboard says so).
    if (row.status === "cancelled" || events.hasEnded(row, Date.now())) return seeOther(c, `/host/events/${row.id}`);
    return renderCancelConfirm(c, row);
  })
  .post("/host/events/:id/cancel", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    if (fields.confirm !== "yes") {
      return renderCancelConfirm(c, row, { status: 400, error: "Tick the box to confirm: nothing was cancelled." });
    }
    try {
      await cancelEventAndRefund(c, caller, row.id);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "invalid-transition") throw error;
      return renderDashboard(c, caller, row, { status: 409, error: error.detail });
    }
    return seeOther(c, `/host/events/${row.id}?notice=cancelled`);
  })
  .post("/host/events/:id/devices", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    const row = await events.ownedEvent(eventsDeps(c), caller, c.req.param("id"));
    await spendWrite(c, caller);
    const values = { name: fields.name ?? "", role: fields.role ?? "" };
    const parsed = CreateDeviceBody.safeParse({
      name: values.name.trim() || undefined,
      role: values.role || undefined,
    });
    if (!parsed.success) {
      const deviceErrors = formErrors(fieldErrors(parsed.error.issues), row.currency);
      return renderDashboard(c, caller, row, { status: 400, deviceValues: values, deviceErrors });
    }
    try {
      const device = await registerDevice(devicesDeps(c), caller, row.id, parsed.data);
      // The token goes into this answer only: no redirect, so it never sits in a URL or the history.
      return renderDashboard(c, caller, row, {
        notice: `“${device.name}” is registered. Pair it now: its code is shown only once.`,
        pairing: { name: device.name, role: device.role, token: device.token },
      });
    } catch (error) {
      if (!(error instanceof DomainError) || !["limit-exceeded", "invalid-transition"].includes(error.code))
        throw error;
      return renderDashboard(c, caller, row, { status: 409, deviceValues: values, deviceError: error.detail });
    }
  })
  .get("/host/integrations", async (c) => {
    const caller = hostCaller(c);
    return renderIntegrations(c, caller.id, { notice: notice(c) });
  })
  .post("/host/integrations/keys", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const values = { ...fields, name: fields.name ?? "" };
    const parsed = CreateApiKeyBody.safeParse({
      name: values.name,
      scopes: checked(fields, SCOPE_FIELD, API_KEY_SCOPES),
    });
    if (!parsed.success) {
      const keyError = parsed.error.issues.some((issue) => issue.path[0] === "scopes")
        ? "Choose at least one thing the key may do."
        : "Give the key a name (at most 100 characters).";
      return renderIntegrations(c, caller.id, { status: 400, keyValues: values, keyError });
    }
    try {
      const key = await createApiKey(apiKeysDeps(c), caller.id, parsed.data);
      // The key goes into this answer only: no redirect, so it never sits in a URL or the history.
      return renderIntegrations(c, caller.id, {
        notice: `Key “${key.name}” created.`,
        secret: { kind: "key", label: key.name, value: key.key },
      });
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "limit-exceeded") throw error;
      return renderIntegrations(c, caller.id, { status: 409, keyValues: values, keyError: error.detail });
    }
  })
  .post("/host/integrations/keys/revoke", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    await revokeApiKey(apiKeysDeps(c), caller.id, fields.id ?? "");
    return seeOther(c, "/host/integrations?notice=key-revoked#keys");
  })
  .post("/host/integrations/endpoints", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const values = { ...fields, url: (fields.url ?? "").trim(), description: (fields.description ?? "").trim() };
    const events = checked(fields, EVENT_FIELD, WEBHOOK_EVENT_TYPES);
    const problem =
      values.url === "" || values.url.length > 2048
        ? "Give the endpoint's URL (at most 2,048 characters)."
        : values.description.length > 500
          ? "The description is at most 500 characters."
          : events.length === 0
            ? "Choose at least one event for it to receive."
            : null;
    if (problem)
      return renderIntegrations(c, caller.id, { status: 400, endpointValues: values, endpointError: problem });
    try {
      const { endpoint, secret } = await createEndpoint(endpointsDeps(c), caller.id, {
        url: values.url,
        events,
        ...(values.description ? { description: values.description } : {}),
      });
      // The secret goes into this answer only, as a new key does.
      return renderIntegrations(c, caller.id, {
        notice: "Endpoint added: it receives the events you chose from now on.",
        secret: { kind: "endpoint", label: endpoint.url, value: secret },
      });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      if (error.code === "invalid-url") {
        return renderIntegrations(c, caller.id, { status: 422, endpointValues: values, endpointError: error.detail });
      }
      if (error.code === "too-many-webhook-endpoints") {
        return renderIntegrations(c, caller.id, { status: 409, endpointValues: values, endpointError: error.detail });
      }
      throw error;
    }
  })
  .post("/host/integrations/endpoints/change", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const [change, id = ""] = (fields.change ?? "").split(/:(.*)/s);
    if (!ENDPOINT_CHANGES.includes(change as (typeof ENDPOINT_CHANGES)[number]) || !id) {
      throw new DomainError("not-found", "No such webhook endpoint.");
    }
    if (change === "rotate") {
      const { endpoint, secret } = await rotateSecret(endpointsDeps(c), caller.id, id);
      // The new secret goes into this answer only, as a new endpoint's does.
      return renderIntegrations(c, caller.id, {
        notice: "New signing secret made. The previous one keeps signing for 24 hours: switch your receiver over.",
        secret: { kind: "endpoint", label: endpoint.url, value: secret },
      });
    }
    if (change === "test") {
      try {
        await pingEndpoint(deliveryDeps(c), caller.id, id);
      } catch (error) {
        if (!(error instanceof DomainError) || error.code !== "invalid-transition") throw error;
        return renderDeliveries(c, caller.id, id, { status: 409, error: error.detail });
      }
      return seeOther(c, `/host/integrations/endpoints/${encodeURIComponent(id)}?notice=test-sent#deliveries`);
    }
    if (change === "delete") await deleteEndpoint(c.env.DB, caller.id, id);
    else await updateEndpoint(endpointsDeps(c), caller.id, id, { enabled: change === "enable" });
    return seeOther(c, `/host/integrations?notice=endpoint-${change}d#webhooks`);
  })
  .get("/host/integrations/endpoints/:id", async (c) => {
    const caller = hostCaller(c);
    const cursor = c.req.query("cursor");
    return renderDeliveries(c, caller.id, c.req.param("id"), { notice: notice(c), ...(cursor ? { cursor } : {}) });
  })
  .post("/host/integrations/deliveries/replay", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const deliveryId = fields.id ?? "";
    const endpointId = fields.endpoint ?? "";
    if (!deliveryId || !endpointId) throw new DomainError("not-found", "No such delivery.");
    try {
      await replayDelivery(deliveryDeps(c), caller.id, deliveryId);
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== "invalid-transition") throw error;
      return renderDeliveries(c, caller.id, endpointId, { status: 409, error: error.detail });
    }
    return seeOther(
      c,
      `/host/integrations/endpoints/${encodeURIComponent(endpointId)}?notice=replayed#d-${encodeURIComponent(deliveryId)}`,
    );
  })
  .post("/host/events/:id/devices/revoke", async (c) => {
    const fields = await readForm(c);
    const caller = hostCaller(c);
    await spendWrite(c, caller);
    const id = c.req.param("id");
    const deviceId = fields.deviceId ?? "";
    if (!deviceId) throw new DomainError("not-found", "No such device.");
    await revokeDevice(devicesDeps(c), caller, id, deviceId);
    forgetDevice(deviceId);
    return seeOther(c, `/host/events/${id}?notice=revoked#devices`);
  });
