/**
 * The wallet's reads: a person's tickets with their order and event (D1 read model), grouped by
 * order, and whether each paid order may still be refunded under its event's policy — the same
 * rules src/features/payments/policy.ts enforces when the refund is asked for, computed ahead so the
 * page can say why not instead of offering a button that would fail.
 */
import { LIMITS } from "../../../config/limits";
import { refundDeadline } from "../../../features/events/refund-window";
import { type RefundPolicy, refundPolicyOf } from "../../../features/payments/policy";

export interface WalletTicket {
  id: string;
  serial: number;
  status: "active" | "void" | "redeemed" | "refunding";
  redeemedAt: number | null;
}

export interface WalletOrder {
  id: string;
  status: string;
  amount: number;
  currency: string;
  event: {
    id: string;
    title: string;
    startsAt: number;
    endsAt: number;
    timezone: string;
    venueName: string;
    venueAddress: string;
    status: string;
    checkInOpensAt: number;
  };
  tickets: WalletTicket[];
}

interface Row {
  id: string;
  serial: number;
  status: WalletTicket["status"];
  redeemed_at: number | null;
  order_id: string;
  order_status: string | null;
  amount: number | null;
  currency: string | null;
  event_id: string;
  title: string;
  starts_at: number;
  ends_at: number;
  timezone: string;
  venue_name: string;
  venue_address: string;
  event_status: string;
  check_in_opens_at: number;
}

/** The person's orders with tickets (only theirs: every row is filtered by user id), by event start. */
export async function walletOrders(db: D1Database, userId: string, orderId?: string): Promise<WalletOrder[]> {
  const rows = await db
    .prepare(
      `SELECT t.id, t.serial, t.status, t.redeemed_at, t.order_id,
              o.status AS order_status, o.amount, o.currency,
              e.id AS event_id, e.title, e.starts_at, e.ends_at, e.timezone, e.venue_name, e.venue_address,
              e.status AS event_status, e.check_in_opens_at
       FROM tickets t
       JOIN events e ON e.id = t.event_id
       LEFT JOIN orders o ON o.id = t.order_id
       WHERE t.user_id = ?1 AND (?2 IS NULL OR t.order_id = ?2)
       ORDER BY e.starts_at, t.order_id, t.serial
       LIMIT ?3`,
    )
    .bind(userId, orderId ?? null, LIMITS.pageSizeMax * 5)
    .all<Row>();
  const orders = new Map<string, WalletOrder>();
  for (const row of rows.results) {
    let order = orders.get(row.order_id);
    if (!order) {
      order = {
        id: row.order_id,
        status: row.order_status ?? "confirmed",
        amount: row.amount ?? 0,
        currency: row.currency ?? "",
        event: {
          id: row.event_id,
          title: row.title,
          startsAt: row.starts_at,
          endsAt: row.ends_at,
          timezone: row.timezone,
          venueName: row.venue_name,
          venueAddress: row.venue_address,
          status: row.event_status,
          checkInOpensAt: row.check_in_opens_at,
        },
        tickets: [],
      };
      orders.set(row.order_id, order);
    }
    order.tickets.push({ id: row.id, serial: row.serial, status: row.status, redeemedAt: row.redeemed_at });
  }
  return [...orders.values()];
}

export type RefundState =
  /** Free orders: nothing to refund. */
  | { kind: "none" }
  | { kind: "allowed"; until: number }
  | { kind: "pending" }
  | { kind: "refunded" }
  | { kind: "denied"; reason: string; until?: number };

const HOUR = 60 * 60 * 1000;

export function refundState(order: WalletOrder, policy: RefundPolicy | null, now: number): RefundState {
  if (order.amount === 0) return { kind: "none" };
  if (order.status === "refunded" || order.status === "refunded_sold_out") return { kind: "refunded" };
  if (order.tickets.some((t) => t.status === "refunding")) return { kind: "pending" };
  if (order.event.status === "cancelled") {
    return { kind: "denied", reason: "The event was cancelled: paid orders are refunded automatically." };
  }
  if (order.status !== "confirmed") return { kind: "denied", reason: "Only a paid, confirmed order can be refunded." };
  if (order.tickets.some((t) => t.status === "redeemed")) {
    return { kind: "denied", reason: "A ticket of this order was used at the gate, so it cannot be refunded." };
  }
  if (!policy?.refundable) return { kind: "denied", reason: "This event does not offer refunds." };
  const until = refundDeadline(
    { startsAt: order.event.startsAt, checkInOpensAt: order.event.checkInOpensAt },
    policy.cutoffHours,
  );
  if (now >= until) {
    const byCutoff = until === order.event.startsAt - policy.cutoffHours * HOUR;
    return {
      kind: "denied",
      until,
      reason: byCutoff
        ? `Refunds closed ${policy.cutoffHours} h before the event.`
        : "Refunds closed when check-in opened.",
    };
  }
  return { kind: "allowed", until };
}

/** Each paid order's event policy, one read per event. */
export async function refundPolicies(
  db: D1Database,
  orders: readonly WalletOrder[],
  defaultCutoffHours: number,
): Promise<Map<string, RefundPolicy>> {
  const ids = [...new Set(orders.filter((o) => o.amount > 0).map((o) => o.event.id))];
  const policies = await Promise.all(ids.map((id) => refundPolicyOf(db, id, defaultCutoffHours)));
  return new Map(ids.map((id, i) => [id, policies[i] as RefundPolicy]));
}
