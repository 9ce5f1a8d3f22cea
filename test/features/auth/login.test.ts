/**
 * Password sign-in: one generic failure for unknown email and wrong password, audit rows that carry
 * a pseudonymised address and no secret, and what a successful sign-in stores.
 */
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/lib/crypto";
import { freshIp, problemOf } from "../../helpers";
import { rows } from "../../support/db";
import { auditOf, createUser, PASSWORD, postJson, uniqueEmail } from "./helpers";

const WRONG = "not-the-right-passphrase";

function withoutRequestId(body: Record<string, unknown>) {
  const { requestId, ...rest } = body;
  expect(typeof requestId).toBe("string");
  return rest;
}

describe("login failures", () => {
  it("answer the same generic 401 invalid-credentials for an unknown email and a wrong password", async () => {
    const user = await createUser();
    const unknown = await postJson("/api/v1/auth/login", { email: uniqueEmail("ghost"), password: WRONG });
    const wrong = await postJson("/api/v1/auth/login", { email: user.email, password: WRONG });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.headers.get("Content-Type")).toBe(wrong.headers.get("Content-Type"));
    const a = await problemOf(unknown);
    const b = await problemOf(wrong);
    expect(a.type).toMatch(/\/invalid-credentials$/);
    expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
    expect(withoutRequestId(a)).toEqual(withoutRequestId(b));
    expect(withoutRequestId(a)).toEqual({
      type: "https://gatehouse.events/problems/invalid-credentials",
      title: expect.any(String),
      status: 401,
      detail: expect.any(String),
    });
  });

  it("are audited as failures with a hashed address and without the password", async () => {
    const user = await createUser();
    const ip = freshIp();
    const headers = { "User-Agent": "audit-probe/1.0" };
    const unknownEmail = uniqueEmail("ghost");
    const unknown = await postJson("/api/v1/auth/login", { email: unknownEmail, password: WRONG }, { ip, headers });
    const wrong = await postJson("/api/v1/auth/login", { email: user.email, password: WRONG }, { ip, headers });
    expect([unknown.status, wrong.status]).toEqual([401, 401]);

    const [forUnknown] = await auditOf(unknown);
    const [forWrong] = await auditOf(wrong);
    expect(forUnknown).toMatchObject({ action: "auth.login", outcome: "failure", user_id: null });
    expect(forWrong).toMatchObject({ action: "auth.login", outcome: "failure", user_id: user.id });
    for (const row of [forUnknown, forWrong]) {
      expect(row?.ip_hash).toMatch(/^[0-9a-f]{32}$/);
      expect(row?.user_agent).toBe("audit-probe/1.0");
      const stored = JSON.stringify(row);
      expect(stored).not.toContain(ip);
      expect(stored).not.toContain(WRONG);
      expect(stored).not.toContain(unknownEmail);
    }
    // Same address, same pseudonym: the hash still lets an investigator correlate.
    expect(forUnknown?.ip_hash).toBe(forWrong?.ip_hash);
    expect(JSON.parse(forWrong?.detail ?? "{}")).toEqual({ reason: "bad-password" });
  });
});

describe("a successful login", () => {
  it("stores a session and only the hash of the refresh token, and audits success", async () => {
    const user = await createUser();
    const ip = freshIp();
    const res = await postJson(
      "/api/v1/auth/login",
      { email: user.email, password: PASSWORD },
      { ip, headers: { "User-Agent": "login-probe/2.0" } },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { accessToken: string; refreshToken: string; expiresIn: number };
    expect(body.expiresIn).toBe(900);
    expect(body.refreshToken.length).toBeGreaterThanOrEqual(43);

    const sessions = await rows<Record<string, unknown>>("SELECT * FROM sessions WHERE user_id = ?", user.id);
    expect(sessions).toHaveLength(1);
    const session = sessions[0] as Record<string, number | string | null>;
    expect(session).toMatchObject({ method: "password", revoked_at: null, user_agent: "login-probe/2.0" });
    expect(session.ip_hash).toMatch(/^[0-9a-f]{32}$/);
    expect(Number(session.expires_at) - Number(session.created_at)).toBe(30 * 24 * 3600 * 1000);

    const tokens = await rows<Record<string, unknown>>(
      "SELECT * FROM refresh_tokens WHERE session_id = ?",
      session.id as string,
    );
    expect(tokens).toEqual([
      expect.objectContaining({ token_hash: await sha256Hex(body.refreshToken), used_at: null, rotated_to: null }),
    ]);
    const everything = JSON.stringify([
      await rows("SELECT * FROM refresh_tokens"),
      await rows("SELECT * FROM sessions"),
      await rows("SELECT * FROM audit_log"),
    ]);
    expect(everything).not.toContain(body.refreshToken);
    expect(everything).not.toContain(body.accessToken);
    expect(everything).not.toContain(ip);
    expect(everything).not.toContain(PASSWORD);

    const audit = await auditOf(res);
    expect(audit).toEqual([
      expect.objectContaining({ action: "auth.login", outcome: "success", user_id: user.id, ip_hash: session.ip_hash }),
    ]);
  });
});
