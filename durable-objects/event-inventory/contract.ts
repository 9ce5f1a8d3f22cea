/**
 * EventInventory's contract with the Worker: the RPC requests and answers, the result codes, the scan
 * results and the live socket's address. This is the one file of the object that src/ imports (types,
 * plus SCAN_RESULTS and LIVE_URL), so the object's internals can change without touching a feature.
 */
export type { EventInventory } from "./index";

export type EventStatus = "draft" | "published" | "cancelled";

/** What the object needs to know about its event, copied from D1 on every change. */
export interface EventSnapshot {
  eventId: string;
  version: number;
  status: EventStatus;
  title: string;
  capacity: number;
  perUserLimit: number;
  price: number;
  currency: string;
  startsAt: number;
  endsAt: number;
  salesStartAt: number | null;
  salesEndAt: number | null;
  checkInOpensAt: number;
  checkInClosesAt: number;
  /** The waiting room (./queue.ts); absent in snapshots stored before it existed: no queue. */
  queue?: QueueSettings;
}

export type QueueMode = "off" | "auto" | "on";

export interface QueueSettings {
  mode: QueueMode;
  admitPerSecond: number;
}

/**
 * The queue's clock as the event's object keeps it, for the WaitingRoom shards (queueReport). The
 * object hands out the queue's numbers, densely, in batches a shard asks for (its arrivals since its
 * last report, a few times a second at most), so numbers follow arrival order to within a report
 * interval and every number is a buyer. While `active`, numbers below the cursor are admitted: it
 * moves `rate` numbers a second from `anchorCursor` at `anchorAt` (never before it), and never more
 * than `burst` past the last number handed out (`total`), so a quiet queue lets a newcomer in at once
 * but banks no more than that. Inactive: everyone is admitted at once.
 */
export interface QueueClock {
  mode: QueueMode;
  active: boolean;
  anchorAt: number;
  anchorCursor: number;
  rate: number;
  /** Numbers handed out so far: 0 … total − 1. */
  total: number;
  burst: number;
}

/**
 * Numbers below this are admitted at `now` (see QueueClock). Fractional: the cursor moves smoothly, and
 * the shards' reports re-anchor it many times a second without losing the part of a number it moved.
 */
export function cursorAt(clock: QueueClock, now: number): number {
  if (!clock.active || now <= clock.anchorAt) return clock.anchorCursor;
  const moved = clock.anchorCursor + ((now - clock.anchorAt) * clock.rate) / 1000;
  return Math.max(clock.anchorCursor, Math.min(moved, clock.total + clock.burst));
}

/** A shard's report (queueReport): `count` arrivals to number, as its batch `batch` (a retry repeats it). */
export interface QueueReport {
  shard: number;
  batch: number;
  count: number;
}

/** The clock, and the numbers `first` … `first + count − 1` for the batch (count 0: none asked, or the queue is off). */
export interface QueueReportAnswer {
  clock: QueueClock;
  first: number;
  count: number;
}

export type InventoryErrorCode =
  | "sold-out"
  | "limit-exceeded"
  | "already-registered"
  | "not-on-sale"
  | "event-started"
  | "hold-expired"
  | "order-not-found"
  | "already-paid"
  | "invalid-transition"
  | "capacity-below-sold"
  | "not-configured"
  /** `claim` on an event that has a price: paid tickets go through checkout (hold, then confirm). */
  | "not-free"
  /** `reserveRefund` on an order a ticket of which was admitted at the gate: used, so not refundable. */
  | "ticket-redeemed"
  /** A claim or hold without a valid queue pass while the event's queue is on (./queue.ts). */
  | "queue-pass-required"
  /** Joining the waitlist while tickets remain (./waitlist.ts): buy one instead. */
  | "not-sold-out"
  /** Joining the waitlist while already in line (waiting, or holding an offer). */
  | "already-waiting"
  /** Accepting an offer whose window is over (its hold lapsed): nothing changes. */
  | "offer-expired"
  /** No such offer or waitlist entry for this user (another user's answers the same). */
  | "offer-not-found"
  /** `release` for a checkout session whose hold was stretched since for a newer one: kept. */
  | "hold-extended";

export type InventoryResult<T> = { ok: true; value: T } | { ok: false; code: InventoryErrorCode; detail: string };

