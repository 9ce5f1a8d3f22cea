/**
 * Tips through the Worker (S4): POST /api/v1/profiles/:handle/tips with its bounds per currency, its
 * required Idempotency-Key and its refusals; the Checkout Session as a destination charge; the tip's
 * webhooks through the payments inbox (capture, mismatch, refunds, disputes), the dead letters after
 * 3 failed attempts and the admin's replay; the hourly reconciliation; the lists and the refund route.
 * Stripe is the fake at the HTTP boundary; D1 and the queues are real.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { getConfig } from "../../../src/config";
import { TIP_GUEST_EMAIL, TIP_MESSAGE } from "../../../src/features/money/tips";
import { PAYMENTS_RECONCILE_CRON } from "../../../src/features/payments/cron";
import { freshIp } from "../../helpers";
import { freezeClock } from "../../support/clock";
import { rows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { givePayoutAccount } from "../../support/payouts";
import { type FakeStripe, stripeEvent, useFakeStripe } from "../../support/stripe";
import { emailOfUser } from "../../support/users";
import { Browser, ORIGIN } from "../../web/browser";
import { createUser, login } from "../auth/helpers";
import { buyers } from "../events/helpers";
import { PaymentsHarness } from "../payments/harness";
import { adminToken } from "../payments/helpers";

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
  currency: string;
  refunded_amount: number;
  refunded_at: number | null;
  payment_intent: string | null;
  checkout_session_id: string | null;
  fee_amount: number;
  message: string | null;
}

/** A creator with a handle and (unless told otherwise) a payout account that can take charges. */
async function creator(options: { account?: "charges" | "disabled" | "none" } = {}) {
  const [user] = await buyers(1);
  if (!user) throw new Error("no user");
  const handle = `t${crypto.randomUUID().replace(/-/g, "").slice(0, 20)}`;
  await env.DB.prepare("INSERT INTO handles (handle_key, user_id, state, created_at) VALUES (?, ?, 'active', ?)")
    .bind(handle, user.id, Date.now())
    .run();
  const account = options.account ?? "charges";
  const accountId =
    account === "none" ? null : await givePayoutAccount(user.id, { chargesEnabled: account === "charges" });
  return { ...user, handle, accountId };
}

async function fan() {
  const [user] = await buyers(1);
  if (!user) throw new Error("no user");
  return user;
}

function tip(
  h: PaymentsHarness,
  handle: string,
  body: Record<string, unknown>,
  options: { token?: string; key?: string | null; ip?: string } = {},
) {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (options.key !== null) headers["Idempotency-Key"] = options.key ?? crypto.randomUUID();
  if (options.ip) headers["CF-Connecting-IP"] = options.ip;
  return h.fetch(`/api/v1/profiles/${handle}/tips`, {
    method: "POST",
    token: options.token,
    headers,
    body: JSON.stringify(body),
  });
}

/** A created tip: its id, URL and the fake Stripe session behind it. */
async function createdTip(h: PaymentsHarness, handle: string, body: Record<string, unknown>, token?: string) {
  const res = await tip(h, handle, body, { token });
  expect(res.status, await res.clone().text()).toBe(201);
  const { tipId, checkoutUrl } = (await res.json()) as { tipId: string; checkoutUrl: string };
  return { tipId, checkoutUrl, session: stripe.sessionByUrl(checkoutUrl) };
}

function tipRow(id: string): Promise<TipRow | undefined> {
  return rows<TipRow>("SELECT * FROM tips WHERE id = ?", id).then((r) => r[0]);
}

async function countTips(recipientId: string): Promise<number> {
  return (await rows<{ n: number }>("SELECT COUNT(*) AS n FROM tips WHERE recipient_id = ?", recipientId))[0]?.n ?? 0;
}

function paidEvent(sessionId: string) {
  return stripeEvent("checkout.session.completed", stripe.pay(sessionId));
}

