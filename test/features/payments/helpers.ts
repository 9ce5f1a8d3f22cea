/** Payments fixtures: paid events, checkouts through the Worker, Stripe events for them, stored rows. */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { rows } from "../../support/db";
import { outboxEmails } from "../../support/outbox";
import { type FakeSession, type FakeStripe, stripeEvent } from "../../support/stripe";
import { emailOfUser } from "../../support/users";
import { createUser } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, inventory } from "../events/helpers";
import type { PaymentsHarness } from "./harness";

export const PRICE = 1500;

export async function paidEvent(overrides: Record<string, unknown> = {}) {
  const host = await hostWithToken();
  const event = await createEvent(host.token, { price: PRICE, currency: "EUR", capacity: 10, ...overrides });
  return { host, event };
}

export async function buyer() {
  const [one] = await buyers(1);
  if (!one) throw new Error("no buyer");
  return one;
}

export interface CheckoutBody {
  order: { id: string; eventId: string; status: string; quantity: number; amount: number; currency: string };
  checkoutUrl: string;
  holdExpiresAt: string;
}

/** A paid order through the Worker: 201 with a checkout URL, and the fake Stripe session behind it. */
export async function checkout(
  h: PaymentsHarness,
  stripe: FakeStripe,
  eventId: string,
  token: string,
  quantity = 1,
  headers: Record<string, string> = {},
): Promise<CheckoutBody & { session: FakeSession }> {
  const res = await h.order(eventId, token, quantity, { headers });
  if (res.status !== 201) throw new Error(`checkout: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as CheckoutBody;
  return { ...body, session: stripe.sessionByUrl(body.checkoutUrl) };
}

/** The buyer pays on Stripe's page; returns the `checkout.session.completed` event Stripe would send. */
export function paid(stripe: FakeStripe, sessionId: string, created?: number) {
  return stripeEvent("checkout.session.completed", stripe.pay(sessionId), created);
}

/** D1 rows (test/support/db's `rows`), under the name this suite's importers use. */
export { rows as d1Rows } from "../../support/db";

/** A new buyer's confirmed paid order of `quantity` tickets: checked out and paid. */
export async function paidOrder(h: PaymentsHarness, stripe: FakeStripe, eventId: string, quantity = 1) {
  const who = await buyer();
  const { order, session } = await checkout(h, stripe, eventId, who.token, quantity);
  await h.webhook(paid(stripe, session.id));
  await h.drain();
  expect(await orderStatus(order.id)).toBe("confirmed");
  return { who, order, pi: stripe.session(session.id).payment_intent as string, session };
}

export async function orderStatus(orderId: string): Promise<string | undefined> {
  return (await rows<{ status: string }>("SELECT status FROM orders WHERE id = ?", orderId))[0]?.status;
}

export function paymentsOf(orderId: string) {
  return rows<{
    payment_intent: string;
    amount: number;
    amount_refunded: number;
    status: string;
    disputed_at: number | null;
  }>("SELECT * FROM payments WHERE order_id = ?", orderId);
}

export async function emailsTo(to: string, template: string) {
  return (await outboxEmails({ to, template })).map(({ id, subject, text }) => ({
    id,
    subject: subject ?? "",
    text: text ?? "",
  }));
}

export function email(userId: string): Promise<string> {
  return emailOfUser(userId);
}

/** Makes the order's hold lapse now, inside its EventInventory (as if its TTL had passed). */
export async function lapseHold(eventId: string, orderId: string): Promise<void> {
  await runInDurableObject(inventory(eventId), (_instance, state) => {
    state.storage.sql.exec("UPDATE orders SET hold_expires_at = ? WHERE id = ?", Date.now() - 1000, orderId);
  });
}

export async function ticketsOf(eventId: string, orderId: string) {
  return (await inventory(eventId).getOrder(orderId))?.tickets ?? [];
}

export async function expectStats(eventId: string, expected: { sold: number; held: number; remaining: number }) {
  expect(await inventory(eventId).stats()).toMatchObject(expected);
}

export async function adminToken(): Promise<string> {
  const admin = await createUser({ roles: ["attendee", "admin"] });
  const { signAccessToken } = await import("../../../src/features/auth/tokens");
  const { getConfig } = await import("../../../src/config");
  const sid = crypto.randomUUID();
  const now = Date.now();
  await env.DB.prepare(
    "INSERT INTO sessions (id, user_id, method, created_at, last_used_at, expires_at) VALUES (?, ?, 'password', ?, ?, ?)",
  )
    .bind(sid, admin.id, now, now, now + 86_400_000)
    .run();
  return signAccessToken(getConfig(env).jwtKeys, { sub: admin.id, sid, epoch: 0 });
}