/**
 * `refunded`: a paid order whose money went back (tickets void, capacity free). `refunded_sold_out`: a
 * payment that arrived after its hold lapsed and the seats were gone, refunded instead of overselling.
 */
export type OrderStatus =
  | "held"
  | "confirmed"
  | "released"
  | "expired"
  | "cancelled"
  | "refunded"
  | "refunded_sold_out";

export interface InventoryOrder {
  id: string;
  eventId: string;
  userId: string;
  status: OrderStatus;
  quantity: number;
  amount: number;
  currency: string;
  holdExpiresAt: number | null;
  paymentRef: string | null;
  createdAt: number;
  updatedAt: number;
}

/**
 * `refunding`: a refund we decided is in flight (reserveRefund, before Stripe is asked): the seat is
 * still sold, the ticket can no longer be admitted; it ends `void` (refund) or `active` again (Stripe
 * refused it for good).
 */
export type TicketStatus = "active" | "void" | "redeemed" | "refunding";

export interface InventoryTicket {
  id: string;
  eventId: string;
  orderId: string;
  userId: string;
  serial: number;
  status: TicketStatus;
  /** When the ticket was admitted at the gate (the admission that counts). */
  redeemedAt: number | null;
  createdAt: number;
}

export interface Availability {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  checkedIn: number;
}

export interface Contact {
  email: string;
  name: string;
}

export interface HoldRequest {
  orderId: string;
  userId: string;
  quantity: number;
  ttlMs: number;
  /**
   * Recipient of the order confirmation email; null: nobody to notify (tickets issued for holders
   * without a mailbox, such as the development fixtures' bench holders).
   */
  contact: Contact | null;
  /** The event as the caller read it from D1: adopted when newer than the object's copy. */
  snapshot: EventSnapshot;
  /**
   * The Worker verified a queue pass for this buyer and event (src/features/queue/pass.ts). While the
   * event's queue is on, a new order without one is refused with queue-pass-required.
   */
  queuePass?: boolean;
  /**
   * When the Worker sent the call, by its clock: the wait before the object decided it tells the
   * waiting room's `auto` mode whether requests are queueing at the object (./queue.ts).
   */
  sentAt?: number;
}

export interface ConfirmRequest {
  orderId: string;
  paymentRef?: string;
}

export interface RefundRequest {
  orderId: string;
  outcome: "refunded" | "refunded_sold_out";
}

export interface OrderWithTickets {
  order: InventoryOrder;
  tickets: InventoryTicket[];
}

// ---------------------------------------------------------------- the waitlist (./waitlist.ts)

/**
 * An entry's life: `waiting` in line, `offered` a hold for one ticket for the event's offer window,
 * then `accepted` (the hold became an order or a checkout), `declined` (by the user), `expired` (the
 * window passed, or the event was cancelled) or `left` (left the line, or it could no longer be
 * offered within the per-user limit). An entry that ended may join again, at the back.
 */
export type WaitlistStatus = "waiting" | "offered" | "accepted" | "declined" | "expired" | "left";

export interface WaitlistEntry {
  eventId: string;
  userId: string;
  /** The entry's number in the event's line: 1 for the first to join, increasing; the line's order. */
  number: number;
  status: WaitlistStatus;
  /** The offer's id, which is also the id of its hold (an order). */
  offerId: string | null;
  offerExpiresAt: number | null;
  /** The order an accepted offer became (the offer's hold itself). */
  orderId: string | null;
  createdAt: number;
  updatedAt: number;
}

/** What a buyer's erasure cleared in the event's object (EventInventory.forgetContact). */
export interface ForgottenContact {
  /** Orders (offers' holds included) whose contact was cleared now. */
  orders: number;
  /** Whether a waitlist entry's contact was cleared now. */
  waitlist: boolean;
  /** Emails to them dropped from the outbox before their push. */
  emails: number;
}

export interface WaitlistJoinRequest {
  userId: string;
  /** Where the offer email goes, and the order's confirmation after it. */
  contact: Contact;
  /** The event as the caller read it from D1: adopted when newer than the object's copy. */
  snapshot: EventSnapshot;
}

export interface WaitlistSummary {
  /** In line, not yet offered. */
  waiting: number;
  /** Holding an open offer. */
  offered: number;
  paused: boolean;
  offerWindowHours: number;
}

