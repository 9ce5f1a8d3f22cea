/**
 * Object- and function-level authorisation on the account routes: /me is always the caller, the
 * host role needs a verified email, and no route hands out admin or lets a body choose roles.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, problemOf } from "../../helpers";
import { codeOf, rows } from "../../support/db";
import { emailIndexOf } from "../../support/users";
import { auditForUser, bearer, createUser, login, PASSWORD, postJson, uniqueEmail } from "./helpers";

async function stored(id: string) {
  const [row] = await rows<{ roles: string; email_verified_at: number | null }>(
    "SELECT roles, email_verified_at FROM users WHERE id = ?",
    id,
  );
  return { roles: JSON.parse(row?.roles ?? "null") as string[], verifiedAt: row?.email_verified_at };
}

describe("GET /api/v1/me", () => {
  it("returns the caller and only the caller, whatever the query says", async () => {
    const a = await createUser();
    const b = await createUser();
    const ta = await login(a.email);
    const tb = await login(b.email);
    const meA = await call(`/api/v1/me?id=${b.id}&userId=${b.id}`, { headers: bearer(ta.accessToken) });
    const meB = await call("/api/v1/me", { headers: bearer(tb.accessToken) });
    expect(await meA.json()).toMatchObject({ id: a.id, email: a.email });
    expect(await meB.json()).toMatchObject({ id: b.id, email: b.email });
  });

  it("is 401 without credentials", async () => {
    const res = await call("/api/v1/me");
    expect(res.status).toBe(401);
    expect(codeOf(await problemOf(res))).toBe("unauthorized");
  });
});

describe("POST /api/v1/me/host", () => {
  it("refuses an unverified user with 403 email-not-verified and leaves roles unchanged", async () => {
    // An unverified account cannot sign in at all (login answers 403); the role check stands on its
    // own for a session whose address stopped being verified after sign-in.
    const user = await createUser();
    const { accessToken } = await login(user.email);
    await env.DB.prepare("UPDATE users SET email_verified_at = NULL WHERE id = ?").bind(user.id).run();
    const res = await call("/api/v1/me/host", { method: "POST", headers: bearer(accessToken) });
    expect(res.status).toBe(403);
    expect(codeOf(await problemOf(res))).toBe("email-not-verified");
    expect((await stored(user.id)).roles).toEqual(["attendee"]);
    expect(await auditForUser(user.id, "role.grant")).toEqual([]);
  });

  it("grants host to a verified user once, audited as role.grant", async () => {
    const user = await createUser();
    const { accessToken } = await login(user.email);
    const res = await call("/api/v1/me/host", { method: "POST", headers: bearer(accessToken) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: user.id, roles: ["attendee", "host"] });
    expect((await stored(user.id)).roles).toEqual(["attendee", "host"]);

    const again = await call("/api/v1/me/host", { method: "POST", headers: bearer(accessToken) });
    expect(again.status).toBe(200);
    expect((await stored(user.id)).roles).toEqual(["attendee", "host"]);

    const audit = await auditForUser(user.id, "role.grant");
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ outcome: "success" });
    expect(JSON.parse(audit[0]?.detail ?? "{}")).toEqual({ role: "host" });

    // The new role is visible to the same access token at once.
    const me = await call("/api/v1/me", { headers: bearer(accessToken) });
    expect(((await me.json()) as { roles: string[] }).roles).toEqual(["attendee", "host"]);
  });

  it("ignores a body asking for another role", async () => {
    const user = await createUser();
    const { accessToken } = await login(user.email);
    const res = await call("/api/v1/me/host", {
      method: "POST",
      headers: { ...bearer(accessToken), "Content-Type": "application/json" },
      body: JSON.stringify({ role: "admin", roles: ["admin"] }),
    });
    expect(res.status).toBe(200);
    expect((await stored(user.id)).roles).toEqual(["attendee", "host"]);
  });
});

describe("the admin role", () => {
  it("cannot be self-assigned at registration: extra fields (roles, emailVerified, id) are ignored", async () => {
    const email = uniqueEmail("climber");
    const chosenId = crypto.randomUUID();
    const res = await postJson("/api/v1/auth/register", {
      email,
      password: PASSWORD,
      name: "Climber",
      roles: ["admin"],
      emailVerified: true,
      id: chosenId,
    });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { id: string; roles: string[]; emailVerified: boolean };
    expect(body.roles).toEqual(["attendee"]);
    expect(body.emailVerified).toBe(false);
    expect(body.id).not.toBe(chosenId);

    const [row] = await rows<{ id: string; roles: string; email_verified_at: number | null }>(
      "SELECT id, roles, email_verified_at FROM users WHERE (email_index = ? OR email = ?)",
      emailIndexOf(email),
      email,
    );
    expect(row).toEqual({ id: body.id, roles: '["attendee"]', email_verified_at: null });
  });

  it("no account route documents a request body field that could set a role", async () => {
    const doc = (await (await call("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { requestBody?: { content?: Record<string, { schema?: unknown }> } }>>;
      components?: { schemas?: Record<string, { properties?: Record<string, unknown> }> };
    };
    const resolve = (schema: unknown) => {
      const ref = (schema as { $ref?: string } | undefined)?.$ref;
      return (ref ? doc.components?.schemas?.[ref.split("/").pop() ?? ""] : schema) as
        | { properties?: Record<string, unknown> }
        | undefined;
    };
    const bodies: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!/^\/api\/v1\/(auth|me)(\/|$)/.test(path)) continue;
      for (const [method, operation] of Object.entries(operations)) {
        for (const media of Object.values(operation.requestBody?.content ?? {})) {
          const fields = Object.keys(resolve(media.schema)?.properties ?? {});
          bodies.push(`${method} ${path}`);
          expect(
            fields.filter((f) => /role|admin|verified/i.test(f)),
            `${method} ${path}`,
          ).toEqual([]);
        }
      }
    }
    expect(bodies).toContain("post /api/v1/auth/register");
  });
});
