/**
 * Tips' edges: Stripe failing to open a checkout (transient: retry the same key; permanent: the tip
 * fails), a key reused for another tip, a handle that cannot be one; webhooks that are not for us,
 * arrive late, are unpaid or carry no payment; captures that do not match (livemode, no currency, no
 * tip named); refunds that changed nothing; refund jobs Stripe refuses or already did; cursors that
 * do not parse; and the reconciliation of an expired or unreadable session.
 */
import { env } from "cloudflare:workers";
import type Stripe from "stripe";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { applyTipCapture, createTip, tipMismatches } from "../../../src/features/money";
import { type PaymentsDeps, paymentsDepsFromEnv } from "../../../src/features/payments";
import { PAYMENTS_RECONCILE_CRON } from "../../../src/features/payments/cron";
import { encodeCursor } from "../../../src/lib/crypto";
import { freezeClock } from "../../support/clock";
import { rows } from "../../support/db";
import { captureLogs } from "../../support/logs";
import { outboxEmails } from "../../support/outbox";
import { givePayoutAccount } from "../../support/payouts";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { buyers } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";

let stripe: FakeStripe;
beforeEach(() => {
  stripe = useFakeStripe();
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

interface TipRow {
  id: string;
  status: string;
  amount: number;
  refunded_amount: number;
  payment_intent: string | null;
  checkout_session_id: string | null;
  checkout_url: string | null;
}

async function creator() {
  const [user] = await buyers(1);
  if (!user) throw new Error("no user");
  const handle = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;
  await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
    .bind(handle, user.id, Date.now())
    .run();
  const accountId = await givePayoutAccount(user.id, { chargesEnabled: true });
  return { ...user, handle, accountId };
}

function tip(h: PaymentsHarness, handle: string, body: Record<string, unknown>, key = crypto.randomUUID()) {
  return h.fetch(`/api/v1/profiles/${handle}/tips`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": key },
    body: JSON.stringify(body),
  });
}

async function createdTip(h: PaymentsHarness, handle: string, body: Record<string, unknown>) {
  const res = await tip(h, handle, body);
  expect(res.status, await res.clone().text()).toBe(201);
  const { tipId, checkoutUrl } = (await res.json()) as { tipId: string; checkoutUrl: string };
  return { tipId, session: stripe.sessionByUrl(checkoutUrl) };
}

const tipRow = (id: string) => rows<TipRow>("SELECT * FROM tips WHERE id = ?", id).then((r) => r[0]);
const eventStatus = (id: string) =>
  rows<{ status: string }>("SELECT status FROM stripe_events WHERE id = ?", id).then((r) => r[0]?.status);
const typeOf = async (res: Response) => ((await res.json()) as { type: string }).type.split("/").at(-1);

function depsOf(h: PaymentsHarness): PaymentsDeps {
  const deps = paymentsDepsFromEnv(h.env);
  if (!deps) throw new Error("payments not configured in tests");
  return deps;
}

const GUEST = { amount: 500, currency: "USD", email: "edge@example.com" };

describe("creating a tip: Stripe failing, keys reused, handles that cannot exist", () => {
  it("Stripe unreachable: payment-provider-error with Retry-After, the tip stays pending; the same key then opens one session", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const logs = captureLogs();
    stripe.script = (call) => (call.path === "/v1/checkout/sessions" ? "network-error" : undefined);
    const key = crypto.randomUUID();
    const res = await tip(h, c.handle, GUEST, key);
    expect(res.status).toBe(502);
    expect(res.headers.get("Retry-After")).not.toBeNull();
    expect(await typeOf(res)).toBe("payment-provider-error");
    expect(logs.entries("tip checkout not created", "warn")).toHaveLength(1);
    const [pending] = await rows<TipRow>("SELECT * FROM tips WHERE recipient_id = ?", c.id);
    expect(pending).toMatchObject({ status: "pending", checkout_session_id: null });

    stripe.script = () => undefined;
    const retry = await tip(h, c.handle, GUEST, key);
    expect(retry.status).toBe(201);
    expect(((await retry.json()) as { tipId: string }).tipId).toBe(pending?.id);
    expect(await rows("SELECT id FROM tips WHERE recipient_id = ?", c.id)).toHaveLength(1);
  });

  it("Stripe opened the session but its answer was lost: the same key a little later gets that session back, not an idempotency_error", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    // The session is made but the answer is lost; the SDK's own retry then never gets through.
    let attempts = 0;
    stripe.script = (call) => {
      if (call.path !== "/v1/checkout/sessions") return undefined;
      attempts += 1;
      return attempts === 1 ? "accept-then-drop" : "network-error";
    };
    const key = crypto.randomUUID();
    expect((await tip(h, c.handle, GUEST, key)).status).toBe(502);
    const opened = [...stripe.sessions.keys()];
    expect(opened).toHaveLength(1);

    stripe.script = () => undefined;
    freezeClock(Date.now() + 7_000);
    const retry = await tip(h, c.handle, GUEST, key);
    expect(retry.status).toBe(201);
    const creates = stripe.callsTo("POST", "/v1/checkout/sessions");
    expect(creates.at(-1)).toMatchObject({ status: 200, replayed: true });
    expect([...stripe.sessions.keys()]).toEqual(opened);
    const [row] = await rows<TipRow>("SELECT * FROM tips WHERE recipient_id = ?", c.id);
    expect(row).toMatchObject({ status: "pending", checkout_session_id: opened[0] });
  });

  it("Stripe refusing the session: the tip fails (no Retry-After), and the same key cannot revive it", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const logs = captureLogs();
    stripe.script = (call) =>
      call.path === "/v1/checkout/sessions" ? { status: 400, type: "invalid_request_error" } : undefined;
    const deps = depsOf(h);
    const input = { ...GUEST, handle: c.handle, sender: null, clientKey: crypto.randomUUID(), returnBase: "https://x" };
    await expect(createTip(deps, input)).rejects.toMatchObject({ code: "payment-provider-error" });
    expect(logs.entries("tip checkout not created", "error")).toHaveLength(1);
    const [failed] = await rows<TipRow>("SELECT * FROM tips WHERE recipient_id = ?", c.id);
    expect(failed?.status).toBe("failed");

    stripe.script = () => undefined;
    await expect(createTip(deps, input)).rejects.toMatchObject({ code: "conflict" });
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(0);
  });

  it("the same fan's key for another amount is idempotency-key-reused; nothing new is stored", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const deps = depsOf(h);
    const input = { ...GUEST, handle: c.handle, sender: null, clientKey: crypto.randomUUID(), returnBase: "https://x" };
    const first = await createTip(deps, input);
    await expect(createTip(deps, { ...input, amount: 600 })).rejects.toMatchObject({ code: "idempotency-key-reused" });
    await expect(createTip(deps, { ...input, currency: "EUR" })).rejects.toMatchObject({
      code: "idempotency-key-reused",
    });
    // The same tip again: the same checkout, no second session.
    expect(await createTip(deps, input)).toEqual(first);
    expect(await rows("SELECT id FROM tips WHERE recipient_id = ?", c.id)).toHaveLength(1);
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(1);
  });

  it("a handle that cannot be one is 404 before anything is read or charged", async () => {
    const h = new PaymentsHarness();
    const res = await tip(h, encodeURIComponent("no such!"), GUEST);
    expect(res.status).toBe(404);
    expect(await typeOf(res)).toBe("not-found");
    expect(stripe.calls).toHaveLength(0);
  });
});

