/** User records: lookup, the public shape returned by the API, and email normalisation. */

import type { RowOf } from "../../db/rows";
import type { users } from "../../db/schema";
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

export function findUserByEmail(db: D1Database, email: string): Promise<UserRow | null> {
  return db.prepare("SELECT * FROM users WHERE email = ?").bind(email).first<UserRow>();
}

export function findUserById(db: D1Database, id: string): Promise<UserRow | null> {
  return db.prepare("SELECT * FROM users WHERE id = ?").bind(id).first<UserRow>();
}