describe("POST /api/v1/profiles/:handle/tips: bounds per currency, checked before Stripe", () => {
  const cases: [string, number, number][] = [
    // currency, min, max (minor units): USD 0.50 (Stripe's minimum beats 0.30), GBP 0.30, JPY ¥50 (no minor unit).
    ["USD", 50, 50_000],
    ["GBP", 30, 39_500],
    ["JPY", 50, 75_000],
  ];
  for (const [currency, min, max] of cases) {
    it(`${currency}: ${min - 1} → 422, ${min} ok, ${max} ok, ${max + 1} → 422 (the bounds in the problem)`, async () => {
      const h = new PaymentsHarness();
      const c = await creator();
      const guest = { email: "fan@example.com", currency };
      for (const amount of [min - 1, max + 1]) {
        const res = await tip(h, c.handle, { ...guest, amount });
        expect(res.status).toBe(422);
        expect(await res.json()).toMatchObject({
          type: expect.stringMatching(/amount-out-of-range$/),
          currency,
          min,
          max,
        });
      }
      expect(stripe.callsTo("POST", "/v1/checkout/sessions")).toHaveLength(0);
      expect(await countTips(c.id)).toBe(0);
      for (const amount of [min, max]) expect((await tip(h, c.handle, { ...guest, amount })).status).toBe(201);
      expect(await countTips(c.id)).toBe(2);
    });
  }

  it("an unknown currency is a 400 and a message over 280 characters too; 280 emoji pass", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    expect((await tip(h, c.handle, { amount: 500, currency: "XXX", email: "a@example.com" })).status).toBe(400);
    const long = await tip(h, c.handle, {
      amount: 500,
      currency: "USD",
      email: "a@example.com",
      message: "x".repeat(281),
    });
    expect(long.status).toBe(400);
    const emoji = await tip(h, c.handle, {
      amount: 500,
      currency: "USD",
      email: "a@example.com",
      message: "🎉".repeat(280),
    });
    expect(emoji.status).toBe(201);
    expect(await countTips(c.id)).toBe(1);
  });
});