describe("tip webhooks at their edges", () => {
  it("a tip event of a type tips do not handle is ignored and changes nothing", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const event = stripeEvent("payment_intent.created", {
      id: "pi_other",
      object: "payment_intent",
      metadata: { kind: "tip", tipId },
    });
    expect((await h.webhook(event)).status).toBe(200);
    await h.drain();
    expect(await eventStatus(event.id)).toBe("ignored");
    expect(await tipRow(tipId)).toMatchObject({ status: "pending", checkout_session_id: session.id });
  });

  it("a completed session that is not paid yet (async payment) leaves the tip pending, no refund", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const event = stripeEvent("checkout.session.completed", { ...stripe.session(session.id), status: "complete" });
    await h.webhook(event);
    await h.drain();
    expect(await eventStatus(event.id)).toBe("processed");
    expect((await tipRow(tipId))?.status).toBe("pending");
    expect(await rows("SELECT id FROM refunds WHERE order_id = ?", tipId)).toHaveLength(0);
  });

  it("an event whose livemode disagrees with its session is not believed: not fulfilled, refunded", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const event = stripeEvent("checkout.session.completed", stripe.pay(session.id));
    expect((await h.webhook(JSON.stringify({ ...event, livemode: true }))).status).toBe(200);
    await h.drain();
    expect((await tipRow(tipId))?.status).toBe("pending");
    expect(await rows("SELECT reason FROM refunds WHERE order_id = ?", tipId)).toEqual([
      { reason: "checkout-mismatch" },
    ]);
  });

  it("an expired session naming no tip is ignored; one older than what was applied is skipped", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const anonymous = stripeEvent("checkout.session.expired", {
      ...stripe.session(session.id),
      id: "cs_anonymous",
      client_reference_id: null,
      metadata: { kind: "tip" },
    });
    await h.webhook(anonymous);
    await h.drain();
    expect(await eventStatus(anonymous.id)).toBe("ignored");

    // Refunded in full at t, then a snapshot from before (t − 60) arrives late: skipped, the tip stays refunded.
    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(session.id)));
    await h.drain();
    const pi = session.payment_intent as string;
    const now = Math.floor(Date.now() / 1000);
    const full = stripe.refundInDashboard(pi, 500);
    await h.webhook(stripeEvent("charge.refunded", full, now));
    await h.drain();
    const stale = stripeEvent("charge.refunded", { ...full, amount_refunded: 100 }, now - 60);
    await h.webhook(stale);
    await h.drain();
    expect(await eventStatus(stale.id)).toBe("skipped");
    expect(await tipRow(tipId)).toMatchObject({ status: "refunded", refunded_amount: 500 });
  });

  it("charge.refunded with nothing refunded changes nothing; one for an unknown tip or without a payment is ignored", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(session.id)));
    await h.drain();
    const nothing = stripeEvent("charge.refunded", stripe.chargeObject(session.payment_intent as string));
    await h.webhook(nothing);
    await h.drain();
    expect(await eventStatus(nothing.id)).toBe("processed");
    expect(await tipRow(tipId)).toMatchObject({ status: "succeeded", refunded_amount: 0 });

    const base = { object: "charge", amount: 500, amount_refunded: 500, currency: "usd" };
    const unknown = stripeEvent("charge.refunded", {
      ...base,
      id: "ch_unknown",
      payment_intent: "pi_unknown_tip",
      metadata: { kind: "tip", tipId: "no-such-tip" },
    });
    const bare = stripeEvent("charge.refunded", {
      ...base,
      id: "ch_bare",
      payment_intent: null,
      metadata: { kind: "tip", tipId },
    });
    const dispute = stripeEvent("charge.dispute.created", {
      id: "dp_unknown",
      object: "dispute",
      payment_intent: "pi_unknown_dispute",
      reason: "fraudulent",
      metadata: { kind: "tip", tipId: "no-such-tip" },
    });
    for (const event of [unknown, bare, dispute]) {
      await h.webhook(event);
      await h.drain();
      expect(await eventStatus(event.id)).toBe("ignored");
    }
    expect(await tipRow(tipId)).toMatchObject({ status: "succeeded", refunded_amount: 0 });
  });
});

