/**
 * Erasing an account (GDPR art. 17), after re-authentication (src/features/auth/reauth.ts):
 *
 * - refused (409 hosts-future-events, the events listed) while the person hosts an event that has not
 *   ended and is not cancelled: its ticket holders depend on it, so it is cancelled (with its refunds)
 *   or over first;
 * - refused (409 subscription-active) while a Pro subscription would renew: Stripe would go on charging
 *   a person who no longer exists here. One set to cancel at its period's end does not renew;
 * - what is only theirs goes: posts (with the comments, likes, bookmarks, reposts, media links,
 *   notifications and reports hanging from them: the ON DELETE CASCADEs of migrations/0011_social.sql),
 *   their comments, likes, bookmarks, reposts, follows both ways, blocks both ways, notifications,
 *   reports, links and tracking, their uploaded media (rows, then the R2 objects), API keys, webhook
 *   endpoints with their events, waitlist entries (the D1 read model; the events' objects: see below),
 *   data exports (rows and archives), email tokens, the sign-in code,
 *   every email to them in the outbox (pending ones are never sent) and stored idempotent replies;
 * - the users row stays as a pseudonym, because records other people depend on point at it: orders and
 *   tickets (the host's sales), payments and refunds, tips (amounts kept for accounting: art. 17(3)(b),
 *   a legal obligation), the audit log (art. 17(3)(e), defence of claims: the id, never the address).
 *   Its personal fields are wiped: email `erased:<id>` (not an address, keeps NOT NULL and UNIQUE),
 *   no blind index, name "Deleted user", no password, not verified, no roles, erased_at set;
 * - the profile keeps its row (the counter triggers update it) with bio, avatar and handle cleared; the
 *   handle itself is retired for LIMITS.handleGraceSeconds like a changed one, so nobody can take it up
 *   at once and be mistaken for them;
 * - before all of that, the inventory object of every event they ordered or queued at (the newest
 *   LIMITS.erasureEventObjects: D1's read model, and the events the session check names as ordered at
 *   moments ago, which D1 may not have yet) forgets their email and name, gives up their waitlist place
 *   and drops emails to them not yet pushed (durable-objects/event-inventory/contacts.ts). All before
 *   anything else: one that does not answer refuses the erasure with 503, nothing changed, to be
 *   retried. An object remembers whom it forgot for a while, so an order of theirs in flight meanwhile
 *   stores no contact there; and once the sessions have stopped, the events the book noted them
 *   ordering at since the list was made are cleared too (`forgetLateOrders`: D1 is erased by then, so
 *   an object that fails is left to the sweep). Older events' objects are left to the sweep by the D1
 *   batch itself (./object-erasures.ts: the five-minute cron clears them, retrying until each has);
 * - every session stops at once: the epoch moves in the session book before D1 (withEpochBump, as a
 *   password reset does), so the very next request with any of their tokens is refused even where D1
 *   has not caught up; D1's sessions are revoked and their refresh tokens deleted in the same batch.
 *
 * Everything in D1 is one batch: it all happens or none of it does. R2 objects go after the rows (no
 * new URL can be signed for them once the rows are gone); a failed R2 delete leaves an object nothing
 * names, logged for an operator.
 */

import type { EventInventory } from "../../../durable-objects/event-inventory";
import { LIMITS } from "../../config/limits";
import { bumpVersion } from "../../lib/edge-cache";
import { DomainError, unavailableError } from "../../lib/errors";
import { log } from "../../lib/log";
import type { PiiCipher } from "../../lib/pii";
import { iso } from "../../lib/time";
import { auditStatement } from "../audit";
import {
  type AuthDeps,
  emailIndex,
  orderNotesInBook,
  type ReauthProof,
  reauthenticate,
  sessionStores,
  updateAccountInBook,
  withEpochBump,
} from "../auth";
import { OUTBOX_CONTEXT } from "../email";
import { inventoryOf } from "../events";
import { TIP_GUEST_EMAIL } from "../money";
import { leaveRestToSweep, leaveToSweep } from "./object-erasures";

