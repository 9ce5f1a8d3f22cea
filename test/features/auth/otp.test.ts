/**
 * Email sign-in codes: six digits, stored hashed, valid 10 minutes, single use, one live code per
 * email, bound to the email, and a 15-minute lock after 5 wrong codes that otp/request does not
 * reveal.
 */
import { describe, expect, it } from "vitest";
import { problemOf } from "../../helpers";
import { freezeClock, setClock } from "../../support/clock";
import { codeOf, rows } from "../../support/db";
import { emailIndexOf } from "../../support/users";
import { auditOf, createUser, mailbox, postJson } from "./helpers";

const T0 = Date.UTC(2032, 2, 3, 12, 0, 0);
const MINUTE = 60_000;

async function codesMailed(email: string): Promise<string[]> {
  return (await mailbox(email))
    .filter((m) => m.template === "otp-code")
    .map((m) => m.text.match(/\b(\d{6})\b/)?.[1] ?? "");
}

/** Requests a code and returns the one this request mailed (robust to mails sharing a millisecond). */
async function requestCode(email: string): Promise<string> {
  const before = await codesMailed(email);
  const res = await postJson("/api/v1/auth/otp/request", { email });
  expect(res.status).toBe(202);
  // The code is written after the answer (so known and unknown emails answer alike): poll for it.
  let after = await codesMailed(email);
  for (let i = 0; i < 200 && after.length <= before.length; i++) after = await codesMailed(email);
  expect(after).toHaveLength(before.length + 1);
  // One live code per email, however many were requested.
  expect(await rows("SELECT email FROM otp_codes WHERE email = ?", emailIndexOf(email))).toHaveLength(1);
  // The new code is the value that occurs once more in `after` than in `before`.
  const seen = new Map<string, number>();
  for (const c of before) seen.set(c, (seen.get(c) ?? 0) + 1);
  for (const c of after) {
    const left = seen.get(c) ?? 0;
    if (left === 0) return c;
    seen.set(c, left - 1);
  }
  throw new Error("no new code mailed");
}

function wrongCode(code: string, offset: number): string {
  return String((Number(code) + offset) % 1_000_000).padStart(6, "0");
}

function verify(email: string, code: string) {
  return postJson("/api/v1/auth/otp/verify", { email, code });
}

async function expectRejected(res: Response) {
  expect(res.status).toBe(401);
  expect(codeOf(await problemOf(res))).toBe("invalid-credentials");
}

describe("sign-in code", () => {
  it("is six digits, stored only as a hash, and lives 10 minutes", async () => {
    freezeClock(T0);
    const { email } = await createUser();
    const code = await requestCode(email);
    expect(code).toMatch(/^\d{6}$/);
    const [row] = await rows<{ code_hash: string; created_at: number; expires_at: number }>(
      "SELECT code_hash, created_at, expires_at FROM otp_codes WHERE email = ?",
      emailIndexOf(email),
    );
    expect(row?.code_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row?.code_hash).not.toContain(code);
    expect(row).toMatchObject({ created_at: T0, expires_at: T0 + 10 * MINUTE });
  });

  it("works at 10 min − 1 ms and is expired at 10 min (401)", async () => {
    freezeClock(T0);
    const early = await createUser();
    const late = await createUser();
    const earlyCode = await requestCode(early.email);
    const lateCode = await requestCode(late.email);

    setClock(T0 + 10 * MINUTE - 1);
    expect((await verify(early.email, earlyCode)).status).toBe(200);
    setClock(T0 + 10 * MINUTE);
    await expectRejected(await verify(late.email, lateCode));
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", late.id)).toEqual([]);
  });

  it("is single use: the row is deleted on success and a replay answers 401", async () => {
    const user = await createUser();
    const code = await requestCode(user.email);
    const ok = await verify(user.email, code);
    expect(ok.status).toBe(200);
    expect(await rows("SELECT email FROM otp_codes WHERE email = ?", emailIndexOf(user.email))).toEqual([]);
    await expectRejected(await verify(user.email, code));
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", user.id)).toHaveLength(1);
  });

  it("used by several requests at once, signs in exactly once", async () => {
    const user = await createUser();
    const code = await requestCode(user.email);
    const results = await Promise.all(Array.from({ length: 5 }, () => verify(user.email, code)));
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401]);
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", user.id)).toHaveLength(1);
  });

  it("is replaced by a newer request: the previous code stops working", async () => {
    const user = await createUser();
    const first = await requestCode(user.email);
    let second = await requestCode(user.email);
    // One chance in a million that the new code equals the old one; ask again then.
    while (second === first) second = await requestCode(user.email);
    await expectRejected(await verify(user.email, first));
    expect((await verify(user.email, second)).status).toBe(200);
  });

  it("is bound to the email it was requested for", async () => {
    const a = await createUser();
    const b = await createUser();
    const codeA = await requestCode(a.email);
    let codeB = await requestCode(b.email);
    while (codeB === codeA) codeB = await requestCode(b.email);
    await expectRejected(await verify(b.email, codeA));
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", b.id)).toEqual([]);
    const signedIn = await verify(a.email, codeA);
    expect(signedIn.status).toBe(200);
    expect(((await signedIn.json()) as { user: { id: string } }).user.id).toBe(a.id);
    expect((await verify(b.email, codeB)).status).toBe(200);
  });
});

