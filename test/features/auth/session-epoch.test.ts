/**
 * A sign-in racing a password reset: the login reads the user (epoch n), the reset bumps the epoch and
 * revokes every session, then the login opens its session. The race is forced deterministically by
 * running the reset from inside the login's own user read. Sessions carry the epoch they were opened
 * under: the insert is conditional on it, and refresh refuses a session behind the user's epoch.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { login } from "../../../src/features/auth/service";
import { call, problemOf } from "../../helpers";
import { codeOf, countRows, rows } from "../../support/db";
import { authDepsWith, bearer, createUser, login as loginOverHttp, postJson, tokenFromMail } from "./helpers";

/** A D1 binding that runs `interleave` right after the first statement matching `sql` returns. */
function interleavingDb(db: D1Database, sql: string, interleave: () => Promise<void>): D1Database {
  let done = false;
  return new Proxy(db, {
    get(target, property) {
      if (property !== "prepare") return Reflect.get(target, property, target);
      return (query: string) => {
        const statement = target.prepare(query);
        if (done || !query.startsWith(sql)) return statement;
        return new Proxy(statement, {
          get(inner, name) {
            if (name === "bind") {
              return (...values: unknown[]) => {
                const bound = inner.bind(...values);
                return new Proxy(bound, {
                  get(b, method) {
                    const value = Reflect.get(b, method, b);
                    if (method !== "first" || typeof value !== "function") return value;
                    return async (...args: unknown[]) => {
                      const row = await value.apply(b, args);
                      if (!done) {
                        done = true;
                        await interleave();
                      }
                      return row;
                    };
                  },
                });
              };
            }
            return Reflect.get(inner, name, inner);
          },
        });
      };
    },
  });
}

async function resetPassword(email: string, password: string) {
  expect((await postJson("/api/v1/auth/forgot-password", { email })).status).toBe(202);
  const token = await tokenFromMail(email, "reset-password");
  expect((await postJson("/api/v1/auth/reset-password", { token, password })).status).toBe(200);
}

describe("a login racing a password reset", () => {
  it("whose user read came before the reset opens no session (the insert is conditional on the epoch)", async () => {
    const user = await createUser();
    const db = interleavingDb(env.DB, "SELECT * FROM users WHERE email", () =>
      resetPassword(user.email, "a-reset-passphrase"),
    );
    const error = await login(authDepsWith(db, "race"), { email: user.email, password: user.password }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "unauthorized" });
    expect(await countRows("sessions", "user_id = ?", user.id)).toBe(0);
    expect(await countRows("refresh_tokens r JOIN sessions s ON s.id = r.session_id", "s.user_id = ?", user.id)).toBe(
      0,
    );
    const [stored] = await rows<{ session_epoch: number }>("SELECT session_epoch FROM users WHERE id = ?", user.id);
    expect(stored?.session_epoch).toBe(1);
    // The new password works; the old one does not.
    await loginOverHttp(user.email, "a-reset-passphrase");
    expect((await postJson("/api/v1/auth/login", { email: user.email, password: user.password })).status).toBe(401);
  });

  it("a session row left behind by an epoch bump is refused by refresh and by the access check, and revoked", async () => {
    const user = await createUser();
    const tokens = await loginOverHttp(user.email);
    // What the unconditional insert used to leave: a live session under an epoch the user has left.
    await env.DB.prepare("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?").bind(user.id).run();
    const [session] = await rows<{ id: string; epoch: number }>(
      "SELECT id, epoch FROM sessions WHERE user_id = ?",
      user.id,
    );
    expect(session?.epoch).toBe(0);

    const refreshed = await postJson("/api/v1/auth/refresh", { refreshToken: tokens.refreshToken });
    expect(refreshed.status).toBe(401);
    expect(codeOf(await problemOf(refreshed))).toBe("unauthorized");
    const [after] = await rows<{ revoke_reason: string | null }>(
      "SELECT revoke_reason FROM sessions WHERE id = ?",
      session?.id,
    );
    expect(after?.revoke_reason).toBe("stale-epoch");
    expect((await call("/api/v1/me", { headers: bearer(tokens.accessToken) })).status).toBe(401);
  });

  it("a session opened under the current epoch records it and refreshes normally", async () => {
    const user = await createUser();
    await env.DB.prepare("UPDATE users SET session_epoch = 3 WHERE id = ?").bind(user.id).run();
    const tokens = await loginOverHttp(user.email);
    const [session] = await rows<{ epoch: number }>("SELECT epoch FROM sessions WHERE user_id = ?", user.id);
    expect(session?.epoch).toBe(3);
    expect((await postJson("/api/v1/auth/refresh", { refreshToken: tokens.refreshToken })).status).toBe(200);
  });
});
