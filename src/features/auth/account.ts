/** The signed-in account: who it is, and the host role (identity before privilege). */
import { DomainError } from "../../lib/errors";
import { auditStatement } from "../audit";
import { type AuthDeps, now } from "./deps";
import { updateAccountInBook } from "./session-keeper";
import { findUserById, type PublicUser, toPublicUser } from "./users";

export async function me(store: Parameters<typeof findUserById>[0], userId: string): Promise<PublicUser> {
  const user = await findUserById(store, userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  return toPublicUser(user);
}

/** Grants the host role; only a verified email may host (ASVS 6.4: identity before privilege). */
export async function becomeHost(deps: AuthDeps, userId: string): Promise<PublicUser> {
  const user = await findUserById(deps, userId);
  if (!user) throw new DomainError("unauthorized", "Sign in again.");
  if (user.email_verified_at === null) {
    throw new DomainError("email-not-verified", "Verify your email address before hosting events.");
  }
  const roles = JSON.parse(user.roles) as string[];
  if (roles.includes("host")) {
    // Granted in D1 before; told to the book again, in case that earlier answer was lost on the way.
    await updateAccountInBook(deps.limiter, userId, { roles });
  } else {
    const t = now(deps);
    const next = JSON.stringify([...roles, "host"]);
    await deps.db.batch([
      deps.db.prepare("UPDATE users SET roles = ?, updated_at = ? WHERE id = ?").bind(next, t, userId),
      await auditStatement(
        deps.db,
        deps.config,
        deps.meta,
        { action: "role.grant", outcome: "success", userId, detail: { role: "host" } },
        t,
      ),
    ]);
    user.roles = next;
    // A grant lands in D1 first, then in the book that sessions act under (session-keeper.ts).
    await updateAccountInBook(deps.limiter, userId, { roles: [...roles, "host"] });
  }
  return toPublicUser(user);
}
