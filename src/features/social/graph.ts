/**
 * The follow and block graph. Every change is one `db.batch` (atomic and sequential in D1): the
 * idempotent write (`INSERT … ON CONFLICT DO NOTHING`, a plain DELETE), its notification, and a
 * last SELECT that reads the answer back in the same transaction. Counters are the triggers' job
 * (migrations/0011_social.sql): nothing here reads a count to write it back.
 *
 * Blocks: a block removes follows both ways and the notifications either sent the other; while it
 * stands neither can follow the other, and each is a missing user (404) to the other's follow routes
 * and lists. Blocking and unblocking themselves work whoever blocked first: refusing them would tell
 * the caller that they are blocked.
 */
import { decodeCursor, encodeCursor } from "../../lib/crypto";
import { DomainError, invalidCursorError } from "../../lib/errors";
import { openName } from "../auth";
import { notificationInsert, notificationRetract } from "./notifications";
import { avatarUrl, notBlockedSql, type ProfileDeps } from "./profiles";

const notFound = () => new DomainError("not-found", "No such user.");

/** D1 refuses a row naming a user deleted meanwhile (a notification for them): that user is gone. */
function isForeignKeyFailure(error: unknown): boolean {
  return error instanceof Error && /FOREIGN KEY constraint failed/i.test(error.message);
}

interface FollowRow {
  visible: number;
  following: number;
  followers: number | null;
}

