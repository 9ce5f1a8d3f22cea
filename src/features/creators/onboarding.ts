/**
 * Onboarding (POST /api/v1/me/onboarding): a new creator's name, handle and avatar set as one step.
 *
 * Everything is one D1 batch (one transaction): the handle claim (handles.ts), the name, the avatar
 * and the cache versions. When the handle is taken the claim's INSERT fails and the whole batch with
 * it, so the name and avatar stay as they were: there is never a half-made profile with a new name
 * and no handle. An avatar that is not the caller's own avatar upload is refused by a guard every
 * statement carries (checked inside the batch, so a concurrent delete cannot slip past), which also
 * changes nothing.
 *
 * The avatar file itself is uploaded first (POST /api/v1/media, purpose `avatar`); a refused upload
 * is shown to the person by the onboarding page, which does not send this request without one.
 */
import { DomainError } from "../../lib/errors";
import type { PiiCipher } from "../../lib/pii";
import { openName, sealName } from "../auth";
import { claimStatements, currentHandle, handleTaken, isHandleConflict, prepareClaim } from "./handles";

export interface OnboardingInput {
  name: string;
  handle: string;
  /** One of the caller's uploads with purpose `avatar`; absent leaves the avatar as it is. */
  avatarMediaId?: string | undefined;
}

export interface OnboardedProfile {
  id: string;
  name: string;
  bio: string;
  avatarMediaId: string | null;
  handle: string | null;
}

/** True when no avatar is being set (?1 null), else the media must be ?2's own avatar upload. */
const AVATAR_GUARD =
  "(?1 IS NULL OR EXISTS (SELECT 1 FROM media WHERE id = ?1 AND owner_id = ?2 AND purpose = 'avatar'))";

const invalidAvatar = () =>
  new DomainError("validation-failed", "The avatar must be one of your uploads made for an avatar.", {
    errors: [{ path: "avatarMediaId", message: "not one of your avatar uploads" }],
  });

interface Row {
  id: string;
  name: string;
  bio: string;
  avatar_media_id: string | null;
  handle: string | null;
  avatar_ok: number;
}

/**
 * Sets name, handle and avatar together or not at all. 422 invalid-handle, 409 handle-taken (nothing
 * changed), 400 for an avatar that is not the caller's avatar upload (nothing changed).
 * `beforeClaim` runs when the handle is not already the caller's (the claim rate limit).
 */
export async function onboard(
  db: D1Database,
  pii: PiiCipher,
  userId: string,
  input: OnboardingInput,
  now: number,
  beforeClaim: () => Promise<void> = async () => {},
): Promise<OnboardedProfile> {
  const claim = prepareClaim(input.handle);
  const avatar = input.avatarMediaId ?? null;
  const claiming = (await currentHandle(db, userId)) !== claim.key;
  if (claiming) await beforeClaim();
  // The claim's statements take the guard's avatar as their ?5 (handles.ts numbers ?1–?4).
  const guardForClaim = { sql: AVATAR_GUARD.replaceAll("?1", "?5"), args: [avatar] };
  const statements: D1PreparedStatement[] = [
    ...(claiming ? claimStatements(db, userId, claim, now, guardForClaim) : []),
    db
      .prepare(`UPDATE users SET name = ?3, updated_at = ?4 WHERE id = ?2 AND ${AVATAR_GUARD}`)
      .bind(avatar, userId, sealName(pii, input.name), now),
    ...(avatar
      ? [
          db
            .prepare(`UPDATE profiles SET avatar_media_id = ?1, updated_at = ?3 WHERE user_id = ?2 AND ${AVATAR_GUARD}`)
            .bind(avatar, userId, now),
        ]
      : []),
    db
      .prepare(
        `INSERT INTO cache_versions (scope, version) SELECT 'profile:' || ?2, 1 WHERE ${AVATAR_GUARD}
         ON CONFLICT (scope) DO UPDATE SET version = version + 1`,
      )
      .bind(avatar, userId),
    db
      .prepare(
        `SELECT u.id, u.name, p.bio, p.avatar_media_id, p.handle, ${AVATAR_GUARD} AS avatar_ok
         FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.id = ?2`,
      )
      .bind(avatar, userId),
  ];
  let results: D1Result<Row>[];
  try {
    results = await db.batch<Row>(statements);
  } catch (error) {
    if (isHandleConflict(error)) throw handleTaken();
    throw error;
  }
  const row = results[results.length - 1]?.results[0];
  if (!row) throw new DomainError("unauthorized", "Sign in to continue.");
  if (!row.avatar_ok) throw invalidAvatar();
  return {
    id: row.id,
    name: openName(pii, row.name),
    bio: row.bio,
    avatarMediaId: row.avatar_media_id,
    handle: row.handle,
  };
}