describe("OTP lockout", () => {
  it("5 wrong codes answer 401, then even the right code is 423 locked for 15 minutes", async () => {
    freezeClock(T0);
    const user = await createUser();
    const code = await requestCode(user.email);

    const failures: Response[] = [];
    for (let i = 1; i <= 5; i++) {
      const res = await verify(user.email, wrongCode(code, i));
      await expectRejected(res);
      failures.push(res);
    }
    const fifth = failures[4] as Response;
    expect(await auditOf(fifth)).toEqual([
      expect.objectContaining({ action: "auth.lockout", outcome: "failure", user_id: user.id }),
    ]);
    for (const res of failures.slice(0, 4)) {
      expect(await auditOf(res)).toEqual([expect.objectContaining({ action: "auth.otp-verify", outcome: "failure" })]);
    }

    setClock(T0 + 1000);
    const locked = await verify(user.email, code);
    expect(locked.status).toBe(423);
    expect(codeOf(await problemOf(locked))).toBe("locked");
    const retryAfter = Number(locked.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThanOrEqual(895);
    expect(retryAfter).toBeLessThanOrEqual(900);
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", user.id)).toEqual([]);
    // The code was not consumed by the locked attempt.
    expect(await rows("SELECT email FROM otp_codes WHERE email = ?", emailIndexOf(user.email))).toHaveLength(1);

    // Still locked just before the 15 minutes are up.
    setClock(T0 + 15 * MINUTE - 1000);
    expect((await verify(user.email, code)).status).toBe(423);

    setClock(T0 + 15 * MINUTE + 1000);
    const fresh = await requestCode(user.email);
    const ok = await verify(user.email, fresh);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { user: { id: string } }).user.id).toBe(user.id);
  });

  it("a burst of 20 concurrent guesses gets at most 5 codes checked; the rest are 423", async () => {
    const user = await createUser();
    const code = await requestCode(user.email);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => verify(user.email, wrongCode(code, i + 1))));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((s) => s !== 401).every((s) => s === 423)).toBe(true);
    const audited = (await Promise.all(results.map((r) => auditOf(r)))).flat();
    expect(audited.length).toBeLessThanOrEqual(5);
    expect((await verify(user.email, code)).status).toBe(423);
    expect(await rows("SELECT id FROM sessions WHERE user_id = ?", user.id)).toEqual([]);
  });

  it("otp/request answers the same 202 while locked, and mails no code", async () => {
    freezeClock(T0);
    const user = await createUser();
    const open = await postJson("/api/v1/auth/otp/request", { email: user.email });
    const code = (await codesMailed(user.email))[0] as string;
    for (let i = 1; i <= 5; i++) await expectRejected(await verify(user.email, wrongCode(code, i)));
    expect((await verify(user.email, code)).status).toBe(423);

    setClock(T0 + MINUTE);
    const whileLocked = await postJson("/api/v1/auth/otp/request", { email: user.email });
    expect(whileLocked.status).toBe(open.status);
    expect(whileLocked.headers.get("Content-Type")).toBe(open.headers.get("Content-Type"));
    expect(await whileLocked.json()).toEqual(await open.json());
    expect(await codesMailed(user.email)).toHaveLength(1);
    const [row] = await rows<{ created_at: number }>(
      "SELECT created_at FROM otp_codes WHERE email = ?",
      emailIndexOf(user.email),
    );
    expect(row?.created_at).toBe(T0);
  });

  it("locks only the email under attack", async () => {
    freezeClock(T0);
    const victim = await createUser();
    const bystander = await createUser();
    const code = await requestCode(victim.email);
    for (let i = 1; i <= 5; i++) await expectRejected(await verify(victim.email, wrongCode(code, i)));
    expect((await verify(victim.email, code)).status).toBe(423);
    const other = await requestCode(bystander.email);
    expect((await verify(bystander.email, other)).status).toBe(200);
  });
});