/** ?1 the caller, ?2 the target: whether the target exists for the caller, the edge, their count. */
function followState(db: D1Database, callerId: string, targetId: string) {
  return db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM users u WHERE u.id = ?2 AND ${notBlockedSql("?1", "u.id")}) AS visible,
              EXISTS (SELECT 1 FROM follows WHERE follower_id = ?1 AND followee_id = ?2) AS following,
              (SELECT followers_count FROM profiles WHERE user_id = ?2) AS followers`,
    )
    .bind(callerId, targetId);
}

async function runFollowBatch(db: D1Database, statements: D1PreparedStatement[]) {
  let results: D1Result<FollowRow>[];
  try {
    results = await db.batch<FollowRow>(statements);
  } catch (error) {
    if (isForeignKeyFailure(error)) throw notFound();
    throw error;
  }
  const row = results[results.length - 1]?.results[0];
  if (!row?.visible) throw notFound();
  return { following: row.following === 1, followers: row.followers ?? 0 };
}

/** PUT /users/:id/follow: follows unless either blocks the other; notifies the followee once. */
export async function follow(db: D1Database, callerId: string, targetId: string, now = Date.now()) {
  if (callerId === targetId) throw new DomainError("cannot-follow-self", "You cannot follow yourself.");
  return runFollowBatch(db, [
    db
      .prepare(
        `INSERT INTO follows (follower_id, followee_id, created_at)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = ?2 AND ${notBlockedSql("?1", "u.id")})
         ON CONFLICT DO NOTHING`,
      )
      .bind(callerId, targetId, now),
    // Its own rules skip it when either blocks the other, and a repeated follow is one notification.
    notificationInsert(db, { recipientId: targetId, actorId: callerId, kind: "follow", at: now }),
    followState(db, callerId, targetId),
  ]);
}

/** DELETE /users/:id/follow: stops following and takes back the follow notification. */
export async function unfollow(db: D1Database, callerId: string, targetId: string) {
  if (callerId === targetId) throw new DomainError("cannot-follow-self", "You cannot follow yourself.");
  return runFollowBatch(db, [
    db.prepare("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?").bind(callerId, targetId),
    notificationRetract(db, { recipientId: targetId, actorId: callerId, kind: "follow" }),
    followState(db, callerId, targetId),
  ]);
}

interface BlockRow {
  found: number;
  blocked: number;
}

function blockState(db: D1Database, callerId: string, targetId: string) {
  return db
    .prepare(
      `SELECT EXISTS (SELECT 1 FROM users WHERE id = ?2) AS found,
              EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ?1 AND blocked_id = ?2) AS blocked`,
    )
    .bind(callerId, targetId);
}

async function runBlockBatch(db: D1Database, statements: D1PreparedStatement[]) {
  const results = await db.batch<BlockRow>(statements);
  const row = results[results.length - 1]?.results[0];
  if (!row?.found) throw notFound();
  return { blocked: row.blocked === 1 };
}

/**
 * PUT /users/:id/block: the block, the end of follows both ways (the triggers correct both users'
 * counters) and of the notifications each had from the other, in one batch.
 */
export async function block(db: D1Database, callerId: string, targetId: string, now = Date.now()) {
  if (callerId === targetId) throw new DomainError("cannot-block-self", "You cannot block yourself.");
  return runBlockBatch(db, [
    db
      .prepare(
        `INSERT INTO blocks (blocker_id, blocked_id, created_at)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2)
         ON CONFLICT DO NOTHING`,
      )
      .bind(callerId, targetId, now),
    db
      .prepare(
        `DELETE FROM follows
         WHERE (follower_id = ?1 AND followee_id = ?2) OR (follower_id = ?2 AND followee_id = ?1)`,
      )
      .bind(callerId, targetId),
    db
      .prepare("DELETE FROM notifications WHERE (user_id = ?1 AND actor_id = ?2) OR (user_id = ?2 AND actor_id = ?1)")
      .bind(callerId, targetId),
    blockState(db, callerId, targetId),
  ]);
}

/** DELETE /users/:id/block. Follows the block ended stay ended. */
export async function unblock(db: D1Database, callerId: string, targetId: string) {
  if (callerId === targetId) throw new DomainError("cannot-block-self", "You cannot block yourself.");
  return runBlockBatch(db, [
    db.prepare("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?").bind(callerId, targetId),
    blockState(db, callerId, targetId),
  ]);
}

export type Direction = "followers" | "following";

interface ListRow {
  id: string;
  name: string;
  handle: string | null;
  avatar_media_id: string | null;
  followed_at: number;
}

function parseCursor(raw: string): { at: number; id: string } {
  const [at, id] = (decodeCursor(raw) ?? "").split("|");
  if (!at || !id || !/^\d{1,15}$/.test(at)) throw invalidCursorError();
  return { at: Number(at), id };
}

/**
 * A user's followers or the users they follow, newest edge first, keyset-paged on (created_at, id).
 * Users who block the viewer or whom the viewer blocks are left out; a user who is one of those, or
 * does not exist, is a 404. The existence check and the page are one batch.
 */
export async function listGraph(
  deps: ProfileDeps,
  viewerId: string | null,
  userId: string,
  direction: Direction,
  query: { limit: number; cursor?: string | undefined },
) {
  // `them`: the column naming the listed users; `anchor`: the one naming the user whose list it is.
  const [them, anchor] = direction === "followers" ? ["follower_id", "followee_id"] : ["followee_id", "follower_id"];
  const after = query.cursor ? parseCursor(query.cursor) : null;
  const [visible, page] = await deps.db.batch([
    deps.db
      .prepare(`SELECT 1 AS found FROM users u WHERE u.id = ?2 AND ${notBlockedSql("?1", "u.id")}`)
      .bind(viewerId, userId),
    deps.db
      .prepare(
        `SELECT u.id, u.name, p.handle, p.avatar_media_id, f.created_at AS followed_at
         FROM follows f JOIN users u ON u.id = f.${them} JOIN profiles p ON p.user_id = u.id
         WHERE f.${anchor} = ?2 AND ${notBlockedSql("?1", "u.id")}
           ${after ? "AND (f.created_at < ?4 OR (f.created_at = ?4 AND u.id < ?5))" : ""}
         ORDER BY f.created_at DESC, u.id DESC LIMIT ?3`,
      )
      .bind(viewerId, userId, query.limit + 1, ...(after ? [after.at, after.id] : [])),
  ]);
  if (!visible?.results.length) throw notFound();
  const rows = (page?.results ?? []) as ListRow[];
  const items = rows.slice(0, query.limit);
  const last = items[items.length - 1];
  return {
    items: await Promise.all(
      items.map(async (r) => ({
        id: r.id,
        name: openName(deps.pii, r.name),
        handle: r.handle,
        avatarUrl: await avatarUrl(deps, r.avatar_media_id),
        followedAt: new Date(r.followed_at).toISOString(),
      })),
    ),
    nextCursor: rows.length > query.limit && last ? encodeCursor(`${last.followed_at}|${last.id}`) : null,
  };
}