export interface WaitlistSettingsRequest {
  paused?: boolean;
  offerWindowHours?: number;
  snapshot: EventSnapshot;
}

export interface AcceptOfferRequest {
  offerId: string;
  userId: string;
  /**
   * Paid events: the offer's hold becomes a checkout hold that ends here (the Checkout Session's
   * expiry, as for any paid order). Free events confirm at once and ignore it.
   */
  checkoutExpiresAt?: number;
}

// ---------------------------------------------------------------- the gate

export const SCAN_RESULTS = [
  "admitted",
  "already_redeemed",
  "invalid",
  "expired_code",
  "wrong_event",
  "not_active",
  "outside_window",
  /** A refund of the ticket is in flight (see EventInventory.reserveRefund): not admissible. */
  "refund_pending",
] as const;
export type ScanResult = (typeof SCAN_RESULTS)[number];
/** Results the Worker decides from the token alone, before the ticket is looked at. */
export type TokenRejection = "invalid" | "expired_code" | "wrong_event";

export interface ScanAnswer {
  nonce: string;
  result: ScanResult;
  /** When the scan happened: the object's clock online, the device's clock offline. */
  scannedAt: number;
  ticket?: { id: string; serial: number; status: TicketStatus };
  /** The admission that counts (already_redeemed, a repeat, a conflict). */
  firstScan?: ScanRef;
  /** The same device re-reading its own admission within the repeat window: the same admission. */
  repeat?: true;
  /** This device sent this nonce before: the stored answer, nothing changed. */
  replayed?: true;
  /**
   * Found while reconciling offline scans: a double admission (both scans are kept), or an admission
   * of a ticket that was refunded or voided (the holder got in and the ticket was given back).
   */
  conflict?: true;
  /** For a conflict: the other admission of the same ticket. */
  conflictWith?: ScanRef;
}

/** Which device scanned, and when. */
export interface ScanRef {
  at: number;
  deviceId: string;
  /** The device's name when it scanned (as registered by the host). */
  deviceName: string | null;
}

/** The scanning device, as the Worker authenticated it. */
export interface ScanningDevice {
  deviceId: string;
  deviceName: string;
}

export interface RedeemRequest extends ScanningDevice {
  ticketId: string;
  /** The device's id for this scan: a retry with the same nonce gets the same answer. */
  nonce: string;
}

export interface RejectedScanRequest extends ScanningDevice {
  nonce: string;
  /** The ticket the token named, when it could be read. */
  ticketId: string | null;
  result: TokenRejection;
}

export interface OfflineScan {
  nonce: string;
  ticketId: string | null;
  /** The device's clock when it scanned. */
  scannedAt: number;
  /** What the device decided on its own; only its admissions change state here. */
  deviceResult: ScanResult;
  /** Set when the Worker refused the token (signature, expiry at scannedAt, event). */
  rejected?: TokenRejection;
}

export interface GateStats {
  scans: number;
  byResult: Record<ScanResult, number>;
  /** Tickets admitted more than once, or admitted offline and refunded or voided (offline reconciliation). */
  conflicts: number;
  offlineScans: number;
}

export interface ManifestTicket {
  id: string;
  serial: number;
  status: TicketStatus;
  redeemedAt: number | null;
}

/** A page of the manifest (RPC `manifest`): what a device needs to check tickets offline. */
export interface Manifest {
  generatedAt: number;
  checkInOpensAt: number | null;
  checkInClosesAt: number | null;
  eventStatus: EventStatus | null;
  tickets: ManifestTicket[];
  nextSerial: number | null;
}

/** What a device's call answers once the device is revoked; the Worker turns it into 401. */
export const DEVICE_REVOKED = { deviceRevoked: true } as const;
export type DeviceRevoked = typeof DEVICE_REVOKED;

// ---------------------------------------------------------------- live counts

/** The object's internal URL for upgrades; only the Worker can reach an object's fetch(). */
export const LIVE_URL = "https://event-inventory.internal/live";

export interface LiveCounts {
  capacity: number;
  sold: number;
  held: number;
  remaining: number;
  checkedIn: number;
  /** Tickets admitted more than once (offline reconciliation). */
  conflicts: number;
}