export const ERASED_NAME = "Deleted user";

/** The users.email of an erased account: not an address, unique, and naming nobody but the pseudonym. */
export const erasedEmail = (userId: string) => `erased:${userId}`;

/** Events of `userId` still to come (not ended, not cancelled), soonest first, at most 50. */
export async function futureHostedEvents(db: D1Database, userId: string, now: number) {
  const found = await db
    .prepare(
      `SELECT id, title, status, starts_at FROM events WHERE host_id = ? AND status <> 'cancelled' AND ends_at > ?
       ORDER BY starts_at LIMIT 50`,
    )
    .bind(userId, now)
    .all<{ id: string; title: string; status: string; starts_at: number }>();
  return found.results.map((e) => ({ id: e.id, title: e.title, status: e.status, startsAt: iso(e.starts_at) }));
}

/**
 * Subscription states in which Stripe may still charge: active or trialing (renews), past_due and unpaid
 * (retries the invoice), incomplete (its first payment pending) and paused (resumes with a payment
 * method). `canceled` and `incomplete_expired` are over.
 */
const RENEWING_STATUSES = ["active", "trialing", "past_due", "unpaid", "incomplete", "paused"] as const;

/** Whether `userId` has a subscription that would renew (not set to cancel at its period's end). */
async function renewingSubscription(db: D1Database, userId: string): Promise<boolean> {
  const row = await db
    .prepare(
      `SELECT 1 FROM subscriptions WHERE user_id = ? AND cancel_at_period_end = 0
       AND status IN (${RENEWING_STATUSES.map(() => "?").join(", ")}) LIMIT 1`,
    )
    .bind(userId, ...RENEWING_STATUSES)
    .first();
  return row !== null;
}

/** An erasure refused for `reason`: audited (denied), and the problem to throw. */
async function refusal(
  deps: AuthDeps,
  userId: string,
  t: number,
  reason: "hosts-future-events" | "subscription-active",
  problem: { detail: string; extensions?: Record<string, unknown> },
): Promise<DomainError> {
  const entry = { action: "account.erase", outcome: "denied", userId, detail: { reason } } as const;
  await (await auditStatement(deps.db, deps.config, deps.meta, entry, t)).run();
  return new DomainError(reason, problem.detail, problem.extensions);
}

/**
 * The events whose objects hold what the person gave when ordering or queueing: D1's orders and
 * waitlist entries, newest first, and `recent` (ordered at moments ago; their push may not be in D1).
 */
async function eventsWithContact(db: D1Database, userId: string, recent: readonly string[]): Promise<string[]> {
  const { results } = await db
    .prepare(
      `SELECT event_id FROM (
         SELECT event_id, MAX(created_at) AS at FROM orders WHERE user_id = ?1 GROUP BY event_id
         UNION ALL SELECT event_id, MAX(created_at) AS at FROM waitlist_entries WHERE user_id = ?1 GROUP BY event_id)
       GROUP BY event_id ORDER BY MAX(at) DESC LIMIT ?2`,
    )
    .bind(userId, LIMITS.erasureEventObjects)
    .all<{ event_id: string }>();
  // Older ones (and any beyond the limit) are left to the sweep by the erasure's batch.
  return [...new Set([...recent, ...results.map((row) => row.event_id)])].slice(0, LIMITS.erasureEventObjects);
}

/**
 * Has each event's object forget the person (see the file comment); answers the events whose object
 * did not answer (logged), the rest having forgotten them.
 */