describe("POST /api/v1/profiles/:handle/tips: who may tip whom", () => {
  it("without an Idempotency-Key: 428 idempotency-key-required, nothing stored, Stripe not called", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const res = await tip(h, c.handle, { amount: 500, currency: "USD", email: "a@example.com" }, { key: null });
    expect(res.status).toBe(428);
    expect(((await res.json()) as { type: string }).type).toMatch(/idempotency-key-required$/);
    expect(await countTips(c.id)).toBe(0);
    expect(stripe.calls).toHaveLength(0);
  });

  it("a guest without an email: 400; a guest with one and a signed-in fan: 201", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const bare = await tip(h, c.handle, { amount: 500, currency: "USD" });
    expect(bare.status).toBe(400);
    expect(await countTips(c.id)).toBe(0);
    expect((await tip(h, c.handle, { amount: 500, currency: "USD", email: "g@example.com" })).status).toBe(201);
    const f = await fan();
    expect((await tip(h, c.handle, { amount: 500, currency: "USD" }, { token: f.token })).status).toBe(201);
    const stored = await rows<{ sender_id: string | null; guest_email: string | null }>(
      "SELECT sender_id, guest_email FROM tips WHERE recipient_id = ? ORDER BY created_at",
      c.id,
    );
    // A guest's address is sealed at rest (src/lib/pii.ts) and opens with the keys.
    const { pii } = getConfig(env);
    expect(stored.find((r) => r.sender_id === null)?.guest_email).toMatch(/^pii1\./);
    expect(stored.map((r) => ({ ...r, guest_email: pii.openOptional(r.guest_email, TIP_GUEST_EMAIL) }))).toEqual(
      expect.arrayContaining([
        { sender_id: null, guest_email: "g@example.com" },
        { sender_id: f.id, guest_email: null },
      ]),
    );
  });

  it("a creator without a payout account, or one that cannot take charges: 409 cannot-receive-tips; no handle: 404", async () => {
    const h = new PaymentsHarness();
    for (const account of ["none", "disabled"] as const) {
      const c = await creator({ account });
      const res = await tip(h, c.handle, { amount: 500, currency: "USD", email: "a@example.com" });
      expect(res.status).toBe(409);
      expect(((await res.json()) as { type: string }).type).toMatch(/cannot-receive-tips$/);
      expect(await countTips(c.id)).toBe(0);
    }
    expect((await tip(h, "nobodyholdsthis", { amount: 500, currency: "USD", email: "a@example.com" })).status).toBe(
      404,
    );
    expect(stripe.calls).toHaveLength(0);
  });

  it("the same Idempotency-Key twice (even from another address) is one tip and one Stripe session", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const key = crypto.randomUUID();
    const body = { amount: 700, currency: "USD", email: "same@example.com" };
    const ip = freshIp();
    const first = await tip(h, c.handle, body, { key, ip });
    const again = await tip(h, c.handle, body, { key, ip });
    const elsewhere = await tip(h, c.handle, body, { key, ip: freshIp() });
    expect([first.status, again.status, elsewhere.status]).toEqual([201, 201, 201]);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    const bodies = (await Promise.all([first.json(), again.json(), elsewhere.json()])) as { tipId: string }[];
    expect(new Set(bodies.map((b) => b.tipId)).size).toBe(1);
    expect(await countTips(c.id)).toBe(1);
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(1);
    // Concurrent sends of one key: still one tip.
    const key2 = crypto.randomUUID();
    const f = await fan();
    await Promise.all(Array.from({ length: 8 }, () => tip(h, c.handle, body, { key: key2, token: f.token })));
    expect(await countTips(c.id)).toBe(2);
    expect(stripe.created("/v1/checkout/sessions")).toHaveLength(2);
  });

  it("a creator leaving while tips are sent: every answer is 201, 404 or 409, and every Stripe session has its tip row", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const body = { amount: 500, currency: "USD", email: "race@example.com" };
    const sends = Array.from({ length: 20 }, () => tip(h, c.handle, body));
    const leave = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      await env.DB.batch([
        env.DB.prepare("UPDATE handles SET state = 'retired', retired_until = 0 WHERE user_id = ?").bind(c.id),
        env.DB.prepare("DELETE FROM payout_accounts WHERE user_id = ?").bind(c.id),
      ]);
    })();
    const answers = await Promise.all([...sends, leave.then(() => null)]);
    for (const res of answers) if (res) expect([201, 404, 409]).toContain(res.status);
    const created = stripe.created("/v1/checkout/sessions");
    const tips = await rows<{ id: string; checkout_session_id: string | null }>(
      "SELECT id, checkout_session_id FROM tips WHERE recipient_id = ?",
      c.id,
    );
    const ids = new Set(tips.map((t) => t.id));
    for (const call of created) expect(ids.has(call.params.client_reference_id ?? "")).toBe(true);
    expect(answers.filter((r) => r?.status === 201)).toHaveLength(created.length);
  });

  it("tipMismatches names every difference between a paid session and its tip", async () => {
    const { tipMismatches } = await import("../../../src/features/money/tips");
    const tipRow = { id: "t1", checkout_session_id: "cs_1", amount: 500, currency: "USD" };
    const session = {
      id: "cs_1",
      client_reference_id: "t1",
      metadata: { tipId: "t1" },
      amount_total: 500,
      currency: "usd",
    };
    expect(tipMismatches(session, false, tipRow, false)).toEqual([]);
    expect(tipMismatches({ ...session, id: "cs_2" }, false, tipRow, false)).toEqual(["session"]);
    expect(tipMismatches({ ...session, metadata: { tipId: "t2" } }, false, tipRow, false)).toEqual(["session"]);
    expect(tipMismatches({ ...session, amount_total: 499 }, false, tipRow, false)).toEqual(["amount"]);
    expect(tipMismatches({ ...session, currency: "eur" }, false, tipRow, false)).toEqual(["currency"]);
    expect(tipMismatches(session, true, tipRow, false)).toEqual(["livemode"]);
    expect(tipMismatches(session, null, tipRow, false)).toEqual(["livemode"]);
  });

  it("the session is a destination charge to the creator's account carrying the platform fee, keyed by the tip", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 1000, currency: "EUR", email: "a@example.com" });
    const [create] = stripe.created("/v1/checkout/sessions");
    expect(create?.idempotencyKey).toBe(`tip-checkout:${tipId}`);
    expect(create?.params).toMatchObject({
      mode: "payment",
      client_reference_id: tipId,
      "metadata[kind]": "tip",
      "payment_intent_data[metadata][tipId]": tipId,
      "payment_intent_data[transfer_data][destination]": c.accountId,
      "payment_intent_data[application_fee_amount]": "50",
      "line_items[0][price_data][currency]": "eur",
      "line_items[0][price_data][unit_amount]": "1000",
    });
    expect(create?.params.success_url).toMatch(new RegExp(`/tips/${tipId}/thanks$`));
    expect(await tipRow(tipId)).toMatchObject({ status: "pending", fee_amount: 50, checkout_session_id: session.id });

    // The smallest tip in rupees: the fee's fixed minimum would take it whole; it takes half.
    const small = await createdTip(h, c.handle, { amount: 2490, currency: "INR", email: "a@example.com" });
    expect(await tipRow(small.tipId)).toMatchObject({ amount: 2490, fee_amount: 1245 });
  });
});

