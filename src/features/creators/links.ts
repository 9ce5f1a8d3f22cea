/**
 * A creator's links (issue 18): one list per user with one version, moved by every change (create,
 * edit, delete, reorder). Each write is a single D1 batch (one transaction), so a reader sees the list
 * before or after a change, never between: a reorder updates positions in place, there is no window
 * with zero links.
 *
 * Stale writes: an edit, delete or reorder names the list version it was made against. The batch's
 * first statement moves the version on, and *fails* (NOT NULL on `link_lists.version`) when the
 * stored version is another one, which rolls the whole batch back. Guarding the later statements
 * with "the version is now n + 1" would not do: two writers holding version n run one after the
 * other, and the second one's guards would see the first one's n + 1 and apply.
 *
 * Creates need no version (appending conflicts with nothing) but are capped at LIMITS.linksMax by the
 * insert itself (`… WHERE (SELECT COUNT(*) …) < 100`; D1 runs one batch at a time, so no number of
 * concurrent creates gets past it), and the version and cache bumps that follow are conditioned on
 * that new row existing. Every write also bumps the cache scope `creator:<userId>`, the public
 * profile's cache key, in the same batch.
 *
 * States: `suggested` links are proposed by the platform (suggestLink, e.g. a link to one's own
 * event page) and shown to nobody until the creator makes them `active` or `hidden`; links the
 * creator adds start `active`; `active` and `hidden` toggle. LINK_TRANSITIONS is the whole table.
 */
import { LIMITS } from "../../config/limits";
import type { LINK_STATES } from "../../db/schema-creators";
import { randomId } from "../../lib/crypto";
import { DomainError } from "../../lib/errors";
import { checkSafeUrl } from "../../lib/safe-url";
import { creatorCacheScope } from "./handles";

export type LinkState = (typeof LINK_STATES)[number];

/** Allowed state changes, from → to. Staying in the same state is always allowed (an idempotent edit). */
export const LINK_TRANSITIONS: Readonly<Record<LinkState, readonly LinkState[]>> = {
  suggested: ["active", "hidden"],
  active: ["hidden"],
  hidden: ["active"],
};

export function canTransition(from: LinkState, to: LinkState): boolean {
  return from === to || LINK_TRANSITIONS[from].includes(to);
}

export interface Link {
  id: string;
  title: string;
  url: string;
  kind: string;
  state: LinkState;
  position: number;
  /** This link's own edit count; writes send the list's version (`listVersion`). */
  version: number;
}

export interface LinkList {
  items: Link[];
  version: number;
}

export type PublicLink = Pick<Link, "id" | "title" | "url" | "kind">;

const LINK_COLUMNS = "id, title, url, kind, state, position, version";

/** A URL fit to store: safe by src/lib/safe-url.ts, in the parser's canonical form. */
export function safeLinkUrl(input: string): string {
  const checked = checkSafeUrl(input);
  if (!checked.ok) {
    throw new DomainError("invalid-url", `The URL is not allowed (${checked.reason}).`, { reason: checked.reason });
  }
  return checked.url.href;
}

/** Every link of `userId` by position, with the list's version (0 for a list never written). */
export async function listLinks(db: D1Database, userId: string): Promise<LinkList> {
  // One batch: the links and the version are read from the same state.
  const [items, list] = await db.batch([
    db.prepare(`SELECT ${LINK_COLUMNS} FROM links WHERE user_id = ? ORDER BY position, created_at`).bind(userId),
    db.prepare("SELECT version FROM link_lists WHERE user_id = ?").bind(userId),
  ]);
  return {
    items: (items?.results ?? []) as Link[],
    version: (list?.results[0] as { version: number } | undefined)?.version ?? 0,
  };
}

/** The links a visitor sees: active ones by position, at most LIMITS.linksMax. */
export async function publicLinks(db: D1Database, userId: string): Promise<PublicLink[]> {
  const rows = await db
    .prepare(
      "SELECT id, title, url, kind FROM links WHERE user_id = ? AND state = 'active' ORDER BY position, created_at LIMIT ?",
    )
    .bind(userId, LIMITS.linksMax)
    .all<PublicLink>();
  return rows.results;
}

