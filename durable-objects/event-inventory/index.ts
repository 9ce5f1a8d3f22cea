/**
 * EventInventory: one object per event, the only place where its capacity, holds, tickets, refund
 * reservations and redemptions change (ASVS 2.3.4, 15.4.2). Every decision is made and written inside
 * one `transactionSync`, with no await in between, so concurrent buyers are strictly serialised by the
 * object's input gate and can never oversell.
 *
 * D1 is a read model of what happens here. Each state change writes outbox rows in the same
 * transaction; the outbox is pushed to D1 right after (idempotent upserts guarded by a projection
 * sequence, so replays are harmless) and retried from the alarm until D1 has it. A free claim — the
 * hot on-sale's call — answers as soon as it is stored here, before its push reaches D1 (the buyer's
 * own reads wait for it: src/features/orders/settle.ts); every other call answers after its push, so
 * its caller reads its own write from D1.
 *
 * This file is the class: its RPC surface and the glue between calls and decisions. The decisions
 * are functions over a transaction context: ./sales.ts, ./refunds.ts, ./event.ts, ./gate/; the
 * outbox push is ./outbox.ts, live sockets ./live.ts, the tables ./schema.ts; what the Worker may
 * import is ./contract.ts.
 */
import { DurableObject } from "cloudflare:workers";
import { LIMITS } from "../../src/config/limits";
import {
  contactsPurgeAt,
  forgetContact,
  forgottenUntil,
  holdsContacts,
  purgeContacts,
  withoutForgotten,
} from "./contacts";
import {
  type AcceptOfferRequest,
  type Availability,
  type ConfirmRequest,
  DEVICE_REVOKED,
  type DeviceRevoked,
  type EventSnapshot,
  type ForgottenContact,
  type GateStats,
  type HoldRequest,
  type InventoryOrder,
  type InventoryResult,
  type LiveCounts,
  type Manifest,
  type OfflineScan,
  type OrderWithTickets,
  type QueueReport,
  type QueueReportAnswer,
  type RedeemRequest,
  type RefundRequest,
  type RejectedScanRequest,
  type ScanAnswer,
  type ScanningDevice,
  type WaitlistJoinRequest,
  type WaitlistSettingsRequest,
  type WaitlistStatus,
  type WaitlistSummary,
} from "./contract";
import { adopt } from "./event";
import { applyOffline } from "./gate/offline";
import { recordRejected, redeemOnline } from "./gate/redeem";
import { checkInPage, conflictCount, gateStats, manifestPage } from "./gate/reports";
import { isRevoked, revokeDevice } from "./gate/revocations";
import type { GateContext } from "./gate/tickets";
import { acceptLive, closeViewer, LiveFeed } from "./live";
import { OutboxPusher, outboxAppends } from "./outbox";
import { QueueGate } from "./queue";
import { refund, releaseRefund, reserveRefund } from "./refunds";
import { availability, type EventCopy, emitTicket, fail, orderRow, type SalesContext, withTickets } from "./rows";
import { claim, confirm, expireLapsed, extendHold, hold, NotFree, release, voidTickets } from "./sales";
import { migrate } from "./schema";
import {
  acceptOffer,
  configureWaitlist,
  declineOffer,
  forgetLineState,
  joinWaitlist,
  leaveWaitlist,
  serveWaitlist,
  waitlistSummary,
} from "./waitlist";

/** A decision that may free capacity, followed in its transaction by the waitlist's offers of it. */
function freeing<T>(decide: (tx: SalesContext) => T): (tx: SalesContext) => T {
  return (tx) => {
    const result = decide(tx);
    serveWaitlist(tx);
    return result;
  };
}

export class EventInventory extends DurableObject<Env> {
  #sql: SqlStorage;
  #event: EventCopy = { current: null };
  #outbox: OutboxPusher;
  #live: LiveFeed;
  #queue: QueueGate;
  /** A scan push is due at the alarm set for it (reset when the alarm runs). */
  #scanPushDue = false;
  /** People forgotten here lately, until when (./contacts.ts). */
  #forgotten: Map<string, number> = new Map();
  /** Whether orders or the waitlist may hold contacts, to be purged after the event (./contacts.ts). */
  #contacts = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#outbox = new OutboxPusher(ctx, env, () => (this.#contacts ? contactsPurgeAt(this.#event.current) : null));
    this.#live = new LiveFeed(ctx, () => this.#liveCounts());
    this.#queue = new QueueGate(this.#sql);
    ctx.blockConcurrencyWhile(async () => {
      migrate(this.#sql);
      this.#forgotten = forgottenUntil(this.#sql, Date.now());
      this.#contacts = holdsContacts(this.#sql);
      const row = this.#sql.exec<{ json: string }>("SELECT json FROM snapshot WHERE id = 1").toArray()[0];
      this.#event.current = row ? (JSON.parse(row.json) as EventSnapshot) : null;
    });
  }

