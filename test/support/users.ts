/**
 * Finding users as the Worker does: emails are sealed at rest with a keyed blind index
 * (src/features/auth/users.ts), so a test looks a user up by the index of the address and opens the
 * stored address with the test keys.
 */
import { env } from "cloudflare:workers";
import { getConfig } from "../../src/config";
import { emailIndex, openEmail, openName } from "../../src/features/auth";

/** The blind index the users row of `email` carries (`WHERE email_index = ?`). */
export function emailIndexOf(email: string): string {
  return emailIndex(getConfig(env).pii, email);
}

/** The address a users row stores (sealed, or plain on a row written directly by a fixture). */
export async function emailOfUser(userId: string): Promise<string> {
  const row = await env.DB.prepare("SELECT email FROM users WHERE id = ?").bind(userId).first<{ email: string }>();
  if (!row) throw new Error(`no user ${userId}`);
  return openEmail(getConfig(env).pii, row.email);
}

/** A stored name as written (users.name is sealed at rest; a fixture's plain name passes through). */
export function openedName(stored: string): string {
  return openName(getConfig(env).pii, stored);
}