describe("applyTipCapture and tipMismatches directly", () => {
  it("a paid session naming no tip is found by its session id, yet not fulfilled (its names disagree): refunded", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const paid = { ...stripe.pay(session.id), metadata: {}, client_reference_id: null };
    expect(await applyTipCapture(depsOf(h), paid as unknown as Stripe.Checkout.Session, false)).toBe("processed");
    expect((await tipRow(tipId))?.status).toBe("pending");
    expect(await rows("SELECT order_id FROM refunds WHERE payment_intent = ?", paid.payment_intent)).toEqual([
      { order_id: tipId },
    ]);
  });

  it("a paid session without a payment intent does nothing; one for a tip this deployment lacks is ignored and logged", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, GUEST);
    const deps = depsOf(h);
    const noPi = { ...stripe.session(session.id), payment_status: "paid", payment_intent: null };
    expect(await applyTipCapture(deps, noPi as unknown as Stripe.Checkout.Session, false)).toBe("processed");
    expect((await tipRow(tipId))?.status).toBe("pending");

    const logs = captureLogs();
    const foreign = {
      ...stripe.pay(session.id),
      id: "cs_foreign",
      metadata: { kind: "tip", tipId: "elsewhere" },
      client_reference_id: "elsewhere",
    };
    expect(await applyTipCapture(deps, foreign as unknown as Stripe.Checkout.Session, false)).toBe("ignored");
    expect(logs.entries("tip payment this deployment does not know: ignored", "warn")).toMatchObject([
      { origin: "reconcile" },
    ]);
    expect(await rows("SELECT id FROM refunds WHERE payment_intent = ?", foreign.payment_intent)).toHaveLength(0);
  });

  it("a tip whose creator has since left still succeeds: the receipt goes out, no notification is made", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { ...GUEST, email: "left@example.com" });
    await env.DB.prepare("UPDATE tips SET recipient_id = NULL WHERE id = ?").bind(tipId).run();
    await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(session.id)));
    await h.drain();
    expect(await tipRow(tipId)).toMatchObject({ status: "succeeded", payment_intent: session.payment_intent });
    expect(await outboxEmails({ to: "left@example.com", template: "tip-receipt" })).toHaveLength(1);
    expect(await rows("SELECT id FROM notifications WHERE order_id = ?", tipId)).toHaveLength(0);
  });

  it("tipMismatches: a session without a currency, a row without a session id, and a believed livemode", () => {
    const tipRowLike = { id: "tip1", checkout_session_id: null, amount: 500, currency: "USD" };
    const session = {
      id: "cs_1",
      client_reference_id: "tip1",
      metadata: { tipId: "tip1" },
      amount_total: 500,
      currency: null,
    };
    expect(tipMismatches(session, false, tipRowLike, false)).toEqual(["currency"]);
    expect(tipMismatches({ ...session, currency: "usd" }, false, tipRowLike, false)).toEqual([]);
    expect(tipMismatches({ ...session, currency: "usd" }, null, tipRowLike, false)).toEqual(["livemode"]);
    expect(
      tipMismatches(
        { ...session, currency: "usd", metadata: null },
        false,
        { ...tipRowLike, checkout_session_id: "cs_1" },
        false,
      ),
    ).toEqual(["session"]);
  });
});