async function forgetInObjects(
  inventory: DurableObjectNamespace<EventInventory>,
  userId: string,
  events: readonly string[],
): Promise<string[]> {
  const failed: string[] = [];
  for (let i = 0; i < events.length; i += LIMITS.erasureObjectConcurrency) {
    const chunk = events.slice(i, i + LIMITS.erasureObjectConcurrency);
    const settled = await Promise.allSettled(chunk.map((id) => inventoryOf(inventory, id).forgetContact({ userId })));
    settled.forEach((result, j) => {
      if (result.status === "rejected") failed.push(chunk[j] as string);
    });
    // Before the erasure: one that fails refuses it, so the rest need not be asked now.
    if (failed.length > 0) break;
  }
  if (failed.length > 0) {
    log("error", "erasure: an event's object did not forget the person", { userId, events: failed });
  }
  return failed;
}

/**
 * The last look, once the sessions have stopped: an order that passed its session check after the
 * events were listed, before the epoch moved, had its event noted in the book at that check. Those
 * objects forget the person too (their memory of it then covers the order whenever it arrives).
 * Best effort: D1 is erased already, so an object that fails is logged, not a refusal.
 */
async function forgetLateOrders(
  deps: AuthDeps & { inventory: DurableObjectNamespace<EventInventory> },
  userId: string,
  listed: readonly string[],
): Promise<void> {
  const seen = new Set(listed);
  const late = (await orderNotesInBook(deps.limiter, userId, Date.now())).filter((id) => !seen.has(id));
  if (late.length === 0) return;
  const failed = await forgetInObjects(deps.inventory, userId, late);
  if (failed.length === 0) return;
  // The one that failed and those after it (not asked): the sweep asks them all again.
  await leaveToSweep(deps.db, userId, late.slice(late.indexOf(failed[0] as string)), Date.now());
}

/** Erases the account of `userId` once `proof` re-authenticates it. */
export async function eraseAccount(
  deps: AuthDeps & {
    bucket: R2Bucket;
    inventory: DurableObjectNamespace<EventInventory>;
    /** Events the session check names as ordered at moments ago (c.var.settleEvents). */
    recentEvents?: readonly string[];
  },
  userId: string,
  proof: ReauthProof,
): Promise<void> {
  const user = await reauthenticate(deps, userId, proof, "account.erase");
  const t = deps.now ?? Date.now();
  const hosted = await futureHostedEvents(deps.db, userId, t);
  if (hosted.length) {
    throw await refusal(deps, userId, t, "hosts-future-events", {
      detail: `Cancel the events you host that are still to come (or wait until they end), then erase your account: ${hosted
        .map((e) => e.title)
        .join(", ")}.`,
      extensions: { events: hosted },
    });
  }
  if (await renewingSubscription(deps.db, userId)) {
    throw await refusal(deps, userId, t, "subscription-active", {
      detail:
        "Cancel your Pro subscription first (Billing, then Manage subscription): it keeps renewing until then. One set to end with its current period does not stop the erasure.",
    });
  }
  const listed = await eventsWithContact(deps.db, userId, deps.recentEvents ?? []);
  if ((await forgetInObjects(deps.inventory, userId, listed)).length > 0) {
    throw unavailableError("Your account could not be erased just now; nothing was changed. Try again shortly.");
  }
  const sealed = await sealedHolders(deps.db, deps.config.pii, user.email);
  const results = await withEpochBump(sessionStores(deps), userId, user.session_epoch, async () =>
    deps.db.batch<{ r2_key: string | null }>([
      ...erasureStatements(deps.db, userId, user.email, emailIndex(deps.config.pii, user.email), sealed, listed, t),
      await auditStatement(
        deps.db,
        deps.config,
        deps.meta,
        // The pseudonym only: the audit log never holds the address.
        { action: "account.erase", outcome: "success", userId },
        t,
      ),
    ]),
  );
  // Cosmetic fields follow D1 into the book, which answers them to the (now refused) sessions.
  await updateAccountInBook(deps.limiter, userId, { roles: [], name: ERASED_NAME, email: erasedEmail(userId) });
  await forgetLateOrders(deps, userId, listed);
  // The objects of exactly the rows the batch deleted (its first two statements answer their keys),
  // so an upload that landed while this ran is not missed.
  const keys = [...(results[0]?.results ?? []), ...(results[1]?.results ?? [])].flatMap((row) =>
    row.r2_key ? [row.r2_key] : [],
  );
  for (let i = 0; i < keys.length; i += 1000) {
    const chunk = keys.slice(i, i + 1000);
    await deps.bucket.delete(chunk).catch((error: unknown) => {
      log("error", "erasure left R2 objects", { requestId: deps.meta.requestId, userId, keys: chunk.length, error });
    });
  }
}

