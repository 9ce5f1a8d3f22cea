/** Waitlist fixtures: a sold-out event, its line, and the requests of the waitlist's routes. */
import { expect } from "vitest";
import { call } from "../../helpers";
import { codeOfResponse, objectRows, rows } from "../../support/db";
import { bearer } from "../auth/helpers";
import { buyers, createEvent, hostWithToken, order } from "../events/helpers";

export type Person = Awaited<ReturnType<typeof buyers>>[number];

/** Asserts a problem answer's status and code (the body is shown when the status differs). */
export async function expectProblem(res: Response, status: number, code: string) {
  expect(res.status, await res.clone().text()).toBe(status);
  expect(await codeOfResponse(res)).toBe(code);
}

export async function people(count: number): Promise<Person[]> {
  return buyers(count);
}

/**
 * A published free event of `capacity`, sold out by as many holders (one ticket each, through the
 * Worker), with `overrides` for the event.
 */
export async function soldOutEvent(capacity: number, overrides: Record<string, unknown> = {}) {
  const host = await hostWithToken();
  const event = await createEvent(host.token, { capacity, perUserLimit: 1, ...overrides });
  const holders = await people(capacity);
  const orders: string[] = [];
  for (const holder of holders) {
    const res = await order(event.id, holder.token);
    if (res.status !== 201) throw new Error(`sell out: ${res.status} ${await res.text()}`);
    orders.push(((await res.json()) as { order: { id: string } }).order.id);
  }
  return { host, event, holders, orders };
}

const jsonHeaders = (token: string) => ({ ...bearer(token), "Content-Type": "application/json" });

export function join(eventId: string, token: string) {
  return call(`/api/v1/events/${eventId}/waitlist`, { method: "POST", headers: bearer(token) });
}

export function leave(eventId: string, token: string) {
  return call(`/api/v1/events/${eventId}/waitlist`, { method: "DELETE", headers: bearer(token) });
}

export function accept(offerId: string, token: string, headers: Record<string, string> = {}) {
  return call(`/api/v1/waitlist/offers/${offerId}/accept`, {
    method: "POST",
    headers: { ...jsonHeaders(token), ...headers },
    body: "{}",
  });
}

export function decline(offerId: string, token: string) {
  return call(`/api/v1/waitlist/offers/${offerId}/decline`, { method: "POST", headers: bearer(token) });
}

export function cancelOrder(orderId: string, token: string) {
  return call(`/api/v1/orders/${orderId}/cancel`, { method: "POST", headers: bearer(token) });
}

/** Holder `i` of a soldOutEvent gives their ticket back (200 expected): the seat goes to the line. */
export async function giveBack(sold: { holders: readonly Person[]; orders: readonly string[] }, i = 0): Promise<void> {
  const holder = sold.holders[i];
  const orderId = sold.orders[i];
  if (!holder || !orderId) throw new Error(`no holder ${i}`);
  const res = await cancelOrder(orderId, holder.token);
  if (res.status !== 200) throw new Error(`give back: ${res.status} ${await res.text()}`);
}

/**
 * A soldOutEvent of one seat (with `overrides`), one person in its line, and the offer they got when
 * the holder gave the seat back.
 */
export async function offeredEvent(overrides: Record<string, unknown> = {}) {
  const sold = await soldOutEvent(1, overrides);
  const [person] = await people(1);
  if (!person) throw new Error("no people");
  const joined = await join(sold.event.id, person.token);
  if (joined.status !== 201) throw new Error(`join: ${joined.status}`);
  await giveBack(sold);
  const offerId = (await entryOf(sold.event.id, person.token))?.offerId;
  if (!offerId) throw new Error("no offer");
  return { ...sold, person, offerId };
}

export function hostView(eventId: string, token: string) {
  return call(`/api/v1/events/${eventId}/waitlist`, { headers: bearer(token) });
}

export function hostSettings(eventId: string, token: string, settings: Record<string, unknown>) {
  return call(`/api/v1/events/${eventId}/waitlist`, {
    method: "PATCH",
    headers: jsonHeaders(token),
    body: JSON.stringify(settings),
  });
}

export interface MyEntry {
  event: { id: string; title: string; startsAt: string };
  position: number | null;
  status: string;
  offerId: string | null;
  offerExpiresAt: string | null;
  orderId: string | null;
}

export async function mine(token: string): Promise<MyEntry[]> {
  const res = await call("/api/v1/me/waitlist", { headers: bearer(token) });
  if (res.status !== 200) throw new Error(`me/waitlist: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { items: MyEntry[] }).items;
}

/** The user's entry for the event, as GET /api/v1/me/waitlist shows it. */
export async function entryOf(eventId: string, token: string): Promise<MyEntry | undefined> {
  return (await mine(token)).find((e) => e.event.id === eventId);
}

export interface ObjectEntry {
  user_id: string;
  number: number;
  status: string;
  offer_id: string | null;
  offer_expires_at: number | null;
  order_id: string | null;
}

/** The line as the event's object keeps it, in line order. */
export function objectLine(eventId: string): Promise<ObjectEntry[]> {
  return objectRows<ObjectEntry>(
    eventId,
    "SELECT user_id, number, status, offer_id, offer_expires_at, order_id FROM waitlist ORDER BY number",
  );
}

/** The D1 read model of the line, in line order. */
export function d1Line(eventId: string) {
  return rows<{
    user_id: string;
    position: number;
    status: string;
    offer_id: string | null;
    offer_expires_at: number | null;
    order_id: string | null;
  }>(
    "SELECT user_id, position, status, offer_id, offer_expires_at, order_id FROM waitlist_entries WHERE event_id = ? ORDER BY position",
    eventId,
  );
}