describe("tip webhooks", () => {
  it("a paid session makes the tip succeed, with one receipt to the fan and one notification to the creator", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const f = await fan();
    const { tipId, session } = await createdTip(
      h,
      c.handle,
      { amount: 500, currency: "USD", message: " Thanks!\r\n" },
      f.token,
    );
    const completed = paidEvent(session.id);
    expect((await h.webhook(completed)).status).toBe(200);
    await h.drain();
    // A duplicate of the capture, delivered under a new event id (async_payment_succeeded), changes nothing.
    await h.webhook(stripeEvent("checkout.session.async_payment_succeeded", stripe.session(session.id)));
    await h.drain();
    const settled = await tipRow(tipId);
    expect(settled).toMatchObject({ status: "succeeded", payment_intent: session.payment_intent });
    // The message is sealed at rest; the creator's list opens it.
    expect(settled?.message).toMatch(/^pii1\./);
    expect(getConfig(env).pii.openOptional(settled?.message, TIP_MESSAGE)).toBe("Thanks!");
    const email = await emailOfUser(f.id);
    expect(await outboxEmails({ to: email, template: "tip-receipt" })).toHaveLength(1);
    expect(
      await rows("SELECT actor_id FROM notifications WHERE user_id = ? AND kind = 'tip' AND order_id = ?", c.id, tipId),
    ).toEqual([{ actor_id: f.id }]);
    expect(await rows("SELECT status FROM stripe_events WHERE id = ?", completed.id)).toEqual([
      { status: "processed" },
    ]);
  });

  it("a paid session whose amount, currency or tip does not match is never fulfilled: the money goes back", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 500, currency: "USD", email: "m@example.com" });
    session.amount_total = 400;
    await h.webhook(paidEvent(session.id));
    await h.drain();
    expect((await tipRow(tipId))?.status).toBe("pending");
    expect(
      await rows("SELECT reason, event_id, order_id FROM refunds WHERE payment_intent = ?", session.payment_intent),
    ).toEqual([{ reason: "checkout-mismatch", event_id: "tip", order_id: tipId }]);
    expect(await outboxEmails({ to: "m@example.com" })).toHaveLength(0);
    // Its refund comes back as charge.refunded: nothing to record, and nothing to wait for (no dead letter).
    await h.drain();
    const back = stripeEvent("charge.refunded", stripe.chargeObject(session.payment_intent as string));
    await h.webhook(back);
    await h.drain();
    expect(await rows("SELECT status FROM stripe_events WHERE id = ?", back.id)).toEqual([{ status: "ignored" }]);
    expect((await tipRow(tipId))?.status).toBe("pending");
  });

  it("charge.refunded sets partially_refunded then refunded with refundedAmount and refundedAt; a dispute sets disputed", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 2000, currency: "USD", email: "r@example.com" });
    await h.webhook(paidEvent(session.id));
    await h.drain();
    const pi = session.payment_intent as string;
    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(pi, 500)));
    await h.drain();
    const partial = await tipRow(tipId);
    expect(partial).toMatchObject({ status: "partially_refunded", refunded_amount: 500 });
    expect(partial?.refunded_at).toEqual(expect.any(Number));
    await h.webhook(stripeEvent("charge.refunded", stripe.refundInDashboard(pi, 1500)));
    await h.drain();
    expect(await tipRow(tipId)).toMatchObject({ status: "refunded", refunded_amount: 2000 });

    const other = await createdTip(h, c.handle, { amount: 800, currency: "USD", email: "d@example.com" });
    await h.webhook(paidEvent(other.session.id));
    await h.drain();
    const dispute = {
      id: `dp_${crypto.randomUUID().slice(0, 8)}`,
      object: "dispute",
      amount: 800,
      currency: "usd",
      payment_intent: other.session.payment_intent,
      reason: "fraudulent",
      status: "needs_response",
      metadata: {},
    };
    await h.webhook(stripeEvent("charge.dispute.created", dispute));
    await h.drain();
    expect((await tipRow(other.tipId))?.status).toBe("disputed");
  });

  it("an expired session fails the tip", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 500, currency: "USD", email: "x@example.com" });
    await h.webhook(stripeEvent("checkout.session.expired", stripe.expire(session.id)));
    await h.drain();
    expect((await tipRow(tipId))?.status).toBe("failed");
  });

  it("a tip webhook failing 3 times goes to the dead letters; the admin's replay recovers it", async () => {
    const h = new PaymentsHarness();
    const admin = await adminToken();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 1000, currency: "USD", email: "z@example.com" });
    stripe.pay(session.id);
    const pi = session.payment_intent as string;
    // The refund arrives while the capture's event is lost: the tip has no payment yet, every attempt fails.
    const refunded = stripeEvent("charge.refunded", stripe.refundInDashboard(pi, 1000));
    expect((await h.webhook(refunded)).status).toBe(200);
    freezeClock(Date.now());
    await h.drain({ advanceClock: true });
    const [row] = await rows<{ status: string }>("SELECT status FROM stripe_events WHERE id = ?", refunded.id);
    expect(row?.status).toBe("dead_letter");
    const [letter] = await rows<{ id: string; reason: string; source: string }>(
      "SELECT id, reason, source FROM dead_letters WHERE ref_id = ?",
      refunded.id,
    );
    expect(letter?.source).toBe("stripe-webhook");
    expect(letter?.reason).toMatch(/gave up after 3 attempts; last error: tip payment not recorded yet/);
    expect(h.settled.filter((s) => s.outcome === "retry")).toHaveLength(2);
    vi.useRealTimers();

    // The capture arrives (here: its event), then the operator replays the refund.
    await h.webhook(stripeEvent("checkout.session.completed", stripe.session(session.id)));
    await h.drain();
    expect((await tipRow(tipId))?.status).toBe("succeeded");
    const replay = await h.fetch(`/api/v1/admin/dead-letters/${letter?.id}/replay`, { method: "POST", token: admin });
    expect(replay.status).toBe(202);
    await h.drain();
    expect(await tipRow(tipId)).toMatchObject({ status: "refunded", refunded_amount: 1000 });
    expect(await rows("SELECT status FROM stripe_events WHERE id = ?", refunded.id)).toEqual([{ status: "processed" }]);
  });
});

