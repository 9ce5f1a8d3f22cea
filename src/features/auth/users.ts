/**
 * User records: lookup, the public shape returned by the API, and email normalisation. The email is
 * stored sealed (src/lib/pii.ts) with a keyed blind index for lookups and uniqueness; rows still
 * waiting for the PII migration hold it in plain text with no index, so a lookup matches either (a
 * sealed value never equals an address). Every function here answers rows with the email opened.
 */

import type { Config } from "../../config";
import type { RowOf } from "../../db/rows";
import type { users } from "../../db/schema";
import type { PiiCipher } from "../../lib/pii";
import { iso } from "../../lib/time";

export type UserRow = RowOf<typeof users>;

export interface PublicUser {
  id: string;
  email: string;
  name: string;
  roles: string[];
  emailVerified: boolean;
  createdAt: string;
}

/** Emails are compared trimmed and lower-cased (the local part is case-insensitive in practice). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function toPublicUser(row: UserRow): PublicUser {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    roles: JSON.parse(row.roles) as string[],
    emailVerified: row.email_verified_at !== null,
    createdAt: iso(row.created_at),
  };
}

/** Where users' emails are sealed: the additional data that binds a ciphertext to this column. */
export const USER_EMAIL_CONTEXT = "users.email";

/** The keyed blind index of an email, normalised first: what lookups and uniqueness compare. */
export function emailIndex(pii: PiiCipher, email: string): string {
  return pii.blindIndex(normalizeEmail(email), "email");
}

/** The email column's stored form: sealed, with its index. */
export function sealedEmail(pii: PiiCipher, email: string): { email: string; emailIndex: string } {
  const normal = normalizeEmail(email);
  return { email: pii.seal(normal, USER_EMAIL_CONTEXT), emailIndex: emailIndex(pii, normal) };
}

/** A stored email (sealed, or plain on a row the migration has not reached) as the address. */
export function openEmail(pii: PiiCipher, stored: string): string {
  return pii.open(stored, USER_EMAIL_CONTEXT);
}

/** Where users' names are sealed. */
export const USER_NAME_CONTEXT = "users.name";

/** The name column's stored form. */
export function sealName(pii: PiiCipher, name: string): string {
  return pii.seal(name, USER_NAME_CONTEXT);
}

/**
 * A stored name as the person wrote it. Every query that shows a name reads `users.name` and opens it
 * here (a plain value, from a row the PII job has not reached, passes through).
 */
export function openName(pii: PiiCipher, stored: string): string {
  return pii.open(stored, USER_NAME_CONTEXT);
}

/** `openName` for a column that may be null (a LEFT JOIN, an erased or missing account). */
export function openNameOptional(pii: PiiCipher, stored: string | null | undefined): string | null {
  return stored == null ? null : openName(pii, stored);
}

function opened(pii: PiiCipher, row: UserRow | null): UserRow | null {
  return row ? { ...row, email: openEmail(pii, row.email), name: openName(pii, row.name) } : null;
}

interface UserStore {
  db: D1Database;
  config: Pick<Config, "pii">;
}

export async function findUserByEmail({ db, config }: UserStore, email: string): Promise<UserRow | null> {
  const normal = normalizeEmail(email);
  const row = await db
    .prepare("SELECT * FROM users WHERE email_index = ?1 OR email = ?2 LIMIT 1")
    .bind(emailIndex(config.pii, normal), normal)
    .first<UserRow>();
  return opened(config.pii, row);
}

export async function findUserById({ db, config }: UserStore, id: string): Promise<UserRow | null> {
  return opened(config.pii, await db.prepare("SELECT * FROM users WHERE id = ?").bind(id).first<UserRow>());
}
