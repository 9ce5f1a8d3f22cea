/**
 * A creator's public profile, as `GET /api/v1/profiles/:handle` and the page `/@:handle` show it: name,
 * bio, avatar, active links, upcoming published events, and a fresh tracking token.
 *
 * Reads are bounded (LIMITS.profileLinksMax links, LIMITS.profileEventsMax events; there are no
 * contacts yet) and cached at the edge (src/lib/edge-cache.ts) for EDGE_TTL.profile under a key naming
 * the versions of everything the answer depends on:
 * - `creator:<userId>` (creatorCacheScope): moved by a handle claim, by every link-list change and by
 *   every change of the creator's Pro subscription (money/subscription.ts; `pro` is cached with the rest);
 * - `profile:<userId>`: moved by a profile edit (PUT /me/profile, onboarding);
 * - `events`: moved by every event publish, edit and cancellation anywhere (events/service.ts). Coarse
 *   (any host's edit costs every cached profile one miss) but exact, without the events feature having
 *   to know about profiles. Events that end while cached are dropped when the copy is served.
 * One indexed query resolves the handle and reads the three versions; a hit needs nothing else.
 *
 * Not cached: the signed avatar URL and the tracking token, both made per answer (the token expires,
 * and a cached one would outlive it).
 */
import type { SigningKey } from "../../config";
import { LIMITS } from "../../config/limits";
import { cacheKey, type Defer, EDGE_TTL, getOrProduce } from "../../lib/edge-cache";
import { validateHandle } from "../../lib/handle";
import type { PiiCipher } from "../../lib/pii";
import { iso } from "../../lib/time";
import { openName } from "../auth";
import { signedPath, signMedia } from "../media";
import { isPro } from "../money";
import { publicLinks } from "./links";
import { mintTrackingToken } from "./tracking";

export interface ProfilePageDeps {
  db: D1Database;
  /** Opens the name shown (users.name is sealed at rest). */
  pii: PiiCipher;
  mediaSigningKeys: readonly [SigningKey, ...SigningKey[]];
  /** The secret tracking tokens are signed with (tracking.ts). */
  trackingSecret: string;
  /** Origin the signed avatar URL points at (PUBLIC_URL, else the request's). */
  origin: string;
  defer: Defer;
  /** Whether the answer came from the edge cache, for the X-Cache header. */
  onCache?: (hit: boolean) => void;
  now?: number;
}

export interface UpcomingEvent {
  id: string;
  title: string;
  startsAt: string;
  endsAt: string;
  venue: { name: string };
}

/** What the cache holds: the profile without anything made per answer. */
interface CachedProfile {
  userId: string;
  handle: string;
  name: string;
  bio: string;
  avatarMediaId: string | null;
  links: Awaited<ReturnType<typeof publicLinks>>;
  upcomingEvents: UpcomingEvent[];
  /** The creator's Pro entitlement (money/entitlements.ts); a change moves `creator:<userId>`. */
  pro: boolean;
}

export type PublicProfile = Omit<CachedProfile, "userId" | "avatarMediaId"> & {
  avatarUrl: string | null;
  tipping: boolean;
  trackingToken: string;
};

export type ProfileLookup =
  | { kind: "profile"; profile: PublicProfile; userId: string }
  /** A handle its owner changed, still in its grace period: the handle it now answers to. */
  | { kind: "moved"; handle: string }
  | { kind: "missing" };

interface HandleRow {
  user_id: string;
  state: "active" | "retired";
  retired_until: number | null;
  current: string | null;
  creator_v: number | null;
  profile_v: number | null;
  events_v: number | null;
  /** 1 when the creator's payout account can take charges (tips), read fresh with the handle. */
  tipping: number | null;
}

/** The handle's row, its owner's current handle and the cache versions, in one query. */
const RESOLVE_SQL = `SELECT h.user_id, h.state, h.retired_until, p.handle AS current,
    (SELECT version FROM cache_versions WHERE scope = 'creator:' || h.user_id) AS creator_v,
    (SELECT version FROM cache_versions WHERE scope = 'profile:' || h.user_id) AS profile_v,
    (SELECT version FROM cache_versions WHERE scope = 'events') AS events_v,
    (SELECT pa.charges_enabled FROM payout_accounts pa
      WHERE pa.user_id = h.user_id AND pa.stripe_account_id IS NOT NULL) AS tipping
  FROM handles h JOIN profiles p ON p.user_id = h.user_id
  WHERE h.handle_key = ?`;