describe("reconciliation, lists and refunds", () => {
  it("the hourly reconciliation records a tip Stripe says is paid but whose webhook never came, and writes run `tips`", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 900, currency: "USD", email: "rc@example.com" });
    const open = await createdTip(h, c.handle, { amount: 600, currency: "USD", email: "rc@example.com" });
    stripe.pay(session.id);
    await h.cron(PAYMENTS_RECONCILE_CRON, Date.now() + 11 * 60 * 1000);
    expect(await tipRow(tipId)).toMatchObject({ status: "succeeded", payment_intent: session.payment_intent });
    expect((await tipRow(open.tipId))?.status).toBe("pending");
    const [run] = await rows<{ summary: string }>("SELECT summary FROM reconciliation_runs WHERE name = 'tips'");
    expect(JSON.parse(run?.summary ?? "{}")).toMatchObject({ succeeded: expect.any(Number) });
    expect(await outboxEmails({ to: "rc@example.com", template: "tip-receipt" })).toHaveLength(1);
  });

  it("GET /api/v1/me/tips lists received and sent tips, newest first, with a cursor", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const f = await fan();
    for (const amount of [100, 200, 300])
      await createdTip(h, c.handle, { amount, currency: "USD", message: "hi" }, f.token);
    const page = await h.fetch("/api/v1/me/tips?direction=received&limit=2", { token: c.token });
    expect(page.status).toBe(200);
    const first = (await page.json()) as { items: { amount: number; message: string }[]; nextCursor: string | null };
    expect(first.items.map((i) => i.amount)).toEqual([300, 200]);
    expect(first.items[0]).toMatchObject({ currency: "USD", status: "pending", refundedAmount: 0, message: "hi" });
    const next = await h.fetch(`/api/v1/me/tips?direction=received&limit=2&cursor=${first.nextCursor}`, {
      token: c.token,
    });
    expect(((await next.json()) as { items: { amount: number }[] }).items.map((i) => i.amount)).toEqual([100]);
    const sent = await h.fetch("/api/v1/me/tips?direction=sent", { token: f.token });
    expect(((await sent.json()) as { items: unknown[] }).items).toHaveLength(3);
    expect(
      (await h.fetch("/api/v1/me/tips?direction=sent", { token: c.token }).then((r) => r.json())) as unknown,
    ).toEqual({
      items: [],
      nextCursor: null,
    });
  });

  it("POST /api/v1/tips/:id/refund: the recipient gets 202 and the refund reverses the transfer and the fee; others 404", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const f = await fan();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 1500, currency: "USD" }, f.token);
    expect((await h.fetch(`/api/v1/tips/${tipId}/refund`, { method: "POST", token: c.token })).status).toBe(409);
    await h.webhook(paidEvent(session.id));
    await h.drain();
    expect((await h.fetch(`/api/v1/tips/${tipId}/refund`, { method: "POST", token: f.token })).status).toBe(404);
    expect((await h.fetch(`/api/v1/tips/${tipId}/refund`, { method: "POST", token: c.token })).status).toBe(202);
    await h.drain();
    const refunds = stripe.created("/v1/refunds");
    expect(refunds).toHaveLength(1);
    expect(refunds[0]?.params).toMatchObject({
      payment_intent: session.payment_intent,
      reverse_transfer: "true",
      refund_application_fee: "true",
    });
    expect(await tipRow(tipId)).toMatchObject({ status: "refunded", refunded_amount: 1500 });
    expect((await h.fetch(`/api/v1/tips/${tipId}/refund`, { method: "POST", token: c.token })).status).toBe(409);
  });
});