describe("refund jobs, cursors and reconciliation", () => {
  it("Stripe refusing a tip's refund leaves the tip paid; 'already refunded' settles it without a refund id", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    for (const [answer, settled] of [
      [{ status: 400, type: "invalid_request_error", code: "amount_too_large" }, false],
      [{ status: 400, type: "invalid_request_error", code: "charge_already_refunded" }, true],
    ] as const) {
      const { tipId, session } = await createdTip(h, c.handle, GUEST);
      await h.webhook(stripeEvent("checkout.session.completed", stripe.pay(session.id)));
      await h.drain();
      stripe.script = (call) => (call.path === "/v1/refunds" ? answer : undefined);
      expect((await h.fetch(`/api/v1/tips/${tipId}/refund`, { method: "POST", token: c.token })).status).toBe(202);
      await h.drain();
      const [job] = await rows<{ status: string; stripe_refund_id: string | null; last_error: string | null }>(
        "SELECT status, stripe_refund_id, last_error FROM refunds WHERE order_id = ?",
        tipId,
      );
      if (settled) {
        expect(job).toMatchObject({ status: "succeeded", stripe_refund_id: null });
        expect(await tipRow(tipId)).toMatchObject({ status: "refunded", refunded_amount: 500 });
      } else {
        expect(job?.status).not.toBe("succeeded");
        expect(job?.last_error).toEqual(expect.any(String));
        expect(await tipRow(tipId)).toMatchObject({ status: "succeeded", refunded_amount: 0 });
      }
      stripe.script = () => undefined;
    }
  });

  it("GET /api/v1/me/tips with a cursor that does not parse is 400 invalid-cursor", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    for (const cursor of ["!!!", encodeCursor("no-separator"), encodeCursor("abc|tip1")]) {
      const res = await h.fetch(`/api/v1/me/tips?cursor=${encodeURIComponent(cursor)}`, { token: c.token });
      expect(res.status, cursor).toBe(400);
    }
  });

  it("the reconciliation fails a tip whose session expired and counts one Stripe cannot read as an error", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const expired = await createdTip(h, c.handle, GUEST);
    const unreadable = await createdTip(h, c.handle, GUEST);
    stripe.expire(expired.session.id);
    stripe.script = (call) =>
      call.method === "GET" && call.path.endsWith(unreadable.session.id) ? "network-error" : undefined;
    const logs = captureLogs();
    await h.cron(PAYMENTS_RECONCILE_CRON, Date.now() + 11 * 60 * 1000);
    expect((await tipRow(expired.tipId))?.status).toBe("failed");
    expect((await tipRow(unreadable.tipId))?.status).toBe("pending");
    // (Tips of earlier tests in this file are unknown to this test's fake Stripe: errors too.)
    expect(logs.entries("reconciliation of a tip failed", "error")).toContainEqual(
      expect.objectContaining({ tipId: unreadable.tipId }),
    );
    const [run] = await rows<{ summary: string }>("SELECT summary FROM reconciliation_runs WHERE name = 'tips'");
    const summary = JSON.parse(run?.summary ?? "{}") as { failed: number; errors: number };
    expect(summary.failed).toBeGreaterThanOrEqual(1);
    expect(summary.errors).toBeGreaterThanOrEqual(1);
  });
});
