/**
 * The session book of a user (durable-objects/session-book.ts), in the `user:` shard object that
 * holds it: what tests look at or set up there directly.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { placement } from "../../src/lib/rate-limit-client";

export function bookOf(userId: string) {
  return env.RATE_LIMITER.getByName(placement(`user:${userId}`, "sessions").object);
}

/** Rows of the book's tables for one user, straight from the object's SQLite. */
export async function bookRows(userId: string) {
  return runInDurableObject(bookOf(userId), (_instance, state) => ({
    account: state.storage.sql.exec("SELECT * FROM session_accounts WHERE user_id = ?", userId).toArray()[0],
    sessions: state.storage.sql.exec("SELECT * FROM session_states WHERE user_id = ?", userId).toArray(),
  }));
}

/** The book's order notes of one user (events whose push the user's reads wait for), newest first. */
export async function bookNotes(userId: string): Promise<{ event_id: string; refs: number }[]> {
  return runInDurableObject(bookOf(userId), (_instance, state) => {
    const hasNotes = state.storage.sql
      .exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session_orders'")
      .toArray().length;
    if (!hasNotes) return [];
    return state.storage.sql
      .exec<{ event_id: string; refs: number }>(
        "SELECT event_id, refs FROM session_orders WHERE user_id = ? ORDER BY at DESC",
        userId,
      )
      .toArray();
  });
}

/** Moves a session's last use in the book (a stand-in for a long run of activity). */
export async function setBookLastUse(userId: string, sid: string, at: number): Promise<void> {
  await runInDurableObject(bookOf(userId), (_instance, state) => {
    state.storage.sql.exec("UPDATE session_states SET last_used_at = ? WHERE sid = ?", at, sid);
  });
}

/** Drops one session from its book, as if the book had never seen it (opened before it existed). */
export async function forgetInBook(userId: string, sid: string): Promise<void> {
  await runInDurableObject(bookOf(userId), (_instance, state) => {
    state.storage.sql.exec("DELETE FROM session_states WHERE sid = ?", sid);
  });
}

/**
 * Gives a user roles the way an operator must: in D1 and in the session book, which the user's
 * sessions act under (a D1 change alone reaches a session only when it is next adopted).
 */
export async function grantRoles(userId: string, roles: string[]): Promise<void> {
  await env.DB.prepare("UPDATE users SET roles = ? WHERE id = ?").bind(JSON.stringify(roles), userId).run();
  await bookOf(userId).updateAccount({ userId, roles });
}