describe("the tip flow on /@handle", () => {
  it("tipping is true in the profile JSON and the page shows the tip form only when the creator can take charges", async () => {
    const h = new PaymentsHarness();
    const able = await creator();
    const unable = await creator({ account: "disabled" });
    for (const [c, tipping] of [
      [able, true],
      [unable, false],
    ] as const) {
      await env.DB.prepare(
        "INSERT INTO profiles (user_id, handle, handle_key) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET handle = excluded.handle, handle_key = excluded.handle_key",
      )
        .bind(c.id, c.handle, c.handle)
        .run();
      const json = await h.fetch(`/api/v1/profiles/${c.handle}`);
      expect(json.status).toBe(200);
      expect(((await json.json()) as { tipping: boolean }).tipping).toBe(tipping);
      const page = await h.fetch(`/@${c.handle}`);
      const html = await page.text();
      expect(html.includes('id="tip-form"')).toBe(tipping);
      expect(html.includes("/assets/creator-tip.js")).toBe(tipping);
      if (tipping) {
        // Signed out: the guest's email field; chips 3, 5, 10 and 20 USD.
        expect(html).toContain('name="email"');
        for (const minor of [300, 500, 1000, 2000]) expect(html).toContain(`value="${minor}"`);
      }
    }
  });

  it("/tips/:id/thanks (Checkout's success URL) confirms the tip once paid, and 404s an unknown id", async () => {
    const h = new PaymentsHarness();
    const c = await creator();
    const { tipId, session } = await createdTip(h, c.handle, { amount: 500, currency: "USD", email: "ty@example.com" });
    const pending = await h.fetch(`/tips/${tipId}/thanks`);
    expect(pending.status).toBe(200);
    expect(await pending.text()).toContain("is being confirmed");
    await h.webhook(paidEvent(session.id));
    await h.drain();
    const done = await (await h.fetch(`/tips/${tipId}/thanks`)).text();
    expect(done).toContain("went through");
    expect(done).toContain("$5.00");
    expect((await h.fetch("/tips/nope/thanks")).status).toBe(404);
  });

  it("signed in by cookie, the page's form posts as the script does (CSRF header, Idempotency-Key): the tip is the fan's", async () => {
    const c = await creator();
    await env.DB.prepare(
      "INSERT INTO profiles (user_id, handle, handle_key) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET handle = excluded.handle, handle_key = excluded.handle_key",
    )
      .bind(c.id, c.handle, c.handle)
      .run();
    const who = await createUser();
    const { accessToken } = await login(who.email);
    const browser = new Browser();
    browser.cookies.set("__Host-access", accessToken);
    const page = await browser.get(`/@${c.handle}`);
    expect(page.html).toContain('id="tip-form"');
    expect(page.html).not.toContain('name="email"');
    const send = (csrf: string | undefined) =>
      browser.request(`/api/v1/profiles/${c.handle}/tips`, {
        method: "POST",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          Origin: ORIGIN,
          "Sec-Fetch-Site": "same-origin",
          "Idempotency-Key": crypto.randomUUID(),
          ...(csrf ? { "X-CSRF-Token": csrf } : {}),
        },
        body: JSON.stringify({ amount: 1000, currency: "USD", message: "for the show" }),
      });
    expect((await send(undefined)).status).toBe(403);
    const sent = await send(browser.csrf);
    expect(sent.status).toBe(201);
    const { tipId } = JSON.parse(sent.html) as { tipId: string };
    expect(await rows("SELECT sender_id, guest_email FROM tips WHERE id = ?", tipId)).toEqual([
      { sender_id: who.id, guest_email: null },
    ]);
  });
});