/** A signed avatar URL lasts at least a day, its expiry rounded up to the hour so copies share one URL. */
async function avatarUrl(deps: ProfilePageDeps, mediaId: string | null, now: number): Promise<string | null> {
  if (!mediaId) return null;
  const exp = Math.ceil((Math.floor(now / 1000) + LIMITS.mediaPublicUrlSeconds) / 3600) * 3600;
  return deps.origin + signedPath(mediaId, await signMedia(deps.mediaSigningKeys, mediaId, exp));
}

/** The profile's rows: user, profile, active links, upcoming published events (all bounded). */
async function readProfile(db: D1Database, pii: PiiCipher, userId: string, now: number): Promise<CachedProfile | null> {
  const [row, events, links, pro] = await Promise.all([
    db
      .prepare(
        `SELECT u.name, p.bio, p.avatar_media_id, p.handle FROM users u JOIN profiles p ON p.user_id = u.id
         WHERE u.id = ?`,
      )
      .bind(userId)
      .first<{ name: string; bio: string; avatar_media_id: string | null; handle: string | null }>(),
    db
      .prepare(
        `SELECT id, title, starts_at, ends_at, venue_name FROM events
         WHERE host_id = ? AND status = 'published' AND ends_at > ?
         ORDER BY starts_at, id LIMIT ?`,
      )
      .bind(userId, now, LIMITS.profileEventsMax)
      .all<EventRow>(),
    publicLinks(db, userId),
    isPro(db, userId, now),
  ]);
  if (!row?.handle) return null;
  return {
    userId,
    handle: row.handle,
    name: openName(pii, row.name),
    bio: row.bio,
    avatarMediaId: row.avatar_media_id,
    links: links.slice(0, LIMITS.profileLinksMax),
    upcomingEvents: events.results.map((e) => ({
      id: e.id,
      title: e.title,
      startsAt: iso(e.starts_at),
      endsAt: iso(e.ends_at),
      venue: { name: e.venue_name },
    })),
    pro,
  };
}

interface EventRow {
  id: string;
  title: string;
  starts_at: number;
  ends_at: number;
  venue_name: string;
}

/**
 * The public profile behind `input` (any spelling: it is normalised), a redirect for a handle in its
 * grace period, or missing (never claimed, expired, invalid).
 */
export async function lookupProfile(deps: ProfilePageDeps, input: string): Promise<ProfileLookup> {
  const now = deps.now ?? Date.now();
  const valid = validateHandle(input);
  if (!valid.ok) return { kind: "missing" };
  const row = await deps.db.prepare(RESOLVE_SQL).bind(valid.key).first<HandleRow>();
  if (!row) return { kind: "missing" };
  if (row.state === "retired") {
    const inGrace = row.retired_until !== null && row.retired_until > now;
    return inGrace && row.current ? { kind: "moved", handle: row.current } : { kind: "missing" };
  }
  const key = cacheKey("creator-profile", {
    user: row.user_id,
    creator: row.creator_v ?? 0,
    profile: row.profile_v ?? 0,
    events: row.events_v ?? 0,
  });
  const { value, hit } = await getOrProduce(key, EDGE_TTL.profile, deps.defer, () =>
    readProfile(deps.db, deps.pii, row.user_id, now),
  );
  deps.onCache?.(hit);
  if (!value) return { kind: "missing" };
  const { userId, avatarMediaId, ...shown } = value;
  return {
    kind: "profile",
    userId,
    profile: {
      ...shown,
      upcomingEvents: shown.upcomingEvents.filter((e) => Date.parse(e.endsAt) > now),
      // A copy cached before `pro` was part of the cached shape has none: not Pro until it expires.
      pro: shown.pro === true,
      avatarUrl: await avatarUrl(deps, avatarMediaId, now),
      // Not cached: read with the handle, so a payout account's change shows at once (no extra query).
      tipping: row.tipping === 1,
      trackingToken: await mintTrackingToken(deps.trackingSecret, userId, now),
    },
  };
}