  // ---------------------------------------------------------------- sales (./sales.ts, ./event.ts)

  /** Adopts the event as stored in D1 (see adopt in ./event.ts). */
  configure(snapshot: EventSnapshot): Promise<InventoryResult<Availability>> {
    // A new capacity may free seats: the waitlist's line gets them first.
    return this.#commit(freeing((tx) => adopt(tx, snapshot)));
  }

  hold(request: HoldRequest): Promise<InventoryResult<OrderWithTickets>> {
    const refused = this.#queueGate(request);
    if (refused) return Promise.resolve(refused);
    this.#noteContact(request.contact);
    return this.#commit((tx) => hold(tx, withoutForgotten(this.#forgotten, request, tx.now)));
  }

  /**
   * Free events: the hold and the sale in one transaction and one round trip. Answered once stored
   * here, without waiting for D1 (see the file comment): the push starts at once, or within
   * LIMITS.inventoryClaimPushSpacingMs of the last claim's during a burst, and the alarm armed before
   * the answer retries it should this object go away first.
   */
  async claim(request: HoldRequest): Promise<InventoryResult<OrderWithTickets>> {
    const refused = this.#queueGate(request);
    if (refused) return refused;
    this.#noteContact(request.contact);
    try {
      return await this.#commit((tx) => claim(tx, withoutForgotten(this.#forgotten, request, tx.now)), {
        awaitPush: false,
        // A refusal that stored nothing (sold out, over the limit, a replay) has nothing to push or
        // arm: after a sell-out, the crowd still knocking costs the object its decision only.
        onlyIfChanged: true,
      });
    } catch (error) {
      if (!(error instanceof NotFree)) throw error;
      // The throw rolled the hold back; whatever the adoption wrote went with it.
      return fail("not-free", "The event has a price: tickets go through checkout.");
    }
  }

  confirm(request: ConfirmRequest): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit((tx) => confirm(tx, request));
  }

  /** `heldUntilAtMost`: release only a hold not stretched past this time (see release in ./sales.ts). */
  release(request: {
    orderId: string;
    reason: string;
    heldUntilAtMost?: number;
  }): Promise<InventoryResult<InventoryOrder>> {
    return this.#commit(freeing((tx) => release(tx, request)));
  }

  voidTickets(request: { orderId: string; reason: string }): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit(freeing((tx) => voidTickets(tx, request)));
  }

  extendHold(request: { orderId: string; expiresAt: number }): Promise<InventoryResult<InventoryOrder>> {
    return this.#commit((tx) => extendHold(tx, request));
  }

  // ---------------------------------------------------------------- the waiting room (./queue.ts)

  /**
   * A WaitingRoom shard's report: numbers for its batch of new arrivals (a retried batch gets the same
   * ones), and the queue's clock. A shard reports a few times a second at most, whatever the crowd.
   */
  queueReport(report: QueueReport): QueueReportAnswer {
    return this.#queue.report(this.#event.current, report, Date.now());
  }

  // ---------------------------------------------------------------- the waitlist (./waitlist.ts)

  joinWaitlist(request: WaitlistJoinRequest): Promise<InventoryResult<{ position: number }>> {
    // Without a contact, a forgotten person's place would be offered to nobody: not taken.
    const forgotten = (this.#forgotten.get(request.userId) ?? 0) > Date.now();
    if (forgotten) return Promise.resolve(fail("not-on-sale", "The waitlist is not open to this account."));
    this.#noteContact(request.contact);
    return this.#commit((tx) => joinWaitlist(tx, request));
  }

  leaveWaitlist(request: { userId: string }): Promise<InventoryResult<{ status: WaitlistStatus }>> {
    return this.#commit((tx) => leaveWaitlist(tx, request));
  }

  declineOffer(request: { offerId: string; userId: string }): Promise<InventoryResult<{ status: WaitlistStatus }>> {
    return this.#commit((tx) => declineOffer(tx, request));
  }

  /** No waiting-room gate here: the offer is the admission (./queue.ts gates claims and holds only). */
  acceptOffer(request: AcceptOfferRequest): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit((tx) => acceptOffer(tx, request));
  }

  configureWaitlist(request: WaitlistSettingsRequest): Promise<InventoryResult<WaitlistSummary>> {
    return this.#commit((tx) => configureWaitlist(tx, request));
  }

  waitlistSummary(): WaitlistSummary {
    return waitlistSummary(this.#tx());
  }

  // ---------------------------------------------------------------- refunds (./refunds.ts)

  reserveRefund(request: { orderId: string }): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit((tx) => reserveRefund(tx, request));
  }

  releaseRefund(request: { orderId: string }): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit((tx) => releaseRefund(tx, request));
  }

  refund(request: RefundRequest): Promise<InventoryResult<OrderWithTickets>> {
    return this.#commit(freeing((tx) => refund(tx, request)));
  }

  // ---------------------------------------------------------------- erasure (./contacts.ts)

  /**
   * A buyer's erasure: their email and name leave this object, their place in the waitlist goes, and
   * emails to them not yet in D1 are dropped. Answers after the push, so the caller's D1 batch runs
   * after whatever this object had left to write there.
   */
  forgetContact(request: { userId: string }): Promise<ForgottenContact> {
    return this.#commit((tx) => {
      const forgotten = forgetContact(tx, request);
      // In the same synchronous step as the write: a claim that arrives while the push below is
      // awaited already meets it.
      this.#forgotten = forgottenUntil(tx.sql, tx.now);
      return forgotten;
    });
  }

  /**
   * The retention sweep's call (src/features/privacy/contact-retention.ts), for an event D1 says ended
   * at `endsAt`: once LIMITS.inventoryContactRetentionMs has passed since then, or since the end this
   * object knows, every contact here is cleared, as the alarm does; it reaches objects whose alarm never
   * armed for it (untouched since before the purge existed). `due` false: not yet, nothing changed.
   */
  purgeEndedContacts(request: { endsAt: number }): { due: boolean; cleared: number } {
    return this.ctx.storage.transactionSync(() => {
      const now = Date.now();
      const ours = contactsPurgeAt(this.#event.current);
      const due = request.endsAt + LIMITS.inventoryContactRetentionMs <= now || (ours !== null && ours <= now);
      if (!due) return { due, cleared: 0 };
      const cleared = purgeContacts(this.#sql);
      this.#contacts = false;
      return { due, cleared };
    });
  }

  // ---------------------------------------------------------------- reads

  /** Live counts; `sold + held + remaining = capacity` always holds. */
  stats(): Availability {
    return availability(this.#tx());
  }

  getOrder(orderId: string): OrderWithTickets | null {
    const tx = this.#tx();
    const order = orderRow(tx, orderId);
    return order ? withTickets(tx, order) : null;
  }

  // ---------------------------------------------------------------- gate (./gate/)

  /**
   * An online scan of a verified token: first scan wins; the same device re-reading within the
   * repeat window gets the same admission; a nonce seen before gets its stored answer. Answers as
   * soon as the decision is stored: the D1 read model follows through the outbox, in the background.
   */
  async redeem(request: RedeemRequest): Promise<ScanAnswer | DeviceRevoked> {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const { answer, changed } = this.ctx.storage.transactionSync(() => redeemOnline(this.#gate(), request));
    if (changed) this.#projectScansSoon();
    return answer;
  }

  /** Logs a scan the Worker refused from its token alone (invalid, expired code, other event). */
  recordRejectedScan(request: RejectedScanRequest): ScanAnswer | DeviceRevoked {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    return this.ctx.storage.transactionSync(() => recordRejected(this.#gate(), request));
  }

  /** Offline scans of one device, applied in its time order; answers in the order given. */
  async syncOfflineScans(request: ScanningDevice & { scans: OfflineScan[] }): Promise<ScanAnswer[] | DeviceRevoked> {
    if (isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const { answers, changed } = this.ctx.storage.transactionSync(() =>
      applyOffline(this.#gate(), request, request.scans),
    );
    if (changed) await this.#afterCommit();
    return answers;
  }

  /**
   * Revokes a device for this event: from now on every call it makes here answers DEVICE_REVOKED,
   * and its live sockets close. The host's revocation lands here before D1 (see
   * src/features/gate/devices.ts), so a Worker that still knows the device from its cache is
   * refused all the same. Idempotent.
   */
  revokeDevice(request: { deviceId: string }): { closedSockets: number } {
    this.ctx.storage.transactionSync(() => revokeDevice(this.#sql, request.deviceId, Date.now()));
    return { closedSockets: closeViewer(this.ctx, `device:${request.deviceId}`, "access revoked") };
  }

  /** Whether this object knows `deviceId` as revoked. */
  deviceRevoked(request: { deviceId: string }): boolean {
    return isRevoked(this.#sql, request.deviceId);
  }

  /** A page of tickets for offline checks (ids, status, redemption time: no personal data). */
  manifest(request: { afterSerial: number; limit: number; deviceId?: string }): Manifest | DeviceRevoked {
    if (request.deviceId !== undefined && isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    const event = this.#event.current;
    return {
      generatedAt: Date.now(),
      checkInOpensAt: event?.checkInOpensAt ?? null,
      checkInClosesAt: event?.checkInClosesAt ?? null,
      eventStatus: event?.status ?? null,
      ...manifestPage(this.#sql, request.afterSerial, request.limit),
    };
  }

  /** A page of admissions (ticket, serial, time, device), for the host's check-in list. */
  checkIns(request: { afterSerial: number; limit: number }): ReturnType<typeof checkInPage> {
    return checkInPage(this.#sql, request.afterSerial, request.limit);
  }

  /** Scan totals by result, conflicts, and the live counts (`deviceId`: asked by that device). */
  gateStats(request: { deviceId?: string } = {}): (GateStats & LiveCounts) | DeviceRevoked {
    if (request.deviceId !== undefined && isRevoked(this.#sql, request.deviceId)) return DEVICE_REVOKED;
    return { ...gateStats(this.#sql), ...this.#liveCounts() };
  }

  // ---------------------------------------------------------------- live counts (./live.ts)

  /**
   * WebSocket upgrade for live counts; the Worker authorises the viewer before forwarding. A revoked
   * device viewer answers 401.
   */
  override async fetch(request: Request): Promise<Response> {
    const viewer = new URL(request.url).searchParams.get("viewer") ?? "";
    if (viewer.startsWith("device:") && isRevoked(this.#sql, viewer.slice("device:".length))) {
      return new Response("Device revoked", { status: 401 });
    }
    return acceptLive(this.ctx, request, this.#liveCounts());
  }

  override webSocketMessage(): void {
    // Viewers only listen; "ping" is answered by the runtime (setWebSocketAutoResponse).
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  // ---------------------------------------------------------------- outbox and alarm (./outbox.ts)

  /**
   * Pushes the pending outbox rows to D1 now, up to one push's batches (LIMITS.inventoryDrainMaxBatches;
   * the alarm goes on with a backlog beyond them); answers what is still pending.
   */
  async sync(): Promise<{ pending: number }> {
    await this.#outbox.push();
    return { pending: this.#outbox.size() };
  }

  /** Pushes this object has run since it started: with the claims sold, how many sales each carried. */
  pushStats(): { pushes: number } {
    return { pushes: this.#outbox.pushes };
  }

  /**
   * Resolves once the pushes already under way have finished (a claim's, which its answer did not
   * wait for), without starting one; answers what is still pending (e.g. while D1 refuses).
   */
  async settled(): Promise<{ pending: number }> {
    await this.#outbox.settled();
    return { pending: this.#outbox.size() };
  }

  /**
   * Expires lapsed holds, retries the outbox push, clears the contacts once the event is well over
   * (./contacts.ts), and re-arms for whichever comes next.
   */
  override async alarm(): Promise<void> {
    this.#scanPushDue = false;
    await this.#commit((tx) => {
      freeing(expireLapsed)(tx);
      const purgeAt = contactsPurgeAt(tx.event.current);
      if (this.#contacts && purgeAt !== null && purgeAt <= tx.now) {
        purgeContacts(tx.sql);
        // Before the re-arm that follows: no purge wake-up any more.
        this.#contacts = false;
      }
    });
  }

  // ---------------------------------------------------------------- internals

  /**
   * The waiting room's gate for a claim or hold (see QueueGate.admit), judged on the newer of the
   * caller's event and ours. An order that already exists (a retried request) is never refused here.
   */
  #queueGate(request: HoldRequest): InventoryResult<never> | null {
    const current = this.#event.current;
    const event = current && current.version >= request.snapshot.version ? current : request.snapshot;
    const refused = this.#queue.admit(
      event,
      { verified: request.queuePass === true, existing: false },
      Date.now(),
      request.sentAt,
    );
    // Whether the order exists only matters for a refusal: no lookup on the hot path while the queue is off.
    if (!refused) return null;
    const existing = this.#sql.exec("SELECT 1 FROM orders WHERE id = ?", request.orderId).toArray().length > 0;
    return existing ? null : refused;
  }

  /** A request that brings a contact: the purge after the event has something to clear. */
  #noteContact(contact: unknown): void {
    if (contact !== null) this.#contacts = true;
  }

  /** A context for one transaction (or read), timed now. */
  #tx(): SalesContext {
    return { sql: this.#sql, event: this.#event, now: Date.now() };
  }

  #gate(): GateContext {
    const tx = this.#tx();
    return { sql: this.#sql, event: this.#event.current, now: tx.now, emitTicket: (row) => emitTicket(tx, row) };
  }

  /**
   * Runs one decision in a transaction, then pushes and re-arms. The push follows refusals too: some
   * commit something before refusing (confirm marks a lapsed hold expired before answering
   * hold-expired; hold and claim adopt a newer copy of the event before a sales rule refuses), and a
   * push with nothing to send costs one outbox read. A claim (`onlyIfChanged`) skips both when its
   * transaction wrote no outbox record: it changed nothing D1 or the alarm need hear of, and rows an
   * earlier push failed to send are the alarm's to retry, with its backoff.
   */
  async #commit<T>(
    decide: (tx: SalesContext) => T,
    options: { awaitPush: boolean; onlyIfChanged?: boolean } = { awaitPush: true },
  ): Promise<T> {
    const appended = outboxAppends();
    let result: T;
    try {
      result = this.ctx.storage.transactionSync(() => decide(this.#tx()));
    } catch (error) {
      // Rolled back: nothing it cached of the waitlist holds (a free claim refused as not free, after
      // settling an offer, would otherwise leave the line believed empty).
      forgetLineState(this.#sql);
      throw error;
    }
    // Unchanged: no outbox record was written (see outboxAppends).
    if (options.onlyIfChanged && outboxAppends() === appended) return result;
    await this.#afterCommit(options.awaitPush);
    return result;
  }

  /**
   * After a committed change: push the outbox (awaited, so the caller reads its own write from D1; or
   * only started, for a claim) and arm the alarm (hold expiry, push retry, and the safety net for rows
   * not yet pushed). A failed push does not fail the call: the state is committed here, and the alarm
   * retries until D1 has it.
   */
  async #afterCommit(awaitPush = true): Promise<void> {
    this.#live.changed();
    // The push armed a retry with backoff when it failed. A claim's (not awaited) keeps its spacing
    // from the last claim's push, so the sales of a burst go to D1 together.
    const pushed = this.#outbox.push(!awaitPush).catch(() => undefined);
    if (awaitPush) await pushed;
    await this.#outbox.armSoon();
    // Answered before the push: once it lands, the safety-net alarm armed just now is not needed.
    if (!awaitPush) void this.#outbox.settled();
  }

  /**
   * After a committed scan: live viewers hear of it now; D1 gets it with every other scan of the
   * next LIMITS.gateProjectionDelayMs in one push, from the alarm. The alarm is durable, so the rows
   * reach D1 even if the object goes away meanwhile, and the scan's own call leaves nothing running
   * once it has answered. Moving an alarm that was due sooner (a hold expiry) by that much changes
   * nothing: availability never counts a lapsed hold, and the alarm re-arms for what is left.
   */
  #projectScansSoon(): void {
    this.#live.changed();
    // While D1 refuses pushes, the backoff alarm already set carries these rows too.
    if (this.#scanPushDue || this.#outbox.failing) return;
    this.#scanPushDue = true;
    // Not awaited: the output gate holds the answer until the alarm is stored.
    void this.ctx.storage.setAlarm(Date.now() + LIMITS.gateProjectionDelayMs);
  }

  #liveCounts(): LiveCounts {
    return { ...availability(this.#tx()), conflicts: conflictCount(this.#sql) };
  }
}