/** The ids of `rows` whose sealed (or not yet sealed) `value` opens under `context` to `address`. */
function holding(rows: { id: string; value: string }[], pii: PiiCipher, context: string, address: string): string[] {
  return rows.flatMap((row) => {
    try {
      return pii.open(row.value, context).trim().toLowerCase() === address ? [row.id] : [];
    } catch {
      // A value that does not open is not theirs to judge: it stays.
      return [];
    }
  });
}

/**
 * Rows holding the address where it is sealed under a random IV with no index, so each candidate is
 * opened (at most LIMITS.erasureScanRows per kind): outbox emails not sent yet (few: the queue drains
 * them within minutes; finished ones keep their sealed copy until retention deletes them, 30 days) and
 * guest tips, newest first.
 */
async function sealedHolders(db: D1Database, pii: PiiCipher, email: string) {
  const address = email.trim().toLowerCase();
  const [unsent, guestTips] = await db.batch<{ id: string; value: string }>([
    db
      .prepare(`SELECT id, "to" AS value FROM email_outbox WHERE status IN ('pending', 'queued', 'sending') LIMIT ?`)
      .bind(LIMITS.erasureScanRows),
    db
      .prepare(
        `SELECT id, guest_email AS value FROM tips WHERE sender_id IS NULL AND guest_email IS NOT NULL
         ORDER BY created_at DESC LIMIT ?`,
      )
      .bind(LIMITS.erasureScanRows),
  ]);
  return {
    unsent: holding(unsent?.results ?? [], pii, OUTBOX_CONTEXT.to, address),
    guestTips: holding(guestTips?.results ?? [], pii, TIP_GUEST_EMAIL, address),
  };
}

/**
 * The D1 side of an erasure, in order: the row's own wipe comes last, so every statement before it
 * still finds the account as it was. `email` is the address as opened; `index` its blind index.
 */