/** The cache bump for a batch, applied only when `condition` (SQL, with its bindings) holds. */
function bumpCreatorScope(db: D1Database, userId: string, condition = "1", ...bindings: unknown[]) {
  return db
    .prepare(
      `INSERT INTO cache_versions (scope, version) SELECT ?, 1 WHERE ${condition}
       ON CONFLICT (scope) DO UPDATE SET version = version + 1`,
    )
    .bind(creatorCacheScope(userId), ...bindings);
}

/**
 * Moves the list from `expected` to the next version, or fails the batch: when the stored version is
 * another one, the new value is NULL and the NOT NULL constraint aborts the transaction. A list that
 * was never written is at version 0 and has no row (its row is created at version 1); callers have
 * already compared `expected` with what they read, so only 0 reaches here for a missing row.
 */
function advanceVersion(db: D1Database, userId: string, expected: number, now: number): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO link_lists (user_id, version, updated_at) VALUES (?1, 1, ?3)
       ON CONFLICT (user_id) DO UPDATE SET
         version = CASE WHEN link_lists.version = ?2 THEN link_lists.version + 1 END, updated_at = ?3`,
    )
    .bind(userId, expected, now);
}

function isStaleVersion(error: unknown): boolean {
  return error instanceof Error && /NOT NULL constraint failed: link_lists\.version/.test(error.message);
}

function versionConflict(current: number): DomainError {
  return new DomainError("version-conflict", "The link list was changed meanwhile: reload it and retry.", {
    version: current,
  });
}

/** Runs a versioned batch; a stale version becomes 409 with the current version. */
async function versioned(db: D1Database, userId: string, statements: D1PreparedStatement[]) {
  try {
    return await db.batch(statements);
  } catch (error) {
    if (!isStaleVersion(error)) throw error;
    throw versionConflict(await currentVersion(db, userId));
  }
}

async function currentVersion(db: D1Database, userId: string): Promise<number> {
  const row = await db
    .prepare("SELECT version FROM link_lists WHERE user_id = ?")
    .bind(userId)
    .first<{ version: number }>();
  return row?.version ?? 0;
}

export interface NewLink {
  title: string;
  url: string;
  kind?: string | undefined;
}

export type WrittenLink = Link & { listVersion: number };

/** Adds a link at the end of the list (`active` for the creator's own, `suggested` for the platform's). */
async function insertLink(
  db: D1Database,
  userId: string,
  input: NewLink,
  state: LinkState,
  now = Date.now(),
): Promise<WrittenLink> {
  const url = safeLinkUrl(input.url);
  const id = randomId();
  const inserted = "EXISTS (SELECT 1 FROM links WHERE id = ?)";
  const [insert, , , read] = await db.batch([
    db
      .prepare(
        `INSERT INTO links (id, user_id, title, url, kind, state, position, version, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6,
                COALESCE((SELECT MAX(position) + 1 FROM links WHERE user_id = ?2), 0), 1, ?7, ?7
         WHERE (SELECT COUNT(*) FROM links WHERE user_id = ?2) < ?8`,
      )
      .bind(id, userId, input.title, url, input.kind ?? "link", state, now, LIMITS.linksMax),
    db
      .prepare(
        `INSERT INTO link_lists (user_id, version, updated_at) SELECT ?1, 1, ?2 WHERE ${inserted}
         ON CONFLICT (user_id) DO UPDATE SET version = version + 1, updated_at = excluded.updated_at`,
      )
      .bind(userId, now, id),
    bumpCreatorScope(db, userId, inserted, id),
    db
      .prepare(
        `SELECT ${LINK_COLUMNS}, (SELECT version FROM link_lists WHERE user_id = ?2) AS listVersion
         FROM links WHERE id = ?1`,
      )
      .bind(id, userId),
  ]);
  if (insert?.meta.changes !== 1) {
    throw new DomainError("too-many-links", `A link list holds at most ${LIMITS.linksMax} links.`, {
      limit: LIMITS.linksMax,
    });
  }
  return read?.results[0] as WrittenLink;
}

export function createLink(db: D1Database, userId: string, input: NewLink, now = Date.now()): Promise<WrittenLink> {
  return insertLink(db, userId, input, "active", now);
}

/** A link the platform proposes; the creator sees it in their list and decides (active or hidden). */
export function suggestLink(db: D1Database, userId: string, input: NewLink, now = Date.now()): Promise<WrittenLink> {
  return insertLink(db, userId, input, "suggested", now);
}

interface StoredLink extends Link {
  listVersion: number;
}

/** The link (owned by `userId`) and the list's version, read together; 404 for anyone else's. */
async function ownLink(db: D1Database, userId: string, id: string): Promise<StoredLink> {
  const row = await db
    .prepare(
      `SELECT ${LINK_COLUMNS}, COALESCE((SELECT version FROM link_lists WHERE user_id = ?2), 0) AS listVersion
       FROM links WHERE id = ?1 AND user_id = ?2`,
    )
    .bind(id, userId)
    .first<StoredLink>();
  if (!row) throw new DomainError("not-found", "No such link.");
  return row;
}

export interface LinkEdit {
  version: number;
  title?: string | undefined;
  url?: string | undefined;
  state?: LinkState | undefined;
}

/**
 * Edits a link. The rules are judged on the row read with the list's version; the batch then moves
 * that same version on, so the row cannot have changed in between (else the batch fails: 409).
 */
export async function updateLink(
  db: D1Database,
  userId: string,
  id: string,
  edit: LinkEdit,
  now = Date.now(),
): Promise<WrittenLink> {
  const url = edit.url === undefined ? undefined : safeLinkUrl(edit.url);
  const link = await ownLink(db, userId, id);
  if (link.listVersion !== edit.version) throw versionConflict(link.listVersion);
  const state = edit.state ?? link.state;
  if (!canTransition(link.state, state)) {
    throw new DomainError("invalid-link-transition", `A ${link.state} link cannot become ${state}.`, {
      from: link.state,
      to: state,
    });
  }
  const results = await versioned(db, userId, [
    advanceVersion(db, userId, edit.version, now),
    db
      .prepare(
        "UPDATE links SET title = ?3, url = ?4, state = ?5, version = version + 1, updated_at = ?6 WHERE id = ?1 AND user_id = ?2",
      )
      .bind(id, userId, edit.title ?? link.title, url ?? link.url, state, now),
    bumpCreatorScope(db, userId),
    db
      .prepare(
        `SELECT ${LINK_COLUMNS}, (SELECT version FROM link_lists WHERE user_id = ?2) AS listVersion
         FROM links WHERE id = ?1`,
      )
      .bind(id, userId),
  ]);
  return results[3]?.results[0] as WrittenLink;
}

/** Deletes a link; the ones after it move up, so positions stay 0…n-1. */
export async function deleteLink(
  db: D1Database,
  userId: string,
  id: string,
  version: number,
  now = Date.now(),
): Promise<number> {
  const link = await ownLink(db, userId, id);
  if (link.listVersion !== version) throw versionConflict(link.listVersion);
  await versioned(db, userId, [
    advanceVersion(db, userId, version, now),
    db.prepare("DELETE FROM links WHERE id = ? AND user_id = ?").bind(id, userId),
    db
      .prepare("UPDATE links SET position = position - 1 WHERE user_id = ? AND position > ?")
      .bind(userId, link.position),
    bumpCreatorScope(db, userId),
  ]);
  return version + 1;
}

/** Puts the links in the order of `ids`, which must name each of the user's links exactly once. */
export async function reorderLinks(
  db: D1Database,
  userId: string,
  ids: readonly string[],
  version: number,
  now = Date.now(),
): Promise<{ ids: string[]; version: number }> {
  const list = await listLinks(db, userId);
  if (list.version !== version) throw versionConflict(list.version);
  const mine = new Set(list.items.map((link) => link.id));
  const named = new Set(ids);
  if (named.size !== ids.length || named.size !== mine.size || ids.some((id) => !mine.has(id))) {
    throw new DomainError("invalid-link-order", "Send the ids of all your links, each exactly once.");
  }
  // In place: each link takes its index in `ids`; the version guard proves the set is the one checked.
  await versioned(db, userId, [
    advanceVersion(db, userId, version, now),
    db
      .prepare(
        `UPDATE links SET position = (SELECT CAST(key AS INTEGER) FROM json_each(?2) WHERE value = links.id),
                updated_at = ?3
         WHERE user_id = ?1`,
      )
      .bind(userId, JSON.stringify(ids), now),
    bumpCreatorScope(db, userId),
  ]);
  return { ids: [...ids], version: version + 1 };
}
