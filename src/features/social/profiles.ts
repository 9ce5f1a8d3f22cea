/**
 * Profiles: editing one's own (name, bio, avatar), reading anyone's with their stats, and the signed
 * avatar URL. A profile row exists for every user (a trigger makes it with the user), and its counters
 * are kept by triggers (migrations/0011_social.sql): this file only ever reads them.
 *
 * Stats, decided here:
 * - posts, followers, following: the profile's counters (removed posts do not count);
 * - eventsHosted: the user's events that were published, still on sale or past (`published`) or
 *   cancelled after publishing (`cancelled` with a `published_at`); drafts, and drafts thrown away as
 *   cancelled, never were anyone's event;
 * - ticketsHeld (only for the user themselves): tickets that admit them or did (`active`, `redeemed`);
 *   void tickets and tickets being refunded (`refunding`) are not held.
 *
 * Blocks: someone who blocks the viewer, or whom the viewer blocks, does not exist for them (404).
 */
import type { SigningKey } from "../../config";
import { DomainError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import { openName, sealName } from "../auth";
import { signedPath, signMedia } from "../media";
import type { ProfileBody } from "./schema-users";
import { normalizeText } from "./text";

export interface ProfileDeps {
  db: D1Database;
  /** Opens the names shown (users.name is sealed at rest). */
  pii: PiiCipher;
  mediaSigningKeys: readonly [SigningKey, ...SigningKey[]];
  /** Origin the signed avatar URLs point at (PUBLIC_URL, else the request's). */
  origin: string;
  now?: number;
}

/** An avatar URL lives at least this long: it is cut at the next full hour after a day, so copies share one URL. */
const AVATAR_URL_SECONDS = 24 * 60 * 60;

const nowMs = (deps: Pick<ProfileDeps, "now">) => deps.now ?? Date.now();

/** Neither ?viewer nor the user in column `user` blocks the other (true for an anonymous viewer, NULL). */
export function notBlockedSql(viewer: string, user: string): string {
  return `NOT EXISTS (SELECT 1 FROM blocks b
    WHERE (b.blocker_id = ${viewer} AND b.blocked_id = ${user}) OR (b.blocker_id = ${user} AND b.blocked_id = ${viewer}))`;
}

/** The signed URL of an avatar image, or null without one. */
export async function avatarUrl(deps: ProfileDeps, mediaId: string | null): Promise<string | null> {
  if (!mediaId) return null;
  const now = Math.floor(nowMs(deps) / 1000);
  const exp = Math.ceil((now + AVATAR_URL_SECONDS) / 3600) * 3600;
  return deps.origin + signedPath(mediaId, await signMedia(deps.mediaSigningKeys, mediaId, exp));
}

interface ProfileRow {
  id: string;
  name: string;
  bio: string;
  avatar_media_id: string | null;
  handle: string | null;
  avatar_ok: number;
}

const invalidAvatar = () =>
  new DomainError("validation-failed", "The avatar must be one of your uploads made for an avatar.", {
    errors: [{ path: "avatarMediaId", message: "not one of your avatar uploads" }],
  });

/**
 * Applies the fields given (absent = unchanged; `avatarMediaId: null` removes the avatar) in one
 * batch: users.name, the profile, and the `profile:<id>` cache version that invalidates cached copies
 * of the public profile. Every write is guarded by the avatar check, so a foreign or wrong-purpose
 * avatar changes nothing and answers 400.
 */
export async function updateProfile(deps: ProfileDeps, userId: string, body: ProfileBody) {
  const now = nowMs(deps);
  const avatar = body.avatarMediaId;
  // The guard every write carries: true when no avatar is being set, else the media must be the
  // caller's own avatar upload (checked in the statement, so a concurrent delete cannot slip past).
  const guard = "(?1 IS NULL OR EXISTS (SELECT 1 FROM media WHERE id = ?1 AND owner_id = ?2 AND purpose = 'avatar'))";
  const avatarArg = typeof avatar === "string" ? avatar : null;
  const statements: D1PreparedStatement[] = [];
  if (body.name !== undefined) {
    statements.push(
      deps.db
        .prepare(`UPDATE users SET name = ?3, updated_at = ?4 WHERE id = ?2 AND ${guard}`)
        .bind(avatarArg, userId, sealName(deps.pii, body.name), now),
    );
  }
  const sets: string[] = [];
  const args: unknown[] = [];
  if (body.bio !== undefined) {
    args.push(normalizeText(body.bio));
    sets.push(`bio = ?${args.length + 3}`);
  }
  if (avatar !== undefined) {
    args.push(avatar);
    sets.push(`avatar_media_id = ?${args.length + 3}`);
  }
  if (sets.length > 0) {
    statements.push(
      deps.db
        .prepare(`UPDATE profiles SET ${sets.join(", ")}, updated_at = ?3 WHERE user_id = ?2 AND ${guard}`)
        .bind(avatarArg, userId, now, ...args),
    );
  }
  if (statements.length > 0) {
    statements.push(
      deps.db
        .prepare(
          `INSERT INTO cache_versions (scope, version) SELECT 'profile:' || ?2, 1 WHERE ${guard}
           ON CONFLICT(scope) DO UPDATE SET version = version + 1`,
        )
        .bind(avatarArg, userId),
    );
  }
  statements.push(
    deps.db
      .prepare(
        `SELECT u.id, u.name, p.bio, p.avatar_media_id, p.handle, ${guard} AS avatar_ok
         FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ?2`,
      )
      .bind(avatarArg, userId),
  );
  const results = await deps.db.batch<ProfileRow>(statements);
  const row = results[results.length - 1]?.results[0];
  if (!row) throw new DomainError("unauthorized", "Sign in to continue.");
  if (!row.avatar_ok) throw invalidAvatar();
  return {
    id: row.id,
    name: openName(deps.pii, row.name),
    bio: row.bio,
    avatarMediaId: row.avatar_media_id,
    handle: row.handle,
  };
}

interface StatsRow {
  posts_count: number;
  followers_count: number;
  following_count: number;
  events_hosted: number;
  tickets_held: number | null;
}

interface UserRow extends StatsRow {
  id: string;
  name: string;
  bio: string;
  avatar_media_id: string | null;
  handle: string | null;
}

/**
 * One user as the viewer (?1, null when anonymous) may see them, with their stats; ?2 is the user.
 * Hosted events and held tickets are counted from their rows (events_host and tickets_user indexes).
 */
const USER_SELECT = `SELECT u.id, u.name, p.bio, p.avatar_media_id, p.handle,
    p.posts_count, p.followers_count, p.following_count,
    (SELECT COUNT(*) FROM events e WHERE e.host_id = u.id
       AND (e.status = 'published' OR (e.status = 'cancelled' AND e.published_at IS NOT NULL))) AS events_hosted,
    CASE WHEN ?1 = u.id THEN
      (SELECT COUNT(*) FROM tickets t WHERE t.user_id = u.id AND t.status IN ('active', 'redeemed')) END AS tickets_held
  FROM users u JOIN profiles p ON p.user_id = u.id
  WHERE u.id = ?2 AND ${notBlockedSql("?1", "u.id")}`;

function statsOf(row: StatsRow) {
  return {
    posts: row.posts_count,
    followers: row.followers_count,
    following: row.following_count,
    eventsHosted: row.events_hosted,
    ...(row.tickets_held === null ? {} : { ticketsHeld: row.tickets_held }),
  };
}

async function findUser(db: D1Database, viewerId: string | null, userId: string): Promise<UserRow> {
  const row = await db.prepare(USER_SELECT).bind(viewerId, userId).first<UserRow>();
  if (!row) throw new DomainError("not-found", "No such user.");
  return row;
}

export async function userStats(db: D1Database, viewerId: string | null, userId: string) {
  return statsOf(await findUser(db, viewerId, userId));
}

export async function publicUser(deps: ProfileDeps, viewerId: string | null, userId: string) {
  const row = await findUser(deps.db, viewerId, userId);
  return {
    id: row.id,
    name: openName(deps.pii, row.name),
    bio: row.bio,
    avatarUrl: await avatarUrl(deps, row.avatar_media_id),
    handle: row.handle,
    stats: statsOf(row),
  };
}