function erasureStatements(
  db: D1Database,
  userId: string,
  email: string,
  index: string,
  sealed: { unsent: string[]; guestTips: string[] },
  /** The events whose objects forgot the person already: every other one is left to the sweep. */
  cleared: readonly string[],
  t: number,
): D1PreparedStatement[] {
  const run = (sql: string, ...bindings: unknown[]) => db.prepare(sql).bind(...bindings);
  const emails = JSON.stringify([email, index]);
  return [
    // First, answering their R2 keys (read by eraseAccount): their uploads (post_media rows cascade; an
    // event cover of theirs simply stops resolving) and their data exports.
    run("DELETE FROM media WHERE owner_id = ? RETURNING r2_key", userId),
    run("DELETE FROM data_exports WHERE user_id = ? RETURNING r2_key", userId),
    // Sessions: revoked (refresh refuses them) and stripped of where they came from; tokens gone.
    run(
      `UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?2), revoke_reason = COALESCE(revoke_reason, 'account-erased'),
         user_agent = NULL, ip_hash = NULL WHERE user_id = ?1`,
      userId,
      t,
    ),
    run("DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = ?)", userId),
    run("DELETE FROM email_tokens WHERE user_id = ?", userId),
    // The sign-in code is keyed by the address (or, once sealed, its blind index).
    run("DELETE FROM otp_codes WHERE email IN (SELECT value FROM json_each(?))", emails),
    // Emails to them: unsent ones must not go out to an erased account; plaintext rows (written before
    // the outbox was sealed) hold the address in the clear.
    run(
      `DELETE FROM email_outbox WHERE id IN (SELECT value FROM json_each(?1)) OR "to" IN (SELECT value FROM json_each(?2))`,
      JSON.stringify(sealed.unsent),
      emails,
    ),
    run(`DELETE FROM dev_mailbox WHERE "to" IN (SELECT value FROM json_each(?))`, emails),
    run("DELETE FROM idempotency_keys WHERE scope = ?", `user:${userId}`),
    // Social: their follows first (each follower's feed moves once, by the follows trigger), so the posts'
    // trigger then has no followers to touch per post: posts × followers updates would make erasing a
    // large account's history fail. Their posts take everything hanging from them (cascades); then what
    // they did elsewhere.
    run("DELETE FROM follows WHERE follower_id = ?1 OR followee_id = ?1", userId),
    run("DELETE FROM posts WHERE author_id = ?", userId),
    run("DELETE FROM comments WHERE author_id = ?", userId),
    run("DELETE FROM post_likes WHERE user_id = ?", userId),
    run("DELETE FROM comment_likes WHERE user_id = ?", userId),
    run("DELETE FROM bookmarks WHERE user_id = ?", userId),
    run("DELETE FROM reposts WHERE user_id = ?", userId),
    run("DELETE FROM blocks WHERE blocker_id = ?1 OR blocked_id = ?1", userId),
    run("DELETE FROM notifications WHERE user_id = ?1 OR actor_id = ?1", userId),
    run("DELETE FROM reports WHERE reporter_id = ?1 OR subject_user_id = ?1", userId),
    // Creator: links, tracking, the profile's own fields; the handle retired, not freed.
    run("DELETE FROM track_events WHERE user_id = ?", userId),
    run("DELETE FROM track_daily WHERE user_id = ?", userId),
    run("DELETE FROM track_rollups WHERE user_id = ?", userId),
    run("DELETE FROM links WHERE user_id = ?", userId),
    run("DELETE FROM link_lists WHERE user_id = ?", userId),
    run(
      "UPDATE handles SET state = 'retired', retired_until = ? WHERE user_id = ? AND state = 'active'",
      t + LIMITS.handleGraceSeconds * 1000,
      userId,
    ),
    run(
      "UPDATE profiles SET bio = '', avatar_media_id = NULL, handle = NULL, handle_key = NULL, updated_at = ? WHERE user_id = ?",
      t,
      userId,
    ),
    // Integrations: keys refused from the next request on, endpoints with their deliveries and events.
    run("DELETE FROM api_keys WHERE host_id = ?", userId),
    run("DELETE FROM webhook_endpoints WHERE host_id = ?", userId),
    run("DELETE FROM webhook_events WHERE host_id = ?", userId),
    // Read before their waitlist rows go.
    leaveRestToSweep(db, userId, cleared, t),
    run("DELETE FROM waitlist_entries WHERE user_id = ?", userId),
    // Money stays (accounting), pseudonymous: a tip's words are theirs, its amount the creator's record.
    // A guest tip made with their address becomes the pseudonym's, so the address goes and the
    // tips_sender_or_guest check still holds for a pending one.
    run("UPDATE tips SET message = NULL WHERE sender_id = ?", userId),
    run(
      `UPDATE tips SET sender_id = ?1, guest_email = NULL, message = NULL
       WHERE sender_id IS NULL AND (id IN (SELECT value FROM json_each(?2)) OR guest_email IN (SELECT value FROM json_each(?3)))`,
      userId,
      JSON.stringify(sealed.guestTips),
      emails,
    ),
    bumpVersion(db, `profile:${userId}`),
    bumpVersion(db, `creator:${userId}`),
    run(
      `UPDATE users SET email = ?2, email_index = NULL, name = ?3, password_hash = NULL, email_verified_at = NULL,
         roles = '[]', session_epoch = session_epoch + 1, erased_at = ?4, updated_at = ?4
       WHERE id = ?1 AND erased_at IS NULL`,
      userId,
      erasedEmail(userId),
      ERASED_NAME,
      t,
    ),
  ];
}
